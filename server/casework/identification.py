"""Identification of a monitoring object (监测对象识别): the steps and their guards (pure).

domain.md: flagged 风险预警 → verified 入户核实 (+ 承诺授权书) → village_reviewed 民主评议 + 公示
(≥ 5 days) → township_reviewed 乡镇审核 → county_approved 县级审定 → monitored 纳入监测 →
eliminated 风险消除 (only after ≥ 6 months monitored, ≥ 1 measure applied, income stably above
the line; never for a household with no labour capacity at all). 15 days from flag to county
approval; the green channel lets measures be recorded at any step.

The state lives on the household record as ``identification``; a household whose tier reached
high or medium and that has none yet is *flagged* implicitly (:func:`current`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from server.refusals import BilingualError

STEPS = ("flagged", "verified", "village_reviewed", "township_reviewed", "county_approved", "monitored", "eliminated")
STEP_NAMES = {
    "flagged": ("风险预警", "flagged"),
    "verified": ("入户核实", "verified by a visit"),
    "village_reviewed": ("民主评议、公示", "village review and public notice"),
    "township_reviewed": ("乡镇审核", "township review"),
    "county_approved": ("县级审定", "county approval"),
    "monitored": ("纳入监测", "monitored"),
    "eliminated": ("风险消除", "risk eliminated"),
}
CATEGORIES = {
    "unstable_lifted": ("脱贫不稳定户", "unstable lifted household"),
    "marginal": ("边缘易致贫户", "marginal household at risk"),
    "sudden_hardship": ("突发严重困难户", "household in sudden severe hardship"),
}
DEADLINE_DAYS = 15
PUBLICITY_DAYS = 5
MONITORED_MONTHS = 6
LABOUR = ("normal", "skilled", "weak")


class GuardRefused(BilingualError):
    """A step its guard does not allow (yet)."""


def current(record: Mapping[str, Any]) -> dict | None:
    """The household's identification, or an implicit *flagged* one from its first high/medium tier."""
    ident = record.get("identification")
    if ident:
        return dict(ident)
    tier = record.get("tier") or {}
    if tier.get("tier") in ("high", "medium") and tier.get("flagged_on"):
        return {"step": "flagged", "flagged_on": tier["flagged_on"], "history": [], "measures": []}
    return None


def due(ident: Mapping[str, Any]) -> str:
    return (dt.date.fromisoformat(ident["flagged_on"]) + dt.timedelta(days=DEADLINE_DAYS)).isoformat()


def overdue(ident: Mapping[str, Any] | None, today: dt.date) -> bool:
    """Past the 15 days from flag without county approval."""
    if not ident or STEPS.index(ident["step"]) >= STEPS.index("county_approved"):
        return False
    return today.isoformat() > due(ident)


def next_step(ident: Mapping[str, Any]) -> str | None:
    index = STEPS.index(ident["step"])
    return STEPS[index + 1] if index + 1 < len(STEPS) else None


def advance(
    record: Mapping[str, Any], to: str, by: str, at: str, today: dt.date, form: Mapping[str, Any], key: str
) -> dict | None:
    """The identification after moving to step ``to``; None if the action ``key`` was applied already.

    ``form`` carries what the step needs: ``consent`` (verified), ``publicity_start`` (village
    review), ``category`` (monitored), ``income_stable`` (eliminated), and an optional ``note``.
    """
    ident = current(record)
    if ident is None:
        raise GuardRefused("该户尚未预警（没有高、中风险）", "the household was never flagged (no high or medium tier)")
    if any(h.get("key") == key for h in ident.get("history", [])):
        return None
    if to != next_step(ident):
        here, there = STEP_NAMES[ident["step"]], STEP_NAMES.get(to, (to, to))
        raise GuardRefused(
            f"当前为“{here[0]}”，下一步不是“{there[0]}”", f"the household is at {here[1]}; {there[1]} is not next"
        )
    extra: dict[str, Any] = {}
    if to == "verified":
        if not form.get("consent"):
            raise GuardRefused("入户核实须签订承诺授权书", "verification needs the signed consent form (承诺授权书)")
        extra["consent"] = True
    elif to == "village_reviewed":
        start = _date(form.get("publicity_start"))
        if start is None or start > today:
            raise GuardRefused(
                "请填写公示开始日期（不晚于今天）", "give the day the public notice started (not after today)"
            )
        extra["publicity_start"] = start.isoformat()
    elif to == "township_reviewed":
        start = dt.date.fromisoformat(ident["publicity_start"])
        ends = start + dt.timedelta(days=PUBLICITY_DAYS)
        if today < ends:
            raise GuardRefused(
                f"公示不少于{PUBLICITY_DAYS}天：{ends.isoformat()} 起才能乡镇审核",
                f"the public notice runs at least {PUBLICITY_DAYS} days: township review from {ends.isoformat()}",
            )
    elif to == "monitored":
        if form.get("category") not in CATEGORIES:
            raise GuardRefused("请选择监测对象类别", "choose the monitoring category")
        extra["category"] = form["category"]
    elif to == "eliminated":
        _may_eliminate(record, ident, today, form)
    if to == "monitored":
        extra["monitored_on"] = today.isoformat()
    entry = {"step": to, "from": ident["step"], "at": at, "by": by, "key": key}
    if form.get("note"):
        entry["note"] = str(form["note"])[:500]
    return {**ident, **extra, "step": to, "history": [*ident.get("history", []), entry]}


def _may_eliminate(
    record: Mapping[str, Any], ident: Mapping[str, Any], today: dt.date, form: Mapping[str, Any]
) -> None:
    members = (record.get("properties") or {}).get("members") or []
    if (
        isinstance(members, list)
        and members
        and not any(isinstance(m, dict) and m.get("labour") in LABOUR for m in members)
    ):
        raise GuardRefused(
            "无劳动能力的家庭不能标注风险消除", "a household with no labour capacity is never marked eliminated"
        )
    since = dt.date.fromisoformat(ident["monitored_on"])
    months = (today.year - since.year) * 12 + today.month - since.month - (today.day < since.day)
    if months < MONITORED_MONTHS:
        raise GuardRefused(
            f"纳入监测满{MONITORED_MONTHS}个月后才能消除风险（{since.isoformat()} 起）",
            f"risk can be eliminated only after {MONITORED_MONTHS} months monitored (since {since.isoformat()})",
        )
    if not ident.get("measures"):
        raise GuardRefused("至少落实一项帮扶措施后才能消除风险", "at least one measure must have been applied")
    if not form.get("income_stable"):
        raise GuardRefused("须确认收入稳定高于监测标准", "confirm that income is stably above the line")


def add_measure(record: Mapping[str, Any], measure: str, note: str, by: str, at: str, key: str) -> dict | None:
    """Record a measure applied (green channel: allowed at any step, before approval too)."""
    ident = current(record)
    if ident is None:
        raise GuardRefused("该户尚未预警（没有高、中风险）", "the household was never flagged (no high or medium tier)")
    if any(m.get("key") == key for m in ident.get("measures", [])):
        return None
    if not measure.strip():
        raise GuardRefused("请填写帮扶措施", "name the measure")
    item = {"measure": measure.strip()[:200], "note": note.strip()[:500], "at": at, "by": by, "key": key}
    return {**ident, "measures": [*ident.get("measures", []), item]}


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
