"""Identification steps and guards (pure): order, consent, publicity ≥ 5 days, category,
elimination only after 6 months with a measure and stable income, never without labour."""

from __future__ import annotations

import datetime as dt

import pytest

from server.casework.identification import GuardRefused, add_measure, advance, current, due, overdue

AT = "2026-11-22T08:00:00Z"
FLAG = "2026-11-01"


def flagged(labour=("normal", "none")) -> dict:
    return {
        "tier": {"tier": "high", "flagged_on": FLAG},
        "properties": {"members": [{"labour": x} for x in labour]},
    }


def walk(record: dict, *steps: tuple[str, str, dict]) -> dict:
    for n, (to, day, form) in enumerate(steps):
        record["identification"] = advance(record, to, "clerk", AT, dt.date.fromisoformat(day), form, f"k{n}")
    return record


FULL = [
    ("verified", "2026-11-02", {"consent": "1"}),
    ("village_reviewed", "2026-11-03", {"publicity_start": "2026-11-03"}),
    ("township_reviewed", "2026-11-08", {}),
    ("county_approved", "2026-11-09", {}),
    ("monitored", "2026-11-10", {"category": "sudden_hardship"}),
]


def test_a_high_tier_household_is_flagged_with_a_15_day_deadline():
    ident = current(flagged())
    assert ident["step"] == "flagged" and due(ident) == "2026-11-16"
    assert overdue(ident, dt.date(2026, 11, 17)) and not overdue(ident, dt.date(2026, 11, 16))
    assert current({"tier": {"tier": "low"}}) is None


def test_the_whole_path_in_order_records_each_step():
    record = walk(flagged(), *FULL)
    ident = record["identification"]
    assert ident["step"] == "monitored" and ident["category"] == "sudden_hardship"
    assert [h["step"] for h in ident["history"]] == [s for s, _, _ in FULL]
    assert not overdue(ident, dt.date(2026, 12, 31))  # county approval stopped the clock
    assert advance(record, "eliminated", "clerk", AT, dt.date(2027, 6, 1), {}, "k0") is None  # key seen: no-op


@pytest.mark.parametrize(
    ("done", "to", "day", "form", "says"),
    [
        (0, "village_reviewed", "2026-11-02", {}, "下一步不是"),  # skipping a step
        (0, "verified", "2026-11-02", {}, "承诺授权书"),
        (1, "village_reviewed", "2026-11-03", {}, "公示开始日期"),
        (1, "village_reviewed", "2026-11-03", {"publicity_start": "2026-11-04"}, "不晚于今天"),
        (2, "township_reviewed", "2026-11-07", {}, "公示不少于5天"),  # 4 days of notice only
        (4, "monitored", "2026-11-10", {"category": "rich"}, "监测对象类别"),
        (5, "eliminated", "2027-05-09", {"income_stable": "1"}, "满6个月"),  # one day short
        (5, "eliminated", "2027-05-10", {"income_stable": "1"}, "至少落实一项"),
    ],
)
def test_guards_refuse_with_a_reason_in_both_languages(done, to, day, form, says):
    record = walk(flagged(), *FULL[:done])
    with pytest.raises(GuardRefused) as refused:
        advance(record, to, "clerk", AT, dt.date.fromisoformat(day), form, "kx")
    assert says in refused.value.zh and refused.value.en


def test_elimination_needs_six_months_a_measure_and_stable_income_and_never_without_labour():
    record = walk(flagged(), *FULL)
    record["identification"] = add_measure(record, "临时救助", "发放 2000 元", "clerk", AT, "m1")
    with pytest.raises(GuardRefused, match="收入稳定"):
        advance(record, "eliminated", "clerk", AT, dt.date(2027, 5, 10), {}, "e1")
    done = advance(record, "eliminated", "clerk", AT, dt.date(2027, 5, 10), {"income_stable": "1"}, "e1")
    assert done["step"] == "eliminated"
    no_labour = walk(flagged(labour=("lost", "none")), *FULL)
    no_labour["identification"] = add_measure(no_labour, "低保", "", "clerk", AT, "m1")
    with pytest.raises(GuardRefused, match="无劳动能力"):
        advance(no_labour, "eliminated", "clerk", AT, dt.date(2028, 1, 1), {"income_stable": "1"}, "e1")


def test_green_channel_measures_before_approval_are_kept_once_per_key():
    record = flagged()
    record["identification"] = add_measure(record, "临时救助", "", "clerk", AT, "m1")
    assert add_measure(record, "临时救助", "", "clerk", AT, "m1") is None
    record = walk(record, *FULL[:2])
    assert [m["measure"] for m in record["identification"]["measures"]] == ["临时救助"]
    with pytest.raises(GuardRefused):
        add_measure(record, "  ", "", "clerk", AT, "m2")
