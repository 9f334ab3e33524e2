"""The risk-tier engine: a household's properties + a policy → tier, reasons, measures, deadline.

Pure functions over plain data. The rules are those of ../shared/domain.md (H1–H7 high, M1–M8
medium, else low; no damage survey, no tier), each traced to the seed clause it implements in the
policy's texts; every number they compare against comes from the policy
(:mod:`server.casework.policy`), and every fired rule reports the values that fired it. ``rules``
are the reasons for the tier; ``other_rules`` those of a lower tier that fired too, because by
"缺什么补什么" their measures are suggested as well.

Two readings of domain.md chosen so that more damage or less income can never lower a tier
(property-tested): M1 covers every damaged house that H1 did not catch (a severe or collapsed
house *without* safe shelter that is not the only dwelling would otherwise fall to low), and a
rule whose inputs are missing does not fire but is listed in ``missing``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from forms.spec import current_choices, selected
from server.casework.policy import RULE_IDS, Policy
from server.households import model as households
from server.refusals import BilingualError

LABOUR = ("normal", "skilled", "weak")
MAIN_LABOUR = ("normal", "skilled")
LOST_OUTCOMES = ("died", "missing", "injured_serious")
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
        "other_rules": [],
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

    def described(f: dict) -> dict:
        return {"id": f["id"], "message": _message(data["rules"][f["id"]], f["values"]), "values": f["values"]}

    result.update(
        tier=tier,
        rules=[described(f) for f in fired if f["tier"] == tier],
        other_rules=[described(f) for f in fired if f["tier"] != tier],
        measures=_measures(fired, data, facts),
        missing=sorted(missing) if tier != "high" else [],
    )
    if tier in ("high", "medium") and flagged_on is not None:
        days = data["deadlines"]["high_days" if tier == "high" else "medium_days"]
        result["deadline"] = (flagged_on + dt.timedelta(days=days)).isoformat()
        result["tasks"] = [{**TASKS[tier], "due": result["deadline"]}]
    return result


def guarantees(properties: Mapping[str, Any], policy: Policy, village: str, on: dt.date) -> dict:
    """What risk elimination checks on current data (`004_…`): per-capita income after the
    disaster against the line, the rules of 三保障 and water (H1-H4) that still fire, labour."""
    data = policy.for_county(village[:6])
    facts = _facts(properties, policy, village, on)
    failing = [
        rule_id
        for rule_id in ("H1", "H2", "H3", "H4")
        if data["rules"][rule_id].get("enabled", True) and CHECKS[rule_id](facts, data["thresholds"])[0] is not None
    ]
    line = facts["income_line"]
    return {
        "per_capita": facts["per_capita_after"],
        "income_line": line["yuan"] if line else None,
        "failing": failing,
        "labour_level": facts["labour_level"] if facts["members"] else None,
    }


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


ORDER = {"low": 0, "medium": 1, "high": 2}


def retier(record: dict, policy: Policy, today: dt.date, at: str, cause: Mapping[str, Any]) -> bool:
    """Bring a household record's tier up to date; True if it changed (then it is in the history).

    The facts' day is the latest survey's, so the tier is a function of the record alone;
    ``today`` (the server's day) only dates a new flag, from which the deadline runs. A clerk's
    override (:func:`override`) decides the tier, shown beside the computed one, until removed or
    until new facts raise the computed tier above both the override and what it was when set.
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
    computed = result["tier"]
    chosen = _live_override(record, computed, at)
    tier = chosen["tier"] if chosen else computed
    flagged_on = previous.get("flagged_on") if previous.get("tier") == tier else None
    if tier in ("high", "medium"):
        flagged_on = flagged_on or today.isoformat()
        days = policy.for_county(record["village_code"][:6])["deadlines"][
            "high_days" if tier == "high" else "medium_days"
        ]
        result["deadline"] = (dt.date.fromisoformat(flagged_on) + dt.timedelta(days=days)).isoformat()
        result["tasks"] = [{**TASKS[tier], "due": result["deadline"]}]
    result["tier"], result["flagged_on"] = tier, flagged_on
    if chosen:
        result["computed_tier"] = computed
        result["override"] = {k: chosen[k] for k in ("tier", "reason", "by", "at")}
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
        if chosen:
            entry["override"] = chosen["tier"]
        record["tier_history"] = [*record.get("tier_history", []), entry]
    return True


def _live_override(record: dict, computed: str | None, at: str) -> dict | None:
    """The clerk's override still in force; one that new facts outgrew is ended (and kept)."""
    chosen = record.get("tier_override")
    if not chosen or computed is None:
        return None
    rank = ORDER[computed]
    if rank > ORDER[chosen["tier"]] and rank > ORDER.get(chosen.get("computed_then") or "low", 0):
        record["tier_override"] = None
        record["override_history"] = [*record.get("override_history", []), {**chosen, "ended_at": at,
                                      "ended_by": "facts", "computed": computed}]  # fmt: skip
        return None
    return chosen


def override(record: Mapping[str, Any], tier: str | None, reason: str, by: str, at: str) -> dict | None:
    """A township clerk's override (快速研判, `000_…`): the tier to use and why, or None to remove
    it. Raises :class:`OverrideRefused` (both languages) on a tier that is not one, a missing reason, or a
    household the engine has not tiered (no damage survey). ``computed_then`` keeps the computed
    tier at that moment: the override ends when new facts raise the computed tier above both."""
    computed = (record.get("tier") or {}).get("computed_tier", (record.get("tier") or {}).get("tier"))
    if tier is None:
        return None
    if tier not in ORDER:
        raise OverrideRefused("请选择高、中或低风险", "choose high, medium or low")
    if computed is None:
        raise OverrideRefused("该户还没有灾情调查，不能调整风险等级", "the household has no damage survey to tier yet")
    if len(reason.strip()) < 4:
        raise OverrideRefused("请写明调整理由（至少4个字）", "give the reason (at least 4 characters)")
    return {"tier": tier, "reason": reason.strip()[:500], "by": by, "at": at, "computed_then": computed}


class OverrideRefused(BilingualError):
    """An override that cannot be set as asked."""


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
        per_capita = _tidy(round(net * (1 - (drop or 0) / 100) / len(members), 2))
    return {
        **p,
        "members": members,
        "ages": [(m, _age(m.get("birth_date"), on)) for m in members],
        "size": len(members) or None,
        "net_income": net,
        "per_capita_after": per_capita,
        "income_line": line,
        "labour_count": sum(1 for m in members if m.get("labour") in LABOUR) if members else None,
        "labour_level": labour_level(members),
        "loss": labour_loss(p, members),
    }


def labour_level(members: Iterable[Mapping[str, Any]]) -> str:
    """The labour a household has for measures: ``normal`` (a normal or skilled worker), ``weak``, ``none``."""
    kinds = {m.get("labour") for m in members}
    return "normal" if kinds & {"normal", "skilled"} else "weak" if "weak" in kinds else "none"


def labour_loss(p: Mapping[str, Any], members: list[dict]) -> dict | None:
    """What the disaster took of the household's labour (H6), or None if nobody's labour was lost.

    The damage survey names each person who died, is missing or was seriously injured, with their
    labour before the disaster; ``members`` (the household survey) says who can work now. A casualty
    picked from the members (``<household>#<n>``, or by name) is not counted among those left. A
    survey that only answers ``main_labour_lost`` = yes counts one main earner lost: the strongest
    worker still listed, or one no longer listed as working.
    """
    hit: set[int] = set()
    lost: list[tuple[str, str | None]] = []
    for c in p.get("casualties") or []:
        if not isinstance(c, dict) or c.get("outcome") not in LOST_OUTCOMES:
            continue
        index = _member_index(c, members)
        name = c.get("name") or (members[index].get("name") if index is not None else None) or "?"
        before = c.get("labour_before") or (members[index].get("labour") if index is not None else None)
        if index is not None:
            hit.add(index)
        lost.append((name, before))
    left = [m for i, m in enumerate(members) if i not in hit and m.get("labour") in LABOUR]
    main = any(before in MAIN_LABOUR for _, before in lost)
    workers_lost = sum(1 for _, before in lost if before in LABOUR)
    if p.get("main_labour_lost") == "yes" and not main:
        main = True
        strongest = next((m for m in left if m.get("labour") in MAIN_LABOUR), None) if not lost else None
        if strongest is not None:  # not itemised: the earner the survey means is still listed as working
            left.remove(strongest)
            lost.append((strongest.get("name") or "?", strongest.get("labour")))
        workers_lost += 1
    if not lost and not main:
        return None
    names = [name for name, _ in lost]
    return {
        "main": main,
        "lost": names,
        "before": len(left) + workers_lost,
        "left": len(left),
        "left_level": labour_level(left),
    }


def _member_index(casualty: Mapping[str, Any], members: list[dict]) -> int | None:
    ref = casualty.get("member")
    if isinstance(ref, str) and "#" in ref:
        n = ref.rsplit("#", 1)[1]
        if n.isdigit() and 1 <= int(n) <= len(members):
            return int(n) - 1
    name = casualty.get("name")
    return next((i for i, m in enumerate(members) if name and m.get("name") == name), None)


def _h1(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    bad_house = f.get("house_damage") in t["high_house_damage"] or f.get("housing_grade") in t["high_housing_grades"]
    if not bad_house:
        return None, set() if f.get("house_damage") or f.get("housing_grade") else {"house_damage"}
    stuck = f.get("safe_shelter") == "no" or f.get("can_recover_alone") == "no"
    if f.get("only_dwelling") == "yes" and stuck:
        return _pick(f, "house_damage", "housing_grade", "only_dwelling", "safe_shelter", "can_recover_alone"), set()
    return None, _absent(f, "only_dwelling") | (set() if stuck else _absent(f, "safe_shelter", "can_recover_alone"))


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
    loss = f["loss"]
    if not f["members"]:  # who is left to work is unknown until a household survey lists the members
        return None, {"members"} if loss else _absent(f, "main_labour_lost")
    if loss and loss["main"] and loss["left"] <= t["labour_left_share"] * loss["before"]:
        return {"lost": "、".join(loss["lost"]), "labour_before": loss["before"], "labour_left": loss["left"]}, set()
    if loss is None and not f.get("casualties"):
        return None, _absent(f, "main_labour_lost")
    return None, set()


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
    threshold = _tidy(round(line["yuan"] * t["medium_income_multiple"], 2))
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
    category = f.get("category") if f.get("category") in t["monitored_categories"] else None
    welfare = sorted(selected(f.get("welfare")) & set(t["welfare_recipients"]))
    if (category or welfare) and damage:
        group = [x for x in (category, *welfare) if x]
        return {"group": group, "category": category, "welfare": welfare, "damage": damage}, set()
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


def _m7(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    drop = _num(f.get("income_drop_pct"))
    if drop is not None and drop >= t["medium_income_drop_pct"]:
        return {"income_drop_pct": drop}, set()
    return None, _absent(f, "income_drop_pct")


CASUALTY_WORDS = {
    "deaths": ("死亡", "died"),
    "missing": ("失踪", "missing"),
    "injured_serious": ("重伤", "seriously injured"),
}


def _m8(f: dict, t: dict) -> tuple[dict | None, set[str]]:
    relocated = f.get("relocated") if f.get("relocated") in t["relocations"] else None
    counts = {k: int(_num(f.get(k)) or 0) for k in ("deaths", "missing", "injured_serious")}
    if f["loss"] and not any(counts.values()):  # itemised only
        counts["deaths"] = len(f["loss"]["lost"])
    if not relocated and not any(counts.values()):
        return None, _absent(f, "relocated")
    parts_zh, parts_en = [], []
    if relocated:
        parts_zh.append(f"转移安置（{_choice_label('relocated', relocated, 'zh')}）")
        parts_en.append(f"relocated ({_choice_label('relocated', relocated, 'en')})")
    for key, (zh, en) in CASUALTY_WORDS.items():
        if counts[key]:
            parts_zh.append(f"{zh} {counts[key]} 人")
            parts_en.append(f"{counts[key]} {en}")
    situation = {"zh": "，".join(parts_zh), "en": ", ".join(parts_en)}
    return {"situation": situation, "relocated": relocated, **{k: v for k, v in counts.items() if v}}, set()


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
    "M7": _m7,
    "M8": _m8,
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
# Values shown by their choice label in a rule's text (the form's own list; issue 19: no codes).
LABELLED = {
    "house_damage": ("damage_survey", "house_damage"),
    "crop_loss_band": ("damage_survey", "crop_loss_band"),
    "relocated": ("damage_survey", "relocated"),
    "category": ("household_survey", "category"),
    "welfare": ("household_survey", "welfare"),
    "group": ("household_survey", ("category", "welfare")),
}


def _choice_label(field: str, value: Any, lang: str) -> str:
    form, lists = LABELLED[field]
    for name in (lists,) if isinstance(lists, str) else lists:
        for choice in current_choices(form, name):
            if choice.value == value:
                return choice.label.get(lang) or choice.label.get("zh") or str(value)
    return str(value)


def _message(rule: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, str]:
    class Blank(dict):
        def __missing__(self, key: str) -> str:
            return "?"

    def shown(key: str, value: Any, lang: str) -> Any:
        if isinstance(value, dict) and set(value) == {"zh", "en"}:
            return value[lang]
        if key in LABELLED and value is not None:
            items = value if isinstance(value, list) else [value]
            return ("、" if lang == "zh" else ", ").join(_choice_label(key, v, lang) for v in items)
        return value

    return {
        lang: rule[lang].format_map(Blank({k: shown(k, v, lang) for k, v in values.items()})) for lang in ("zh", "en")
    }


def _measures(fired: Iterable[dict], data: Mapping[str, Any], facts: Mapping[str, Any]) -> list[dict]:
    """缺什么补什么: each fired rule's measures (by labour, shelter, H7's largest part), then needs."""
    chosen: list[str] = []
    for f in fired:
        rule = data["rules"][f["id"]]
        level = facts["labour_level"]
        if f["id"] == "H6":  # who can still work after the loss
            level = facts["loss"]["left_level"]
        names = [*rule.get("measures", []), *rule.get("measures_by_labour", {}).get(level, [])]
        if facts.get("safe_shelter") == "no":
            names += rule.get("measures_without_shelter", [])
        if f["values"].get("relocated"):
            names += rule.get("measures_if_relocated", [])
        parts = {k: f["values"].get(k) or 0 for k in rule.get("measures_by_largest", {})}
        if parts and max(parts.values()) > 0:
            names += rule["measures_by_largest"][max(parts, key=lambda k: parts[k])]
        chosen += [n for n in names if n not in chosen]
    needs = data.get("needs", {})
    urgent = selected(facts.get("urgent_needs")) & set(data["thresholds"]["urgent_needs"])
    extra = [*(needs.get("urgent", []) if urgent else [])]
    extra += needs.get("loans_due", []) if facts.get("loans_due") == "yes" else []
    chosen += [n for n in extra if n not in chosen]
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


def _tidy(x: float) -> float | int:
    """4000.0 → 4000: amounts are shown in the rules' texts."""
    return int(x) if float(x).is_integer() else x


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
