"""The lists the county asks a township for, built from household records (pure).

* 预警人员名单 — "每半个月报送一次预警人员名单，由市乡村振兴局核定" (004): the households found at
  risk in a half month (1st-15th, 16th-end): flagged high, or rated medium, in that period.
* 监测对象认定结果公告 — "以乡(镇、街道)名义将县级审批后的监测对象名单在所在村公告"
  (policy-research.md, step 6): households the county approved, for posting in the village.
* 预警信息和监测对象台账 — "建立乡镇(街)预警信息和监测对象台账" (004): every household with an
  identification, the day of each step and the measures taken.
* 全国防返贫监测信息系统 layout — the attributes the national system keeps per household
  (户类型, 监测对象类别, 风险是否已消除, 风险消除方式, 识别/消除监测时间 as YYYYMM,
  整户无劳动能力兜底保障户, 监测联系人), for 录入建档 (step 7).

Each row is a list in its sheet's column order; names and labels come in through ``Words`` so
this module reads no files and no database. No list carries a health condition; only the national
layout carries ID numbers, and those masked unless the export asks for them whole (and is audited).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from server.casework import identification as ident
from server.casework.exports import TIER_NAMES, beijing
from server.casework.privacy import mask_id, mask_phone

NO_LABOUR = ("lost", "none")  # 丧失劳动力, 无劳动力
SAFETY_NET = ("dibao", "tekun")  # 低保, 特困供养: 兜底保障
PERIOD = re.compile(r"^([0-9]{4})-([0-9]{2})-([12])\Z")  # ASCII digits: \d takes ２０２６ too


@dataclass(frozen=True)
class Words:
    """What codes read as: village names, a property's choice labels (``label(key, value)``) and a
    rule's short title in the policy of a village's county (``rule(village, rule_id)``)."""

    villages: Mapping[str, str]
    label: Callable[[str, Any], str]
    rule: Callable[[str, str], str]


# -- the half month ------------------------------------------------------------------------------
def half_month(day: dt.date) -> str:
    """The half month a day falls in, ``2026-11-1`` (1st-15th) or ``2026-11-2`` (16th-end)."""
    return f"{day:%Y-%m}-{1 if day.day <= 15 else 2}"


def period_days(period: str) -> tuple[dt.date, dt.date] | None:
    """(first day, last day) of ``2026-11-2``; None for anything else."""
    match = PERIOD.match(period or "")
    if not match:
        return None
    year, month, half = int(match.group(1)), int(match.group(2)), match.group(3)
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        return None
    last = calendar.monthrange(year, month)[1]
    return (dt.date(year, month, 1), dt.date(year, month, 15)) if half == "1" else (
        dt.date(year, month, 16), dt.date(year, month, last))  # fmt: skip


def period_name(period: str) -> str:
    """``2026-11-2`` → 2026年11月下半月."""
    year, month, half = period.split("-")
    return f"{year}年{int(month)}月{'上' if half == '1' else '下'}半月"


def previous_periods(today: dt.date, count: int = 6) -> list[str]:
    """This half month and the ones before it, newest first (the page's choice)."""
    out, day = [], today
    while len(out) < count:
        out.append(half_month(day))
        day = (day.replace(day=1) - dt.timedelta(days=1)) if day.day <= 15 else day.replace(day=15)
    return out


# -- helpers over one record ---------------------------------------------------------------------
def _day(stamp: Any) -> str:
    """A stored time as its Beijing day (``2026-11-20``)."""
    shown = beijing(stamp)
    return shown[:10] if isinstance(shown, str) else ""


def _props(record: Mapping[str, Any]) -> Mapping[str, Any]:
    return record.get("properties") or {}


def _size(record: Mapping[str, Any]) -> int | None:
    members = _props(record).get("members")
    return len(members) if isinstance(members, list) else None


def warned_on(record: Mapping[str, Any]) -> str | None:
    """The day the household's current warning began: its flag (high) or, for a medium household,
    the day its tier last rose to medium; None for a household at low risk or none."""
    tier = record.get("tier") or {}
    current = ident.current(record)
    if current and current.get("step") != "eliminated":
        return current.get("flagged_on")
    if tier.get("tier") != "medium":
        return None
    rose = [
        t.get("at") for t in record.get("tier_history") or [] if t.get("tier") == "medium" and t.get("from") != "medium"
    ]
    return _day(rose[-1]) if rose else None


def step_days(current: Mapping[str, Any]) -> dict[str, str]:
    """Each step recorded in this identification cycle and its (Beijing) day."""
    days = {"flagged": current.get("flagged_on") or ""}
    for entry in current.get("history") or []:
        days[entry["step"]] = _day(entry.get("at"))
    return days


def _rules(record: Mapping[str, Any], words: Words) -> str:
    """The rules that set the tier, by their titles (a rule's message may name an ill member)."""
    fired = (record.get("tier") or {}).get("rules") or []
    return "、".join(words.rule(record["village_code"], r["id"]) for r in fired if isinstance(r, Mapping))


def _village(record: Mapping[str, Any], words: Words) -> str:
    return words.villages.get(record["village_code"], record["village_code"])


def _category(current: Mapping[str, Any]) -> str:
    """The identification's 监测对象类别 in words (empty until one is set)."""
    return ident.CATEGORIES.get(current.get("category") or "", ("", ""))[0]


def _step_name(step: str | None) -> str:
    return ident.STEP_NAMES.get(step or "", (step or "", step or ""))[0]


def _live(records: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    return (r for r in records if not r.get("merged_into"))


# -- 预警人员名单 -----------------------------------------------------------------------------------
WARNING_HEADERS = ["序号", "村", "户编号", "户主", "人口", "户类型", "风险等级", "触发规则", "风险类型", "预警日期",
                   "识别进度", "认定期限"]  # fmt: skip


def warning_rows(records: Iterable[Mapping[str, Any]], first: dt.date, last: dt.date, words: Words) -> list[list]:
    """Households whose warning began between ``first`` and ``last`` (both included), by village."""
    found = []
    for record in _live(records):
        day = warned_on(record)
        if not day or not first.isoformat() <= day <= last.isoformat():
            continue
        current = ident.current(record) or {}
        props = _props(record)
        tier = (record.get("tier") or {}).get("tier")
        found.append([
            _village(record, words), record["household_id"],
            props.get("head_name") or "", _size(record), words.label("category", props.get("category")),
            TIER_NAMES.get(tier or "", ""), _rules(record, words), words.label("risk_types", props.get("risk_types")),
            day, _step_name(current.get("step")) if current else "跟踪回访", current.get("due", "") if current else "",
        ])  # fmt: skip
    found.sort(key=lambda r: (r[0], r[8], r[1]))
    return [[n, *row] for n, row in enumerate(found, 1)]


# -- 结果公告 --------------------------------------------------------------------------------------
RESULT_HEADERS = ["序号", "村", "户编号", "户主", "人口", "监测对象类别", "县级审定日期"]
APPROVED = ident.STEPS[ident.STEPS.index("county_approved") :]


def result_rows(records: Iterable[Mapping[str, Any]], words: Words, village: str = "") -> list[list]:
    """Households the county approved in their current cycle (still to be announced, or announced):
    what the village posts. Head's name and household size only — no ID number, phone or health."""
    found = []
    for record in _live(records):
        current = ident.current(record) or {}
        if current.get("step") not in APPROVED or (village and record["village_code"] != village):
            continue
        found.append([_village(record, words), record["household_id"],
                      _props(record).get("head_name") or "", _size(record), _category(current),
                      step_days(current).get("county_approved", "")])  # fmt: skip
    found.sort(key=lambda r: (r[0], r[1]))
    return [[n, *row] for n, row in enumerate(found, 1)]


# -- 台账 ------------------------------------------------------------------------------------------
REGISTER_STEPS = (*ident.STEPS, *ident.AFTER)
REGISTER_HEADERS = ["村", "户编号", "户主", "人口", "户类型", "风险等级", "触发规则", "轮次", "当前进度", "认定期限",
                    "是否逾期", "先行纳入", "监测对象类别", *(ident.STEP_NAMES[s][0] for s in REGISTER_STEPS),
                    "部门比对结果", "帮扶措施", "帮扶责任人", "待补手续"]  # fmt: skip


def register_rows(
    records: Iterable[Mapping[str, Any]],
    words: Words,
    today: dt.date,
    measure_name: Callable[[Mapping, Mapping], str],
) -> list[list]:
    """One row per household with an identification (or measure review) in its current cycle."""
    rows = []
    for record in _live(records):
        current = ident.current(record)
        if not current:
            continue
        props = _props(record)
        days = step_days(current)
        measures = current.get("measures") or []
        owed = sorted({p for m in measures for p in m.get("paperwork_owed") or []})
        rows.append([
            _village(record, words), record["household_id"],
            props.get("head_name") or "", _size(record), words.label("category", props.get("category")),
            TIER_NAMES.get((record.get("tier") or {}).get("tier") or "", ""), _rules(record, words),
            current.get("cycle", 1),
            _step_name(current.get("step")), ident.due(current), "是" if ident.overdue(current, today) else "否",
            (current.get("provisional") or {}).get("on", ""),
            _category(current),
            *(days.get(s, "") for s in REGISTER_STEPS),
            current.get("dept_findings", ""),
            "；".join(f"{measure_name(record, m)}（{m.get('date') or ''}）" for m in measures),
            "、".join(dict.fromkeys(m["official"] for m in measures if m.get("official"))),
            "、".join(ident.PAPERWORK[p][0] for p in owed if p in ident.PAPERWORK),
        ])  # fmt: skip
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows


# -- 全国防返贫监测信息系统 -------------------------------------------------------------------------
RISKS = 5  # 致贫/返贫风险1 … 5
NATIONAL_HEADERS = ["户编号", "户主姓名", "户主证件号码", "联系电话", "家庭人口数", "户类型", "监测对象类别",
                    *(f"致贫/返贫风险{n}" for n in range(1, RISKS + 1)), "因自然灾害子项", "其他备注",
                    "识别监测时间", "风险是否已消除", "风险消除方式", "消除监测时间", "整户无劳动能力兜底保障户",
                    "监测联系人"]  # fmt: skip
# The damage survey's disaster types as the national system's 因自然灾害子项 (100A271): 洪涝灾害,
# 地质灾害, 旱灾, 生物灾害, 气象灾害, 地震灾害, 其他 (policy-research.md 3.1; its numeric codes are unknown).
DISASTER_SUBITEM = {
    "flood": "洪涝灾害", "geological": "地质灾害", "drought": "旱灾", "biological": "生物灾害",
    "typhoon": "气象灾害", "hail_wind": "气象灾害", "cold": "气象灾害", "snow": "气象灾害",
    "earthquake": "地震灾害",
}  # fmt: skip
MEMBER_FIELDS = ("name", "id_number", "relation", "sex", "birth_date", "health", "disability_type",
                 "disability_grade", "labour", "school", "medical_insurance")  # fmt: skip
NATIONAL_MEMBER_HEADERS = ["户编号", "序号", "姓名", "证件号码", "与户主关系", "性别", "出生日期", "健康状况",
                           "残疾类别", "残疾等级", "劳动技能", "在校生状况",
                           "是否参加城乡居民基本医疗保险"]  # fmt: skip
HEALTH_FIELDS = ("health", "disability_type", "disability_grade")  # personal data: shown whole only when asked


def _yyyymm(day: Any) -> str:
    return day[:4] + day[5:7] if isinstance(day, str) and len(day) >= 7 else ""


def whole_household_no_labour(props: Mapping[str, Any]) -> bool:
    """整户无劳动能力兜底保障户: no member can work, and the household is under 低保 or 特困."""
    members = props.get("members")
    if not isinstance(members, list) or not members:
        return False
    welfare = str(props.get("welfare") or "").split()
    return all(m.get("labour") in NO_LABOUR for m in members if isinstance(m, Mapping)) and any(
        w in welfare for w in SAFETY_NET
    )


def _monitored(records: Iterable[Mapping[str, Any]]) -> Iterable[tuple[Mapping[str, Any], dict, str]]:
    """(record, identification, day monitored) of households entered into monitoring (纳入监测
    recorded, or included provisionally by the county)."""
    for record in _live(records):
        current = ident.current(record) or {}
        monitored_on = current.get("monitored_on") or (current.get("provisional") or {}).get("on")
        if monitored_on:
            yield record, current, monitored_on


def _risks(props: Mapping[str, Any], words: Words) -> list[str]:
    """致贫/返贫风险1 … 5, 因自然灾害子项, 其他备注 from the household survey's risk types."""
    named = [r for r in words.label("risk_types", props.get("risk_types")).split("、") if r][:RISKS]
    subitem = DISASTER_SUBITEM.get(str(props.get("disaster_type") or ""), "其他") if "因自然灾害" in named else ""
    other = str(props.get("notes") or "")[:200] if "其他" in named else ""
    return [*named, *[""] * (RISKS - len(named)), subitem, other]


def national_rows(records: Iterable[Mapping[str, Any]], words: Words, whole_numbers: bool) -> list[list]:
    """Monitored households in the national layout, one row each."""
    rows = []
    for record, current, monitored_on in _monitored(records):
        props = _props(record)
        eliminated = current.get("step") == "eliminated"
        contact = next((m["official"] for m in reversed(current.get("measures") or []) if m.get("official")), "")
        head_id, phone = props.get("head_id_number") or "", props.get("phone") or ""
        rows.append([
            record["household_id"], props.get("head_name") or "",
            head_id if whole_numbers else mask_id(head_id), phone if whole_numbers else mask_phone(phone),
            _size(record), "脱贫户" if props.get("category") == "lifted" else "一般农户",
            _category(current), *_risks(props, words),
            _yyyymm(monitored_on), "是" if eliminated else "否",
            ("帮扶消除" if current.get("measures") else "自然消除") if eliminated else "",
            _yyyymm(current.get("eliminated_on")) if eliminated else "",
            "是" if whole_household_no_labour(props) else "否", contact,
        ])  # fmt: skip
    rows.sort(key=lambda r: r[0])
    return rows


def national_member_rows(records: Iterable[Mapping[str, Any]], words: Words, whole_numbers: bool) -> list[list]:
    """The members of monitored households in the national layout; ID numbers masked and health,
    disability masked unless the export asks for whole personal data."""
    rows = []
    for record, _, _ in _monitored(records):
        members = _props(record).get("members")
        for n, member in enumerate(members if isinstance(members, list) else [], 1):
            if not isinstance(member, Mapping):
                continue
            cells = []
            for key in MEMBER_FIELDS:
                value = member.get(key)
                if key == "id_number":
                    cells.append(value if whole_numbers else mask_id(value or ""))
                elif key in HEALTH_FIELDS and not whole_numbers:
                    cells.append("***" if value not in (None, "") else "")
                else:
                    cells.append(words.label(f"members/{key}", value) or ("" if value is None else str(value)))
            rows.append([record["household_id"], n, *cells])
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows
