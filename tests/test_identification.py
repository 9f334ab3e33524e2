"""The identification workflow (pure): every path of domain.md "Workflow" and each step refused to a
role that may not record it — normal, green channel, overdue, already monitored, eliminated then
re-entering, elimination refused for each unmet condition, a medium household started by the
township, measures as records."""

from __future__ import annotations

import datetime as dt

import pytest

from server.casework import policy as policies
from server.casework.identification import (
    STEPS,
    WHO,
    GuardRefused,
    add_measure,
    advance,
    current,
    due,
    elimination_checklist,
    next_step,
    overdue,
    owed,
)

AT = "2026-11-22T08:00:00Z"
FLAG = "2026-11-01"
CATALOGUE = policies.default().data["measures"]


def flagged(category: str = "ordinary", deadline: str = "2026-11-16") -> dict:
    return {
        "tier": {"tier": "high", "flagged_on": FLAG, "deadline": deadline},
        "properties": {"category": category, "members": [{"labour": "normal"}, {"labour": "none"}]},
        "tier_history": [{"at": "2026-11-01T02:00:00Z", "tier": "high"}],
    }


# (step, day, form) of the whole path; WHO says who records each
PATH = [
    ("verified", "2026-11-02", {"consent": "1"}),
    ("village_reviewed", "2026-11-03", {"publicity_start": "2026-11-03"}),
    ("township_reviewed", "2026-11-08", {}),
    ("dept_checked", "2026-11-09", {"findings": "民政、人社、医保数据与申报一致"}),
    ("county_approved", "2026-11-10", {}),
    ("announced", "2026-11-11", {"announced_on": "2026-11-11"}),
    ("monitored", "2026-11-12", {"category": "sudden_hardship"}),
]


def walk(record: dict, *steps: tuple[str, str, dict]) -> dict:
    for n, (to, day, form) in enumerate(steps):
        step = advance(record, to, WHO[to], f"{WHO[to]}-user", AT, dt.date.fromisoformat(day), form, f"k{to}{n}")
        record["identification"] = step
    return record


def test_a_high_tier_flags_at_once_with_the_policy_deadline():
    ident = current(flagged(deadline="2026-11-11"))  # a county with a 10-day deadline
    assert ident["step"] == "flagged" and ident["kind"] == "identification" and due(ident) == "2026-11-11"
    assert overdue(ident, dt.date(2026, 11, 12)) and not overdue(ident, dt.date(2026, 11, 11))
    assert current({"tier": {"tier": "medium", "flagged_on": FLAG}}) is None  # a follow-up visit, not identification
    assert current({"tier": {"tier": "low"}}) is None


def test_the_normal_path_records_each_step_with_its_role():
    record = walk(flagged(), *PATH)
    ident = record["identification"]
    assert ident["step"] == "monitored" and ident["category"] == "sudden_hardship"
    assert [(h["step"], h["role"]) for h in ident["history"]] == [(s, WHO[s]) for s, _, _ in PATH]
    assert [WHO[s] for s, _, _ in PATH] == ["clerk", "village", "clerk", "county", "county", "village", "clerk"]
    assert ident["dept_findings"] and ident["announced_on"] == "2026-11-11" and ident["monitored_on"] == "2026-11-12"
    assert not overdue(ident, dt.date(2026, 12, 31))  # the county's approval stopped the clock
    again = advance(record, "monitored", "clerk", "c", AT, dt.date(2026, 11, 12), PATH[-1][2], "kmonitored6")
    assert again is None  # the same action key: a resubmitted form changes nothing


@pytest.mark.parametrize("done", range(len(PATH)))
@pytest.mark.parametrize("role", ["clerk", "village", "county", "admin", "field"])
def test_each_step_is_refused_to_a_role_that_may_not_record_it(done, role):
    record = walk(flagged(), *PATH[:done])
    to, day, form = PATH[done]
    if role == WHO[to]:
        assert advance(record, to, role, "u", AT, dt.date.fromisoformat(day), form, "kx")["step"] == to
        return
    with pytest.raises(GuardRefused) as refused:
        advance(record, to, role, "u", AT, dt.date.fromisoformat(day), form, "kx")
    assert "记录" in refused.value.zh and "recorded by" in refused.value.en


@pytest.mark.parametrize(
    ("done", "to", "day", "form", "says"),
    [
        (0, "village_reviewed", "2026-11-02", {"publicity_start": "2026-11-02"}, "下一步不是"),  # skipping a step
        (0, "verified", "2026-11-02", {}, "承诺授权书"),
        (1, "village_reviewed", "2026-11-03", {}, "公示开始日期"),
        (1, "village_reviewed", "2026-11-03", {"publicity_start": "2026-11-04"}, "不晚于今天"),
        (2, "township_reviewed", "2026-11-07", {}, "公示不少于5天"),  # 4 days of notice only
        (3, "dept_checked", "2026-11-09", {"findings": "  "}, "部门比对结果"),
        (5, "announced", "2026-11-11", {"announced_on": "2026-11-12"}, "公告日期"),
        (6, "monitored", "2026-11-12", {"category": "rich"}, "监测对象类别"),
    ],
)
def test_guards_refuse_with_a_reason_in_both_languages(done, to, day, form, says):
    record = walk(flagged(), *PATH[:done])
    with pytest.raises(GuardRefused) as refused:
        advance(record, to, WHO[to], "u", AT, dt.date.fromisoformat(day), form, "kx")
    assert says in refused.value.zh and refused.value.en


def test_green_channel_includes_first_and_the_steps_stay_owed_with_the_same_deadline():
    record = flagged()
    record["identification"] = add_measure(
        record, "clerk", {"type": "temporary_relief", "unit": "镇民政办", "amount": "2000", "first_relief": "1"},
        CATALOGUE, "clerk", AT, dt.date(2026, 11, 1), "m1",
    )  # fmt: skip
    record = walk(record, PATH[0])
    with pytest.raises(GuardRefused, match="类别"):
        advance(record, "provisional", "county", "c", AT, dt.date(2026, 11, 2), {}, "p1")
    with pytest.raises(GuardRefused, match="记录"):
        advance(record, "provisional", "clerk", "c", AT, dt.date(2026, 11, 2), {"category": "marginal"}, "p1")
    ident = advance(record, "provisional", "county", "c", AT, dt.date(2026, 11, 2), {"category": "marginal"}, "p1")
    record["identification"] = ident
    assert ident["provisional"] == {"on": "2026-11-02", "by": "c"} and ident["step"] == "verified"
    assert owed(ident) == list(STEPS[2:]) and due(ident) == "2026-11-16"
    assert overdue(ident, dt.date(2026, 11, 17))  # included first, yet the identification is still owed
    with pytest.raises(GuardRefused, match="已经先行纳入"):
        advance(record, "provisional", "county", "c", AT, dt.date(2026, 11, 3), {"category": "marginal"}, "p2")
    done = walk(record, *PATH[1:-1], ("monitored", "2026-11-12", {}))["identification"]
    assert done["category"] == "marginal" and done["monitored_on"] == "2026-11-02"  # monitored from the inclusion
    [measure] = done["measures"]
    assert measure["amount"] == 2000 and measure["paperwork_owed"] == ["reason", "amount", "signatures"]


def test_a_household_monitored_already_gets_a_measure_review_not_a_new_identification():
    record = flagged(category="monitored")
    ident = current(record)
    assert ident["kind"] == "measure_review" and ident["step"] == "review_due" and next_step(ident) == "reviewed"
    with pytest.raises(GuardRefused, match="下一步不是"):
        advance(record, "verified", "clerk", "c", AT, dt.date(2026, 11, 2), {"consent": "1"}, "v1")
    with pytest.raises(GuardRefused, match="如何调整"):
        advance(record, "reviewed", "clerk", "c", AT, dt.date(2026, 11, 2), {}, "r1")
    with pytest.raises(GuardRefused, match="记录"):
        advance(record, "reviewed", "county", "c", AT, dt.date(2026, 11, 2), {"note": "增加公益性岗位"}, "r1")
    assert overdue(ident, dt.date(2026, 11, 17))
    done = advance(record, "reviewed", "clerk", "c", AT, dt.date(2026, 11, 2), {"note": "增加公益性岗位"}, "r1")
    assert done["step"] == "reviewed" and not overdue(done, dt.date(2027, 1, 1)) and next_step(done) is None


GOOD = {"per_capita": 9000, "income_line": 6000, "failing": [], "labour_level": "normal"}


def monitored_with_measure() -> dict:
    record = walk(flagged(), *PATH)
    record["identification"] = add_measure(
        record, "county", {"type": "public_welfare_jobs", "unit": "县人社局", "official": "张干部"},
        CATALOGUE, "county", AT, dt.date(2026, 11, 20), "m1",
    )  # fmt: skip
    return walk(record, ("elimination_reviewed", "2027-05-13", {"publicity_start": "2027-05-13"}))


def test_eliminated_then_a_new_disaster_starts_a_new_cycle_keeping_the_old_one():
    record = monitored_with_measure()
    ident = record["identification"]
    checklist = elimination_checklist(ident, dt.date(2027, 5, 18), GOOD, {"income_stable": "1"})
    assert all(c["ok"] for c in checklist) and len(checklist) == 7
    with pytest.raises(GuardRefused, match="公示不少于5天"):
        advance(record, "eliminated", "county", "c", AT, dt.date(2027, 5, 17), {}, "e1", checklist=checklist)
    with pytest.raises(GuardRefused, match="记录"):
        advance(record, "eliminated", "clerk", "c", AT, dt.date(2027, 5, 18), {}, "e1", checklist=checklist)
    record["identification"] = advance(
        record, "eliminated", "county", "c", "2027-05-18T08:00:00Z", dt.date(2027, 5, 18), {}, "e1", checklist=checklist
    )
    assert current(record)["step"] == "eliminated"
    record["tier"] = {"tier": "high", "flagged_on": "2027-08-02", "deadline": "2027-08-17"}
    record["tier_history"].append({"at": "2027-08-02T01:00:00Z", "tier": "high"})  # a new disaster's survey
    again = current(record)
    assert again["step"] == "flagged" and again["cycle"] == 2 and again["due"] == "2027-08-17"
    assert [c["step"] for c in again["earlier_cycles"]] == ["eliminated"]
    record["identification"] = advance(
        record, "verified", "clerk", "c", AT, dt.date(2027, 8, 3), {"consent": "1"}, "v2"
    )
    assert record["identification"]["cycle"] == 2 and record["identification"]["earlier_cycles"][0]["category"]


@pytest.mark.parametrize(
    ("unmet", "day", "facts", "form"),
    [
        ("months", "2027-05-11", GOOD, {"income_stable": "1"}),  # monitored since 2026-11-12: a day short
        ("income", "2027-05-18", {**GOOD, "per_capita": 5999}, {"income_stable": "1"}),
        ("stable", "2027-05-18", GOOD, {}),
        ("guarantees", "2027-05-18", {**GOOD, "failing": ["H2"]}, {"income_stable": "1"}),
        ("labour", "2027-05-18", {**GOOD, "labour_level": "none"}, {"income_stable": "1"}),
    ],
)
def test_elimination_is_refused_for_each_unmet_condition(unmet, day, facts, form):
    record = monitored_with_measure()
    today = dt.date.fromisoformat(day)
    checklist = elimination_checklist(record["identification"], today, facts, form)
    assert [c["id"] for c in checklist if not c["ok"]] == [unmet]
    with pytest.raises(GuardRefused) as refused:
        advance(
            record, "eliminated", "county", "c", AT, max(today, dt.date(2027, 5, 18)), {}, "e1", checklist=checklist
        )
    assert "不符合风险消除条件" in refused.value.zh and refused.value.en


def test_elimination_needs_a_measure_and_the_villages_notice():
    record = walk(flagged(), *PATH)
    ident = record["identification"]
    failed = [
        c["id"] for c in elimination_checklist(ident, dt.date(2027, 6, 1), GOOD, {"income_stable": "1"}) if not c["ok"]
    ]
    assert failed == ["measure", "notice"]
    with pytest.raises(GuardRefused, match="下一步不是"):  # the village's review and notice come first
        advance(record, "eliminated", "county", "c", AT, dt.date(2027, 6, 1), {}, "e1", checklist=[])


def test_the_township_starts_the_identification_of_a_medium_household():
    medium = {"tier": {"tier": "medium", "flagged_on": FLAG}, "properties": {}}
    with pytest.raises(GuardRefused, match="记录"):
        advance(medium, "start", "village", "v", AT, dt.date(2026, 11, 5), {}, "s1")
    ident = advance(medium, "start", "clerk", "c", AT, dt.date(2026, 11, 5), {}, "s1", deadlines={"high_days": 10})
    assert ident["step"] == "flagged" and ident["flagged_on"] == "2026-11-05" and due(ident) == "2026-11-15"
    medium["identification"] = ident
    assert advance(medium, "start", "clerk", "c", AT, dt.date(2026, 11, 5), {}, "s1") is None  # the same key
    with pytest.raises(GuardRefused, match="已在识别"):
        advance(medium, "start", "clerk", "c", AT, dt.date(2026, 11, 6), {}, "s2")
    with pytest.raises(GuardRefused, match="中风险"):
        advance({"tier": {"tier": "low"}}, "start", "clerk", "c", AT, dt.date(2026, 11, 5), {}, "s3")


@pytest.mark.parametrize(
    ("role", "measure", "says"),
    [
        ("village", {"type": "temporary_relief", "unit": "村"}, "乡镇或县级"),
        ("clerk", {"type": "cash", "unit": "镇民政办"}, "目录"),
        ("clerk", {"type": "temporary_relief", "unit": " "}, "责任单位"),
        ("clerk", {"type": "temporary_relief", "unit": "镇民政办", "amount": "-5"}, "金额"),
        ("clerk", {"type": "temporary_relief", "unit": "镇民政办", "amount": "lots"}, "金额"),
        ("clerk", {"type": "temporary_relief", "unit": "镇民政办", "date": "2026-11-03"}, "晚于今天"),
    ],
)
def test_a_measure_is_a_record_from_the_catalogue(role, measure, says):
    with pytest.raises(GuardRefused) as refused:
        add_measure(flagged(), role, measure, CATALOGUE, "u", AT, dt.date(2026, 11, 2), "m1")
    assert says in refused.value.zh and refused.value.en


def test_a_measure_keeps_its_fields_once_per_key():
    record = flagged()
    form = {
        "type": "microcredit_extension",
        "unit": "县农商行",
        "official": "李四",
        "date": "2026-11-01",
        "amount": "50000",
    }
    record["identification"] = add_measure(record, "clerk", form, CATALOGUE, "c", AT, dt.date(2026, 11, 2), "m1")
    assert add_measure(record, "clerk", form, CATALOGUE, "c", AT, dt.date(2026, 11, 2), "m1") is None
    [kept] = record["identification"]["measures"]
    assert {k: kept[k] for k in ("type", "unit", "official", "date", "amount", "first_relief", "paperwork_owed")} == {
        "type": "microcredit_extension", "unit": "县农商行", "official": "李四", "date": "2026-11-01",
        "amount": 50000.0, "first_relief": False, "paperwork_owed": [],
    }  # fmt: skip
