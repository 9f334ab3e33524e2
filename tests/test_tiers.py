"""The tier engine: a scenario table (every rule alone, combinations, boundaries, missing data),
county overrides, deadlines, and property tests (monotonicity, order independence)."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.casework import policy as policies
from server.casework.tiers import assess, retier

ON = dt.date(2026, 11, 22)
CQ = "500112104201"  # Chongqing: national floor L = 6000 (2021)
YN = "530102001001"  # Yunnan: L = 8700 (2025)
LZ = "410581100200"  # Linzhou: L = 7500 (2023)
POLICY = policies.default()


def adult(name: str, born: str, **over) -> dict:
    member = {
        "name": name,
        "birth_date": born,
        "sex": "female",
        "relation": "head",
        "health": "healthy",
        "labour": "normal",
        "medical_insurance": "yes",
    }
    return {**member, **over}


def child(name: str, age: int, birthday_passed: bool = True, **over) -> dict:
    born = dt.date(ON.year - age, ON.month, ON.day) if birthday_passed else dt.date(ON.year - age - 1, 12, 31)
    return adult(name, born.isoformat(), relation="child", labour="none", **over)


BASE = {
    "members": [adult("户主", "1970-03-01"), adult("配偶", "1972-05-01", relation="spouse", sex="male")],
    "income_wage": 30000,
    "income_business": 0,
    "income_property": 0,
    "income_transfer": 0,
    "cost_business": 0,
    "last_year_income": 30000,
    "expense_medical_oop": 0,
    "expense_education": 0,
    "category": "ordinary",
    "water_quantity_ok": "yes",
    "water_quality_ok": "yes",
    "disaster_date": "2026-11-18",
    "house_damage": "none",
    "crop_loss_band": "none",
    "crops_main_income": "no",
    "livestock_lost": 0,
    "water_cut_days": 0,
    "direct_loss_yuan": 0,
    "income_drop_pct": 0,
    "main_labour_lost": "no",
}


def per_capita(amount: float) -> dict:
    """Incomes giving exactly ``amount`` per person after the disaster (two members, no drop)."""
    return {"income_wage": amount * 2}


def members(*extra: dict) -> dict:
    return {"members": [*BASE["members"], *extra]}


LOST = {"labour": "lost"}
CASES = [
    # name, changes, village, tier, rule ids (of the deciding tier)
    ("unaffected household is low", {}, CQ, "low", []),
    (
        "H1 collapsed, only dwelling, no shelter",
        {"house_damage": "collapsed", "only_dwelling": "yes", "safe_shelter": "no"},
        CQ,
        "high",
        ["H1"],
    ),
    (
        "H1 severe, only dwelling, no shelter",
        {"house_damage": "severe", "only_dwelling": "yes", "safe_shelter": "no"},
        CQ,
        "high",
        ["H1"],
    ),
    (
        "H1 grade D house, no damage recorded",
        {"housing_grade": "D", "only_dwelling": "yes", "safe_shelter": "no"},
        CQ,
        "high",
        ["H1"],
    ),
    (
        "collapsed but a safe shelter: M1",
        {"house_damage": "collapsed", "only_dwelling": "yes", "safe_shelter": "yes"},
        CQ,
        "medium",
        ["M1"],
    ),
    (
        "collapsed, not the only dwelling: M1",
        {"house_damage": "collapsed", "only_dwelling": "no", "safe_shelter": "no"},
        CQ,
        "medium",
        ["M1"],
    ),
    ("minor damage: M1", {"house_damage": "minor"}, CQ, "medium", ["M1"]),
    (
        "grade C house, not only dwelling: low",
        {"housing_grade": "C", "only_dwelling": "no", "safe_shelter": "no"},
        CQ,
        "low",
        [],
    ),
    ("H1 with only_dwelling missing: M1 only", {"house_damage": "severe", "safe_shelter": "no"}, CQ, "medium", ["M1"]),
    ("water cut exactly 30 days: not H2", {"water_cut_days": 30}, CQ, "low", []),
    ("H2 water cut 31 days", {"water_cut_days": 31}, CQ, "high", ["H2"]),
    ("H2 water quality not ok", {"water_quality_ok": "no"}, CQ, "high", ["H2"]),
    ("H2 water quantity not ok", {"water_quantity_ok": "no"}, CQ, "high", ["H2"]),
    ("H3 child aged exactly 6 out of school", members(child("小明", 6, out_of_school="yes")), CQ, "high", ["H3"]),
    ("H3 child aged 15 out of school", members(child("小明", 15, out_of_school="yes")), CQ, "high", ["H3"]),
    ("aged 16 today, out of school: not H3", members(child("小明", 16, out_of_school="yes")), CQ, "low", []),
    (
        "turns 16 only next year: still H3",
        members(child("小明", 15, birthday_passed=False, out_of_school="yes")),
        CQ,
        "high",
        ["H3"],
    ),
    ("aged 5: not H3", members(child("小明", 5, out_of_school="yes")), CQ, "low", []),
    ("child in school: low", members(child("小明", 10, out_of_school="no")), CQ, "low", []),
    (
        "H4 seriously ill without insurance",
        members(
            adult("老人", "1940-01-01", relation="parent", health="serious", medical_insurance="no", labour="none")
        ),
        CQ,
        "high",
        ["H4"],
    ),
    (
        "seriously ill with insurance: M6",
        members(adult("老人", "1940-01-01", relation="parent", health="serious", labour="none")),
        CQ,
        "medium",
        ["M6"],
    ),
    (
        "M6 disability grade 2",
        members(adult("老人", "1940-01-01", relation="parent", health="disabled", disability_grade=2, labour="none")),
        CQ,
        "medium",
        ["M6"],
    ),
    (
        "disability grade 3: low",
        members(adult("老人", "1940-01-01", relation="parent", health="disabled", disability_grade=3, labour="none")),
        CQ,
        "low",
        [],
    ),
    ("per capita exactly L: M3 not H5", per_capita(6000), CQ, "medium", ["M3"]),
    ("H5 per capita just below L", per_capita(5999.5), CQ, "high", ["H5"]),
    ("per capita exactly 1.5 L: low", per_capita(9000), CQ, "low", []),
    ("M3 per capita just below 1.5 L", per_capita(8999.5), CQ, "medium", ["M3"]),
    ("income drop 50 %: per capita = L, M3", {"income_wage": 24000, "income_drop_pct": 50}, CQ, "medium", ["M3"]),
    ("income drop 51 %: H5", {"income_wage": 24000, "income_drop_pct": 51}, CQ, "high", ["H5"]),
    ("Yunnan line 8700: 8000 is H5", per_capita(8000), YN, "high", ["H5"]),
    ("Chongqing floor 6000: 8000 is M3", per_capita(8000), CQ, "medium", ["M3"]),
    (
        "Yunnan before its 2025 line: national floor",
        {**per_capita(8000), "disaster_date": "2024-07-01"},
        YN,
        "medium",
        ["M3"],
    ),
    (
        "Linzhou 2023 line 7500: 1.5 L = 11250",
        {**per_capita(11249), "disaster_date": "2024-07-01"},
        LZ,
        "medium",
        ["M3"],
    ),
    ("Linzhou at 11250: low", {**per_capita(11250), "disaster_date": "2024-07-01"}, LZ, "low", []),
    (
        "H6 main labour lost, nobody can work",
        {
            "main_labour_lost": "yes",
            "members": [
                adult("户主", "1950-01-01", **LOST),
                adult("配偶", "1952-01-01", relation="spouse", sex="male", **LOST),
            ],
        },
        CQ,
        "high",
        ["H6"],
    ),
    (
        "main labour lost, a weak worker left: low",
        {
            "main_labour_lost": "yes",
            "members": [
                adult("户主", "1950-01-01", **LOST),
                adult("配偶", "1952-01-01", relation="spouse", sex="male", labour="weak"),
            ],
        },
        CQ,
        "low",
        [],
    ),
    (
        "H7 rigid expenses above last year's income",
        {"expense_medical_oop": 10000, "expense_education": 5000, "direct_loss_yuan": 15001},
        CQ,
        "high",
        ["H7"],
    ),
    (
        "rigid expenses equal to last year's income",
        {"expense_medical_oop": 10000, "expense_education": 5000, "direct_loss_yuan": 15000},
        CQ,
        "low",
        [],
    ),
    (
        "M2 crop loss 30-80 % and main income",
        {"crop_loss_band": "p30_80", "crops_main_income": "yes"},
        CQ,
        "medium",
        ["M2"],
    ),
    (
        "M2 total crop loss and main income",
        {"crop_loss_band": "ge80", "crops_main_income": "yes"},
        CQ,
        "medium",
        ["M2"],
    ),
    ("crop loss 10-30 %: low", {"crop_loss_band": "p10_30", "crops_main_income": "yes"}, CQ, "low", []),
    ("crop loss not the main income: low", {"crop_loss_band": "ge80", "crops_main_income": "no"}, CQ, "low", []),
    ("medical oop exactly 50 %: low", {"expense_medical_oop": 15000}, CQ, "low", []),
    ("M4 medical oop above 50 %", {"expense_medical_oop": 15001}, CQ, "medium", ["M4"]),
    ("M5 lifted household lost livestock", {"category": "lifted", "livestock_lost": 1}, CQ, "medium", ["M5"]),
    ("M5 monitored household, a member injured", {"category": "monitored", "injured_minor": 1}, CQ, "medium", ["M5"]),
    ("lifted household with no damage: low", {"category": "lifted"}, CQ, "low", []),
    ("ordinary household lost livestock: low", {"livestock_lost": 3}, CQ, "low", []),
    (
        "H1 and H2 together",
        {"house_damage": "collapsed", "only_dwelling": "yes", "safe_shelter": "no", "water_cut_days": 60},
        CQ,
        "high",
        ["H1", "H2"],
    ),
    (
        "high hides medium reasons",
        {"water_cut_days": 60, "crop_loss_band": "ge80", "crops_main_income": "yes"},
        CQ,
        "high",
        ["H2"],
    ),
    (
        "M1, M2 and M5 together",
        {"house_damage": "minor", "crop_loss_band": "ge80", "crops_main_income": "yes", "category": "lifted"},
        CQ,
        "medium",
        ["M1", "M2", "M5"],
    ),
    ("incomes missing: income rules cannot fire", {"income_wage": None}, CQ, "low", []),
    ("no members: income and member rules cannot fire", {"members": []}, CQ, "low", []),
]


@pytest.mark.parametrize(("name", "changes", "village", "tier", "rules"), CASES, ids=[c[0] for c in CASES])
def test_scenario(name, changes, village, tier, rules):
    props = {**copy.deepcopy(BASE), **changes}
    result = assess(props, True, POLICY, village, ON, flagged_on=ON)
    assert result["tier"] == tier
    assert [r["id"] for r in result["rules"]] == rules
    assert result["policy_version"] == POLICY.version
    for rule in result["rules"]:
        assert rule["message"]["zh"] and rule["message"]["en"] and "?" not in rule["message"]["en"]


def test_the_table_covers_every_rule_alone_and_forty_households():
    alone = {c[4][0] for c in CASES if len(c[4]) == 1}
    assert alone == set(policies.RULE_IDS) and len(CASES) >= 40


def test_no_damage_survey_no_tier():
    result = assess(copy.deepcopy(BASE), False, POLICY, CQ, ON)
    assert result["tier"] is None and result["rules"] == [] and result["deadline"] is None


def test_reasons_values_measures_and_deadlines():
    high = assess({**BASE, "income_wage": 10000}, True, POLICY, CQ, ON, flagged_on=ON, provisional=False)
    [h5] = high["rules"]
    assert h5["values"]["per_capita_after"] == 5000 and h5["values"]["income_line"] == 6000
    assert "5000" in h5["message"]["zh"] and "6000" in h5["message"]["en"]
    assert [m["id"] for m in high["measures"]] == ["employment", "industry"]  # H5 with labour
    assert high["deadline"] == "2026-12-07" and high["provisional"] is False
    no_labour = [
        adult("户主", "1950-01-01", **LOST),
        adult("配偶", "1952-01-01", relation="spouse", sex="male", **LOST),
    ]
    both = assess({**BASE, "income_wage": 10000, "members": no_labour, "main_labour_lost": "yes"}, True, POLICY, CQ, ON)
    assert [r["id"] for r in both["rules"]] == ["H5", "H6"]
    assert [m["id"] for m in both["measures"]] == ["social_assistance"] and both["deadline"] is None  # not flagged yet
    medium = assess({**BASE, "house_damage": "minor"}, True, POLICY, CQ, ON, flagged_on=ON)
    assert medium["deadline"] == "2026-12-22" and medium["measures"][0]["zh"] == "住房安全保障"
    assert assess(BASE, True, POLICY, CQ, ON, flagged_on=ON)["deadline"] is None
    missing = assess({**BASE, "income_wage": None, "house_damage": None}, True, POLICY, CQ, ON)
    assert {"income", "house_damage"} <= set(missing["missing"])


def test_county_override_changes_thresholds_lines_and_switches_rules_off():
    text = (
        policies.DEFAULT_PATH.read_text(encoding="utf-8")
        + """
[counties."500112".thresholds]
water_cut_days = 20

[[counties."500112".income_lines]]
area = "500112"
year = 2026
yuan = 9000
source = "渝北区 2026（示例）"

[counties."500112".rules.M5]
enabled = false
"""
    )
    county = policies.parse(text, "county.toml")
    assert assess({**BASE, "water_cut_days": 25}, True, county, CQ, ON)["tier"] == "high"
    assert assess({**BASE, "water_cut_days": 25}, True, county, "500113001001", ON)["tier"] == "low"  # next county
    assert [r["id"] for r in assess({**BASE, **per_capita(8000)}, True, county, CQ, ON)["rules"]] == ["H5"]
    assert assess({**BASE, "category": "lifted", "livestock_lost": 1}, True, county, CQ, ON)["tier"] == "low"


def test_policy_errors_name_line_and_key_in_both_languages():
    text = policies.DEFAULT_PATH.read_text(encoding="utf-8")
    broken = text.replace("high_days = 15", "high_days = -15").replace(
        'tier = "medium"\nzh = "住房受损', 'tier = "urgent"\nzh = "住房受损'
    )
    broken += '\n[rules.H9]\ntier = "high"\n'
    with pytest.raises(policies.PolicyError) as err:
        policies.parse(broken, "broken.toml")
    found = {(p.key, p.line) for p in err.value.problems}
    lines = broken.splitlines()
    assert (
        "deadlines.high_days",
        lines.index("high_days = -15     # 高风险：15 日内完成监测对象识别（先帮扶后履行程序）") + 1,
    ) in found
    assert ("rules.M1.tier", lines.index('tier = "urgent"') + 1) in found
    assert ("rules.H9", lines.index("[rules.H9]") + 1) in found
    assert all(p.zh and p.en for p in err.value.problems)
    with pytest.raises(policies.PolicyError) as syntax:
        policies.parse("[policy\n", "x.toml")
    assert syntax.value.problems[0].line == 1


# -- properties ----------------------------------------------------------------------------------
ORDER = {"high": 2, "medium": 1, "low": 0}
HOUSE = ["none", "minor", "severe", "collapsed"]
CROPS = ["none", "lt10", "p10_30", "p30_80", "ge80"]

households = st.fixed_dictionaries(
    {
        "house_damage": st.sampled_from(HOUSE),
        "crop_loss_band": st.sampled_from(CROPS),
        "water_cut_days": st.integers(0, 60),
        "income_drop_pct": st.integers(0, 100),
        "direct_loss_yuan": st.integers(0, 60000),
        "livestock_lost": st.integers(0, 5),
        "injured_minor": st.integers(0, 2),
        "income_wage": st.integers(0, 60000),
        "income_transfer": st.integers(0, 10000),
        "last_year_income": st.integers(0, 60000),
        "expense_medical_oop": st.integers(0, 40000),
        "only_dwelling": st.sampled_from(["yes", "no"]),
        "safe_shelter": st.sampled_from(["yes", "no"]),
        "crops_main_income": st.sampled_from(["yes", "no"]),
        "category": st.sampled_from(["lifted", "monitored", "ordinary", "eliminated"]),
        "main_labour_lost": st.sampled_from(["yes", "no"]),
        "labour": st.sampled_from(["normal", "weak", "lost", "none"]),
    }
)


def household(draw: dict) -> dict:
    props = {**copy.deepcopy(BASE), **{k: v for k, v in draw.items() if k != "labour"}}
    props["members"][1]["labour"] = draw["labour"]
    return props


def worse(props: dict, data: st.DataObject) -> dict:
    """The same household with more damage or less income, one change at a time."""
    changed = copy.deepcopy(props)
    field = data.draw(
        st.sampled_from(
            ["house", "crops", "water", "drop", "loss", "livestock", "injured", "wage", "transfer", "last_year", "oop"]
        )
    )
    up = data.draw(st.integers(0, 30000))
    if field == "house":
        changed["house_damage"] = data.draw(st.sampled_from(HOUSE[HOUSE.index(props["house_damage"]) :]))
    elif field == "crops":
        changed["crop_loss_band"] = data.draw(st.sampled_from(CROPS[CROPS.index(props["crop_loss_band"]) :]))
    elif field == "water":
        changed["water_cut_days"] += up % 60
    elif field == "drop":
        changed["income_drop_pct"] = data.draw(st.integers(props["income_drop_pct"], 100))
    elif field == "loss":
        changed["direct_loss_yuan"] += up
    elif field == "livestock":
        changed["livestock_lost"] += up % 5
    elif field == "injured":
        changed["injured_minor"] += up % 2
    elif field == "oop":
        changed["expense_medical_oop"] += up
    else:
        key = {"wage": "income_wage", "transfer": "income_transfer", "last_year": "last_year_income"}[field]
        changed[key] = max(0, changed[key] - up)
    return changed


@settings(max_examples=400, deadline=None)
@given(households, st.data(), st.sampled_from([CQ, YN, LZ]))
def test_more_damage_or_less_income_never_lowers_the_tier(draw, data, village):
    props = household(draw)
    before = assess(props, True, POLICY, village, ON)["tier"]
    after = assess(worse(props, data), True, POLICY, village, ON)["tier"]
    assert ORDER[after] >= ORDER[before]


@settings(max_examples=200, deadline=None)
@given(households, st.randoms(use_true_random=False))
def test_the_tier_does_not_depend_on_field_or_member_order(draw, rng):
    props = household(draw)
    props["members"].append(child("小明", 9, out_of_school="yes" if draw["labour"] == "none" else "no"))
    items = list(props.items())
    rng.shuffle(items)
    shuffled = dict(items)
    shuffled["members"] = rng.sample(props["members"], len(props["members"]))
    first, second = (assess(p, True, POLICY, CQ, ON, flagged_on=ON) for p in (props, shuffled))
    assert first["tier"] == second["tier"] and [r["id"] for r in first["rules"]] == [r["id"] for r in second["rules"]]
    assert first["measures"] == second["measures"]


@settings(max_examples=60, deadline=None)
@given(st.lists(households, min_size=1, max_size=4), st.randoms(use_true_random=False))
def test_the_tier_does_not_depend_on_arrival_order(surveys, rng):
    """Surveys of one household from several tablets, delivered in two orders: the same tier."""
    from server.households import model as hh

    def deliver(order: list[int]) -> dict:
        record = hh.new_record(CQ + "-0001", CQ, {}, "roster", "2026-11-01T00:00:00Z")
        for i in order:
            doc = {
                "_id": f"submission:s{i}",
                "_rev": "1-a",
                "form_id": "damage_survey",
                "household_id": CQ + "-0001",
                "household_base_version": 0,
                "device_id": f"tab-{i}",
                "device_seq": 1,
                "completed_at": f"2026-11-2{i % 3}T0{i}:00:00+08:00",
            }
            hh.apply_submission(record, doc, household(surveys[i]), "2026-11-22T00:00:00Z")
            retier(record, POLICY, ON, "2026-11-22T00:00:00Z", {"kind": "test"})
        return record["tier"]

    order = list(range(len(surveys)))
    first, second = deliver(order), deliver(rng.sample(order, len(order)))
    assert first["tier"] == second["tier"] and first["rules"] == second["rules"]
    assert first["measures"] == second["measures"]
