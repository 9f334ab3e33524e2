"""Identification of a monitoring object (监测对象识别) and what follows it (pure).

domain.md "Workflow", step by step with the role that records it:

    flagged 风险预警 (system) → verified 入户核实 + 承诺授权书 (township) → village_reviewed 民主评议 +
    公示 ≥ 5 days (village) → township_reviewed 乡镇审核 (township) → dept_checked 部门比对 (county) →
    county_approved 县级审定 (county) → announced 公告 (village) → monitored 纳入监测 (township)

Deadlines are the policy's (``[deadlines]``: ``high_days`` from flag to county approval,
``publicity_days``, ``elimination_months``), per county. A high tier flags a household at once; a
medium one gets its follow-up visit, and a township clerk may start its identification.

* **Green channel** (`001_…`, `003_…` 先纳入后履行程序, `000_…` 先救助帮扶后履行识别程序): measures may be
  recorded at any step, and the county may include a household provisionally at any step before its
  approval; the remaining steps are still owed, with the same deadline, and shown as owed.
* **Already monitored** (the roster's category, or an earlier identification): a new high tier is
  not identified again; it opens a measure review (帮扶措施调整) the township records.
* **Dynamic management** (`004_…`): an eliminated household whose tier becomes high again starts a
  new cycle; the earlier ones stay, whole, under ``earlier_cycles``.
* **Risk elimination** (`004_…`): a checklist computed from current data (6 months monitored, a
  measure applied, income above the line, no H1-H4 on the latest facts, labour capacity, the
  village's review and notice of the elimination) gates the county's step.

The state lives on the household record as ``identification``; until the first step is recorded
it is implicit (:func:`current`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from server.refusals import BilingualError

STEPS = (
    "flagged",
    "verified",
    "village_reviewed",
    "township_reviewed",
    "dept_checked",
    "county_approved",
    "announced",
    "monitored",
)
AFTER = ("elimination_reviewed", "eliminated")  # a monitored household's way out
REVIEW_STEPS = ("review_due", "reviewed")  # an already monitored household's measure review
STEP_NAMES = {
    "flagged": ("风险预警", "flagged"),
    "verified": ("入户核实", "verified by a visit"),
    "village_reviewed": ("民主评议、公示", "village review and public notice"),
    "township_reviewed": ("乡镇审核", "township review"),
    "dept_checked": ("部门比对", "checked against departments' data"),
    "county_approved": ("县级审定", "county approval"),
    "announced": ("公告", "result announced"),
    "monitored": ("纳入监测", "monitored"),
    "elimination_reviewed": ("风险消除评议、公示", "village review and notice of elimination"),
    "eliminated": ("风险消除", "risk eliminated"),
    "review_due": ("帮扶措施调整（待办）", "measure review due"),
    "reviewed": ("帮扶措施已调整", "measures reviewed"),
}
# Who records each step: a township clerk (``clerk``), the village committee (``village``), the
# county's rural revitalisation bureau (``county``).
WHO = {
    "start": "clerk",
    "verified": "clerk",
    "village_reviewed": "village",
    "township_reviewed": "clerk",
    "dept_checked": "county",
    "county_approved": "county",
    "announced": "village",
    "monitored": "clerk",
    "provisional": "county",
    "elimination_reviewed": "village",
    "eliminated": "county",
    "reviewed": "clerk",
}
MEASURE_ROLES = ("clerk", "county")
ROLE_NAMES = {"clerk": ("乡镇", "the township"), "village": ("村两委", "the village committee"),
              "county": ("县乡村振兴局", "the county bureau")}  # fmt: skip
CATEGORIES = {
    "unstable_lifted": ("脱贫不稳定户", "unstable lifted household"),
    "marginal": ("边缘易致贫户", "marginal household at risk"),
    "sudden_hardship": ("突发严重困难户", "household in sudden severe hardship"),
}
MONITORED_CATEGORIES = ("monitored",)  # the roster / household survey's category of a household monitored already
APPROVED = STEPS.index("county_approved")
DEFAULT_DEADLINES = {"high_days": 15, "publicity_days": 5, "elimination_months": 6}


NOT_FLAGGED = (
    "该户没有高风险预警（中风险户可由乡镇启动识别）",
    "the household has no high-risk flag (the township may start one for a medium tier)",
)


class GuardRefused(BilingualError):
    """A step its guard does not allow (yet), or a role that may not record it."""


# -- where a household stands -------------------------------------------------------------------
def current(record: Mapping[str, Any]) -> dict | None:
    """The household's identification (or measure review), recorded or implicit from its tier."""
    ident = record.get("identification")
    tier = record.get("tier") or {}
    high = tier.get("tier") == "high" and tier.get("flagged_on")
    if ident and ident.get("step") == "eliminated" and high and _raised_since(record, ident):
        return {**_flagged(tier, record), "cycle": ident.get("cycle", 1) + 1,
                "earlier_cycles": [*ident.get("earlier_cycles", []), _without_earlier(ident)]}  # fmt: skip
    if ident:
        return dict(ident)
    if high:
        return _flagged(tier, record)
    return None


def _flagged(tier: Mapping[str, Any], record: Mapping[str, Any]) -> dict:
    kind = "measure_review" if already_monitored(record) else "identification"
    return {
        "kind": kind,
        "cycle": 1,
        "step": "review_due" if kind == "measure_review" else "flagged",
        "flagged_on": tier["flagged_on"],
        "due": tier.get("deadline") or _plus_days(tier["flagged_on"], DEFAULT_DEADLINES["high_days"]),
        "history": [],
        "measures": [],
    }


def already_monitored(record: Mapping[str, Any]) -> bool:
    """Monitored already: by the roster or survey (category 监测户, risk not eliminated)."""
    return (record.get("properties") or {}).get("category") in MONITORED_CATEGORIES


def _raised_since(record: Mapping[str, Any], ident: Mapping[str, Any]) -> bool:
    """The tier became high again after the elimination was recorded (a new disaster's facts)."""
    eliminated_at = next((h["at"] for h in reversed(ident.get("history", [])) if h["step"] == "eliminated"), "")
    return any(t.get("tier") == "high" and t.get("at", "") > eliminated_at for t in record.get("tier_history", []))


def _without_earlier(ident: Mapping[str, Any]) -> dict:
    return {k: v for k, v in ident.items() if k != "earlier_cycles"}


def due(ident: Mapping[str, Any]) -> str:
    return ident.get("due") or _plus_days(ident["flagged_on"], DEFAULT_DEADLINES["high_days"])


def overdue(ident: Mapping[str, Any] | None, today: dt.date) -> bool:
    """Past the deadline with the county's approval (or the measure review) still owed; a
    provisional inclusion does not stop the clock."""
    return ident is not None and clock_runs(ident) and today.isoformat() > due(ident)


def clock_runs(ident: Mapping[str, Any] | None) -> bool:
    """The deadline still binds: the county has not approved yet (or the measure review is owed)."""
    if not ident:
        return False
    if ident.get("kind") == "measure_review":
        return ident["step"] == "review_due"
    return ident["step"] in STEPS[:APPROVED]


def next_step(ident: Mapping[str, Any]) -> str | None:
    step = ident["step"]
    if ident.get("kind") == "measure_review":
        return "reviewed" if step == "review_due" else None
    if step in STEPS[:-1]:
        return STEPS[STEPS.index(step) + 1]
    if step == "monitored":
        return "elimination_reviewed"
    if step == "elimination_reviewed":
        return "eliminated"
    return None


def owed(ident: Mapping[str, Any]) -> list[str]:
    """The steps still owed up to monitoring (shown for a provisional inclusion)."""
    if ident.get("kind") == "measure_review" or ident["step"] not in STEPS:
        return []
    return list(STEPS[STEPS.index(ident["step"]) + 1 :])


# -- recording a step ---------------------------------------------------------------------------
def advance(
    record: Mapping[str, Any],
    to: str,
    role: str,
    by: str,
    at: str,
    today: dt.date,
    form: Mapping[str, Any],
    key: str,
    deadlines: Mapping[str, Any] = DEFAULT_DEADLINES,
    checklist: list[dict] | None = None,
) -> dict | None:
    """The identification after ``role`` (``clerk``, ``village``, ``county``) records step ``to``;
    None if the action ``key`` was applied already.

    ``form`` carries what the step needs: ``consent`` (verified), ``publicity_start`` (the village's
    reviews), ``findings`` (部门比对), ``announced_on`` (公告), ``category`` (monitored and a
    provisional inclusion), ``note`` (a measure review; optional elsewhere). ``to`` may also be
    ``start`` (a clerk opens the identification of a medium household) or ``provisional`` (the
    county includes at once, the steps still owed). Elimination needs ``checklist``
    (:func:`elimination_checklist`) all met.
    """
    _may(role, to)
    if to == "start":
        return _start(record, by, at, today, key, deadlines)
    ident = current(record)
    if ident is None:
        raise GuardRefused(*NOT_FLAGGED)
    if any(h.get("key") == key for h in ident.get("history", [])):
        return None
    if to == "provisional":
        return _provisional(ident, by, at, today, form, key)
    if to != next_step(ident):
        here, there = STEP_NAMES[ident["step"]], STEP_NAMES.get(to, (to, to))
        raise GuardRefused(
            f"当前为“{here[0]}”，下一步不是“{there[0]}”", f"the household is at {here[1]}; {there[1]} is not next"
        )
    extra = _guard(record, ident, to, today, form, deadlines, checklist)
    entry = {"step": to, "from": ident["step"], "at": at, "by": by, "role": role, "key": key}
    if form.get("note"):
        entry["note"] = str(form["note"])[:500]
    return {**ident, **extra, "step": to, "history": [*ident.get("history", []), entry]}


def _may(role: str, to: str) -> None:
    if to not in WHO:
        raise GuardRefused(f"未知的步骤：{to}", f"unknown step: {to}")
    if WHO[to] != role:
        who, step = ROLE_NAMES[WHO[to]], STEP_NAMES.get(to, ("启动识别", "starting the identification"))
        raise GuardRefused(f"“{step[0]}”由{who[0]}记录", f"{step[1]} is recorded by {who[1]}")


def _start(
    record: Mapping[str, Any], by: str, at: str, today: dt.date, key: str, deadlines: Mapping[str, Any]
) -> dict | None:
    ident = current(record)
    if ident is not None:
        if any(h.get("key") == key for h in ident.get("history", [])):
            return None
        raise GuardRefused("该户已在识别或监测中", "the household is already being identified or monitored")
    if (record.get("tier") or {}).get("tier") != "medium":
        raise GuardRefused(
            "只有中风险户可由乡镇启动识别", "the township starts an identification for a medium tier only"
        )
    flagged_on = today.isoformat()
    entry = {"step": "flagged", "from": None, "at": at, "by": by, "role": "clerk", "key": key, "started": True}
    return {"kind": "identification", "cycle": 1, "step": "flagged", "flagged_on": flagged_on,
            "due": _plus_days(flagged_on, deadlines["high_days"]), "history": [entry], "measures": []}  # fmt: skip


def _provisional(ident: dict, by: str, at: str, today: dt.date, form: Mapping[str, Any], key: str) -> dict:
    if ident.get("kind") == "measure_review":
        raise GuardRefused("该户已是监测对象", "the household is monitored already")
    if ident["step"] not in STEPS[:APPROVED]:
        raise GuardRefused("县级审定后无需先行纳入", "after the county's approval there is nothing to include first")
    if ident.get("provisional"):
        raise GuardRefused("已经先行纳入", "already included provisionally")
    if form.get("category") not in CATEGORIES:
        raise GuardRefused("请选择监测对象类别", "choose the monitoring category")
    entry = {"step": "provisional", "from": ident["step"], "at": at, "by": by, "role": "county", "key": key}
    return {**ident, "category": form["category"], "provisional": {"on": today.isoformat(), "by": by},
            "history": [*ident.get("history", []), entry]}  # fmt: skip


def _guard(
    record: Mapping[str, Any],
    ident: Mapping[str, Any],
    to: str,
    today: dt.date,
    form: Mapping[str, Any],
    deadlines: Mapping[str, Any],
    checklist: list[dict] | None,
) -> dict:
    """What the step adds to the identification, once its conditions hold (else GuardRefused)."""
    if to == "verified":
        if not form.get("consent"):
            raise GuardRefused("入户核实须签订承诺授权书", "verification needs the signed consent form (承诺授权书)")
        return {"consent": True}
    if to in ("village_reviewed", "elimination_reviewed"):
        start = _date(form.get("publicity_start"))
        if start is None or start > today:
            raise GuardRefused(
                "请填写公示开始日期（不晚于今天）", "give the day the public notice started (not after today)"
            )
        return {"publicity_start" if to == "village_reviewed" else "elimination_notice": start.isoformat()}
    if to == "township_reviewed":
        _notice_ran(ident["publicity_start"], today, deadlines, "乡镇审核", "township review")
        return {}
    if to == "dept_checked":
        findings = str(form.get("findings") or "").strip()
        if not findings:
            raise GuardRefused(
                "请填写部门比对结果（公安、民政、人社、医保、住建等数据反映的情况）",
                "give what the departments' data show (police, civil affairs, labour, medical insurance, housing)",
            )
        return {"dept_findings": findings[:1000]}
    if to == "announced":
        day = _date(form.get("announced_on"))
        if day is None or day > today:
            raise GuardRefused(
                "请填写公告日期（不晚于今天）", "give the day the result was announced (not after today)"
            )
        return {"announced_on": day.isoformat()}
    if to == "monitored":
        category = form.get("category") or ident.get("category")
        if category not in CATEGORIES:
            raise GuardRefused("请选择监测对象类别", "choose the monitoring category")
        return {"category": category, "monitored_on": (ident.get("provisional") or {}).get("on") or today.isoformat()}
    if to == "reviewed":
        if not str(form.get("note") or "").strip():
            raise GuardRefused("请写明帮扶措施如何调整", "say how the measures were adjusted")
        return {"reviewed_on": today.isoformat()}
    if to == "eliminated":
        _notice_ran(ident["elimination_notice"], today, deadlines, "风险消除", "elimination")
        unmet = [c for c in checklist or [] if not c["ok"]]
        if checklist is None or unmet:
            zh = "；".join(c["zh"] for c in unmet) or "须先核对消除条件"
            en = "; ".join(c["en"] for c in unmet) or "the elimination conditions must be checked first"
            raise GuardRefused(f"不符合风险消除条件：{zh}", f"the conditions for elimination are not met: {en}")
        return {"eliminated_on": today.isoformat()}
    return {}


def _notice_ran(start: str, today: dt.date, deadlines: Mapping[str, Any], zh: str, en: str) -> None:
    days = deadlines.get("publicity_days", DEFAULT_DEADLINES["publicity_days"])
    ends = dt.date.fromisoformat(start) + dt.timedelta(days=days)
    if today < ends:
        raise GuardRefused(
            f"公示不少于{days}天：{ends.isoformat()} 起才能{zh}",
            f"the public notice runs at least {days} days: {en} from {ends.isoformat()}",
        )


# -- elimination ----------------------------------------------------------------------------------
def elimination_checklist(
    ident: Mapping[str, Any],
    today: dt.date,
    facts: Mapping[str, Any],
    form: Mapping[str, Any],
    deadlines: Mapping[str, Any] = DEFAULT_DEADLINES,
) -> list[dict]:
    """The conditions of 风险消除 (`004_…`), each met or not, from current data.

    ``facts`` (from :func:`server.casework.tiers.guarantees`): ``per_capita`` and ``income_line``
    of the latest surveys, ``failing`` (the H1-H4 rules that fire on them: 三保障 and water),
    ``labour_level``. ``form`` carries the clerk's confirmation ``income_stable``.
    """
    months = deadlines.get("elimination_months", DEFAULT_DEADLINES["elimination_months"])
    since = _date(ident.get("monitored_on"))
    span = _months(since, today) if since else -1
    per_capita, line = facts.get("per_capita"), facts.get("income_line")
    income = "未知" if per_capita is None else per_capita
    failing = facts.get("failing") or []
    still_zh, still_en = (f"（仍有 {'、'.join(failing)}）", f" (still {', '.join(failing)})") if failing else ("", "")
    items = [
        ("months", span >= months, f"纳入监测满{months}个月（{since or '未纳入'}起）",
         f"monitored for {months} months (since {since or 'not yet'})"),
        ("measure", bool(ident.get("measures")), "至少落实一项帮扶措施", "at least one measure applied"),
        ("income", per_capita is not None and line is not None and per_capita >= line,
         f"最新调查人均纯收入 {income} 元不低于监测线 {line or '?'} 元",
         f"latest per-capita income {per_capita} at or above the line {line or '?'}"),
        ("stable", bool(form.get("income_stable")), "乡镇确认收入稳定", "the township confirms the income is stable"),
        ("guarantees", not failing, "两不愁三保障及饮水安全有保障" + still_zh,
         "food, clothing, housing, schooling, health care and water secured" + still_en),
        ("labour", facts.get("labour_level") != "none", "家庭有劳动能力（无劳动能力的家庭继续监测）",
         "the household has labour capacity (one without stays monitored)"),
        ("notice", bool(ident.get("elimination_notice")), "村两委已评议并公示风险消除",
         "the village committee reviewed and posted the elimination"),
    ]  # fmt: skip
    return [{"id": i, "ok": ok, "zh": zh, "en": en} for i, ok, zh, en in items]


# -- measures -------------------------------------------------------------------------------------
MEASURE_FIELDS = ("type", "unit", "official", "date", "amount", "first_relief", "paperwork_owed", "note")
PAPERWORK = {"reason": ("救助事由", "the reason"), "amount": ("救助金额", "the amount"),
             "signatures": ("签字手续", "the signatures")}  # fmt: skip


def add_measure(
    record: Mapping[str, Any],
    role: str,
    measure: Mapping[str, Any],
    catalogue: Mapping[str, Any],
    by: str,
    at: str,
    today: dt.date,
    key: str,
) -> dict | None:
    """Record a measure applied (at any step: the green channel helps first). A measure is a
    record: ``type`` from the policy's catalogue, responsible ``unit``, ``official`` (帮扶责任人),
    ``date``, ``amount`` in yuan, and for relief given first (``first_relief``) the paperwork still
    owed. None if ``key`` was applied already."""
    if role not in MEASURE_ROLES:
        raise GuardRefused("帮扶措施由乡镇或县级部门记录", "measures are recorded by the township or the county")
    ident = current(record)
    if ident is None:
        raise GuardRefused(*NOT_FLAGGED)
    if any(m.get("key") == key for m in ident.get("measures", [])):
        return None
    item = checked_measure(measure, catalogue, today)
    item.update(at=at, by=by, key=key)
    return {**ident, "measures": [*ident.get("measures", []), item]}


def checked_measure(measure: Mapping[str, Any], catalogue: Mapping[str, Any], today: dt.date) -> dict:
    if measure.get("type") not in catalogue:
        raise GuardRefused("请从目录中选择帮扶措施类型", "choose the measure's type from the catalogue")
    unit = str(measure.get("unit") or "").strip()
    if not unit:
        raise GuardRefused("请填写责任单位", "name the responsible unit")
    day = _date(measure.get("date")) or today
    if day > today:
        raise GuardRefused("措施日期不能晚于今天", "the measure's date cannot be in the future")
    amount = measure.get("amount")
    if amount in (None, ""):
        amount = None
    else:
        try:
            amount = round(float(amount), 2)
        except (TypeError, ValueError):
            amount = -1
        if not 0 <= amount <= 10_000_000:
            raise GuardRefused(
                "金额须为 0 到 1000 万元之间的数字", "the amount must be a number of yuan from 0 to 10,000,000"
            )
    first = bool(measure.get("first_relief"))
    return {
        "type": measure["type"],
        "unit": unit[:100],
        "official": str(measure.get("official") or "").strip()[:50],
        "date": day.isoformat(),
        "amount": amount,
        "first_relief": first,
        "paperwork_owed": list(PAPERWORK) if first else [],
        "note": str(measure.get("note") or "").strip()[:500],
    }


# -- small helpers --------------------------------------------------------------------------------
def _plus_days(day: str, days: int) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=days)).isoformat()


def _months(since: dt.date, today: dt.date) -> int:
    return (today.year - since.year) * 12 + today.month - since.month - (today.day < since.day)


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
