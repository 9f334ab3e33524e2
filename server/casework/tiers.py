"""The risk-tier engine: a household's properties + a policy → tier, reasons, measures, deadline.

Pure functions over plain data. The rules are those of ../shared/domain.md (H1–H7 high, M1–M6
medium, else low; no damage survey, no tier); every number they compare against comes from the
policy (:mod:`server.casework.policy`), and every fired rule reports the values that fired it.

Two readings of domain.md chosen so that more damage or less income can never lower a tier
(property-tested): M1 covers every damaged house that H1 did not catch (a severe or collapsed
house *without* safe shelter that is not the only dwelling would otherwise fall to low), and a
rule whose inputs are missing does not fire but is listed in ``missing``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from forms.spec import selected
from server.casework.policy import RULE_IDS, Policy
from server.households import model as households

LABOUR = ("normal", "skilled", "weak")
DAMAGE_FIELDS = (
    "house_damage",
    "crop_loss_band",
    "livestock_lost",
    "deaths",
    "missing",
    "injured_serious",
    "injured_minor",
    "direct_loss_yuan",
    "water_cut_days",
)


def assess(
    properties: Mapping[str, Any],
    has_damage_survey: bool,
    policy: Policy,
    village: str,
    on: dt.date,
    *,
    flagged_on: dt.date | None = None,
    provisional: bool = True,
) -> dict:
    """The engine's verdict. ``on`` is the day the facts describe (ages, the income line's year);
    ``flagged_on`` the day the household first reached its current tier (for the deadline)."""
    data = policy.for_county(village[:6])
    result: dict[str, Any] = {
        "tier": None,
        "rules": [],
        "measures": [],
        "deadline": None,
        "policy_version": policy.version,
        "provisional": provisional,
        "missing": [],
        "tasks": [],
    }
    if not has_damage_survey:
        return result
    facts = _facts(properties, policy, village, on)
    fired: list[dict] = []
    missing: set[str] = set()
    for rule_id in RULE_IDS:
        rule = data["rules"][rule_id]
        if not rule.get("enabled", True):
            continue
        values, needs = CHECKS[rule_id](facts, data["thresholds"])
        if values is not None:
            fired.append({"id": rule_id, "tier": rule["tier"], "values": values})
        missing |= needs
    tiers = {f["tier"] for f in fired}
    tier = "high" if "high" in tiers else "medium" if "medium" in tiers else "low"
    shown = [f for f in fired if f["tier"] == tier]
    result.update(
        tier=tier,
        rules=[
            {"id": f["id"], "message": _message(data["rules"][f["id"]], f["values"]), "values": f["values"]}
            for f in shown
        ],
        measures=_measures(shown, data, facts),
        missing=sorted(missing) if tier != "high" else [],
    )
    if tier in ("high", "medium") and flagged_on is not None:
        days = data["deadlines"]["high_days" if tier == "high" else "medium_days"]
        result["deadline"] = (flagged_on + dt.timedelta(days=days)).isoformat()
        result["tasks"] = [{**TASKS[tier], "due": result["deadline"]}]
    return result


# The follow-up a grid worker sees on the tablet (domain.md: identification within 15 days for a
# high tier, help at once; a follow-up visit within 30 days for a medium tier).
TASKS = {
    "high": {
        "kind": "identification",
        "zh": "高风险：立即帮扶，并在期限内完成监测对象识别（入户核实、民主评议、审核审定）",
        "en": "high risk: help now and complete the identification (visit, village review, approvals) by the deadline",
    },
    "medium": {
        "kind": "follow_up",
        "zh": "中风险：期限内入户回访",
        "en": "medium risk: visit again by the deadline",
    },
}


def retier(record: dict, policy: Policy, today: dt.date, at: str, cause: Mapping[str, Any]) -> bool:
    """Bring a household record's tier up to date; True if it changed (then it is in the history).

    The facts' day is the latest survey's, so the tier is a function of the record alone;
    ``today`` (the server's day) only dates a new flag, from which the deadline runs.
    """
    day = households.facts_day(record)
    on = dt.date.fromisoformat(day) if day else today
    previous = record.get("tier") or {}
    provisional = not households.all_approved(record)
    result = assess(
        record["properties"],
        households.has_damage_survey(record),
        policy,
        record["village_code"],
        on,
        provisional=provisional,
    )
    flagged_on = previous.get("flagged_on") if previous.get("tier") == result["tier"] else None
    if result["tier"] in ("high", "medium"):
        flagged_on = flagged_on or today.isoformat()
        result = assess(
            record["properties"],
            True,
            policy,
            record["village_code"],
            on,
            flagged_on=dt.date.fromisoformat(flagged_on),
            provisional=provisional,
        )
    result["flagged_on"] = flagged_on
    if result == previous:
        return False
    record["tier"] = result
    before = (previous.get("tier"), [r["id"] for r in previous.get("rules", [])])
    after = (result["tier"], [r["id"] for r in result["rules"]])
    if before != after:  # the history records changes of tier or of its reasons, with their cause
        entry = {
            "at": at,
            "tier": after[0],
            "rules": after[1],
            "from": before[0],
            "from_rules": before[1],
            "policy_version": result["policy_version"],
            "provisional": provisional,
            "cause": dict(cause),
        }
        record["tier_history"] = [*record.get("tier_history", []), entry]
    return True


# -- facts the rules read ------------------------------------------------------------------------
def _facts(p: Mapping[str, Any], policy: Policy, village: str, on: dt.date) -> dict:
    members = [m for m in p.get("members") or [] if isinstance(m, dict)]
    incomes = [_num(p.get(k)) for k in ("income_wage", "income_business", "income_property", "income_transfer")]
    cost = _num(p.get("cost_business"))
    net = None if any(v is None for v in incomes) else sum(incomes) - (cost or 0)  # type: ignore[arg-type]
    drop = _num(p.get("income_drop_pct"))
    year = _year(p.get("disaster_date")) or on.year
    line = policy.income_line(village, year)
    per_capita = None
    if net is not None and members:
        per_capita = round(net * (1 - (drop or 0) / 100) / len(members), 2)
    return {
        **p,
        "members": members,
        "ages": [(m, _age(m.get("birth_date"), on)) for m in members],
        "size": len(members) or None,
        "net_income": net,
        "per_capita_after": per_capita,
        "income_line": line,
        "labour_count": sum(1 for m in members if m.get("labour") in LABOUR) if members else None,
    }


def _h1(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    needs = _absent(f, "only_dwelling", "safe_shelter") | (
        set() if f.get("house_damage") or f.get("housing_grade") else {"house_damage"}
    )
    bad_house = f.get("house_damage") in t["high_house_damage"] or f.get("housing_grade") in t["high_housing_grades"]
    if bad_house and f.get("only_dwelling") == "yes" and f.get("safe_shelter") == "no":
        return _pick(f, "house_damage", "housing_grade", "only_dwelling", "safe_shelter"), set()
    return None, needs if bad_house else set()


def _h2(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    days = _num(f.get("water_cut_days"))
    if (days is not None and days > t["water_cut_days"]) or "no" in (
        f.get("water_quantity_ok"),
        f.get("water_quality_ok"),
    ):
        return _pick(f, "water_cut_days", "water_quantity_ok", "water_quality_ok"), set()
    return None, _absent(f, "water_cut_days")


def _h3(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    low, high = t["school_age"]
    out = [
        m.get("name") or "?"
        for m, age in f["ages"]
        if age is not None and low <= age <= high and m.get("out_of_school") == "yes"
    ]
    if out:
        return {"school_age_from": low, "school_age_to": high, "members": "、".join(out)}, set()
    return None, set() if f["members"] else {"members"}


def _h4(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    ill = [
        m.get("name") or "?"
        for m in f["members"]
        if "serious" in selected(m.get("health")) and m.get("medical_insurance") == "no"
    ]
    return ({"members": "、".join(ill)}, set()) if ill else (None, set() if f["members"] else {"members"})


def _h5(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    line = f["income_line"]
    if f["per_capita_after"] is None or line is None:
        return None, {"income"} if f["net_income"] is None else {"members"} if not f["members"] else {"income_line"}
    if f["per_capita_after"] < line["yuan"]:
        return _income_values(f), set()
    return None, set()


def _h6(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    if f.get("main_labour_lost") == "yes" and f["labour_count"] == 0:
        return {"main_labour_lost": "yes", "labour_count": 0}, set()
    return None, _absent(f, "main_labour_lost") | (set() if f["members"] else {"members"})


def _h7(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    parts = {k: _num(f.get(k)) for k in ("expense_medical_oop", "expense_education", "direct_loss_yuan")}
    last = _num(f.get("last_year_income"))
    if last is None:
        return None, {"last_year_income"}
    rigid = sum(v or 0 for v in parts.values())
    if rigid > last:
        return {"rigid_expenses": rigid, "last_year_income": last, **parts}, set()
    return None, {k for k, v in parts.items() if v is None}


def _m1(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    if f.get("house_damage") in t["medium_house_damage"]:
        return {"house_damage": f["house_damage"]}, set()
    return None, _absent(f, "house_damage")


def _m2(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    if f.get("crop_loss_band") in t["medium_crop_loss_bands"] and f.get("crops_main_income") == "yes":
        return _pick(f, "crop_loss_band", "crops_main_income"), set()
    return None, _absent(f, "crop_loss_band")


def _m3(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    line = f["income_line"]
    if f["per_capita_after"] is None or line is None:
        return None, set()  # H5 already lists what is missing
    threshold = round(line["yuan"] * t["medium_income_multiple"], 2)
    if f["per_capita_after"] < threshold:
        return {
            "per_capita_after": f["per_capita_after"],
            "multiple": t["medium_income_multiple"],
            "threshold": threshold,
            "income_line": line["yuan"],
        }, set()
    return None, set()


def _m4(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    oop, last = _num(f.get("expense_medical_oop")), _num(f.get("last_year_income"))
    if oop is None or last is None:
        return None, {k for k in ("expense_medical_oop", "last_year_income") if _num(f.get(k)) is None}
    if oop > t["medium_medical_share"] * last:
        return {
            "medical_oop": oop,
            "last_year_income": last,
            "share_pct": round(t["medium_medical_share"] * 100),
        }, set()
    return None, set()


def _m5(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    damage = damaged(f)
    if f.get("category") in t["monitored_categories"] and damage:
        return {"category": f["category"], "damage": damage}, set()
    return None, _absent(f, "category")


def _m6(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    grades = t["medium_disability_grades"]
    hit = [
        m.get("name") or "?"
        for m in f["members"]
        if selected(m.get("health")) & {"serious", "incapacitated"}
        or ("disabled" in selected(m.get("health")) and _num(m.get("disability_grade")) in grades)
    ]
    return ({"members": "、".join(hit)}, set()) if hit else (None, set() if f["members"] else {"members"})


CHECKS = {
    "H1": _h1,
    "H2": _h2,
    "H3": _h3,
    "H4": _h4,
    "H5": _h5,
    "H6": _h6,
    "H7": _h7,
    "M1": _m1,
    "M2": _m2,
    "M3": _m3,
    "M4": _m4,
    "M5": _m5,
    "M6": _m6,
}


def damaged(p: Mapping[str, Any]) -> list[str]:
    """Which kinds of damage the household reported (for M5: "any damage recorded")."""
    found = []
    if p.get("house_damage") not in (None, "none"):
        found.append("house")
    if p.get("crop_loss_band") not in (None, "none"):
        found.append("crops")
    if (_num(p.get("livestock_lost")) or 0) > 0:
        found.append("livestock")
    if sum(_num(p.get(k)) or 0 for k in ("deaths", "missing", "injured_serious", "injured_minor")) > 0:
        found.append("people")
    if (_num(p.get("direct_loss_yuan")) or 0) > 0:
        found.append("loss")
    if (_num(p.get("water_cut_days")) or 0) > 0:
        found.append("water")
    return found


# -- texts and measures ------------------------------------------------------------------------
def _message(rule: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, str]:
    class Blank(dict):
        def __missing__(self, key: str) -> str:
            return "?"

    return {lang: rule[lang].format_map(Blank(values)) for lang in ("zh", "en")}


def _measures(fired: Iterable[dict], data: Mapping[str, Any], facts: Mapping[str, Any]) -> list[dict]:
    chosen: list[str] = []
    for f in fired:
        rule = data["rules"][f["id"]]
        if "measures_with_labour" in rule or "measures_without_labour" in rule:
            key = "measures_with_labour" if (facts["labour_count"] or 0) > 0 else "measures_without_labour"
            names = rule.get(key, [])
        else:
            names = rule.get("measures", [])
        chosen += [n for n in names if n not in chosen]
    return [{"id": n, "zh": data["measures"][n]["zh"], "en": data["measures"][n]["en"]} for n in chosen]


# -- small helpers -------------------------------------------------------------------------------
def _income_values(f: dict) -> dict:
    line = f["income_line"]
    return {
        "per_capita_after": f["per_capita_after"],
        "income_line": line["yuan"],
        "income_line_source": line["source"],
        "size": f["size"],
        "net_income": f["net_income"],
        "income_drop_pct": _num(f.get("income_drop_pct")) or 0,
    }


def _pick(f: Mapping[str, Any], *keys: str) -> dict:
    return {k: f.get(k) for k in keys if f.get(k) is not None}


def _absent(f: Mapping[str, Any], *keys: str) -> set[str]:
    return {k for k in keys if f.get(k) in (None, "")}


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _year(value: Any) -> int | None:
    try:
        return dt.date.fromisoformat(value).year if isinstance(value, str) else None
    except ValueError:
        return None


def _age(birth: Any, on: dt.date) -> int | None:
    try:
        born = dt.date.fromisoformat(birth) if isinstance(birth, str) else None
    except ValueError:
        return None
    if born is None:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
