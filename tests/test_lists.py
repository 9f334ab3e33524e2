"""The lists a township reports (pure): half months, who is on each list, what each column says."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.casework import lists

D = dt.date
V = "500112104201"
WORDS = lists.Words(
    {V: "石坪村"},
    lambda key, value: {"lifted": "脱贫户", "ordinary": "一般农户"}.get(value, "") if key == "category" else "",
    lambda village, rule: {"H1": "H1 住房安全无保障"}.get(rule, rule),
)


@pytest.mark.parametrize(
    ("day", "period", "first", "last"),
    [
        (D(2026, 11, 1), "2026-11-1", D(2026, 11, 1), D(2026, 11, 15)),
        (D(2026, 11, 15), "2026-11-1", D(2026, 11, 1), D(2026, 11, 15)),
        (D(2026, 11, 16), "2026-11-2", D(2026, 11, 16), D(2026, 11, 30)),
        (D(2028, 2, 29), "2028-02-2", D(2028, 2, 16), D(2028, 2, 29)),  # a leap February
        (D(2026, 12, 31), "2026-12-2", D(2026, 12, 16), D(2026, 12, 31)),
    ],
)
def test_half_months(day, period, first, last):
    assert lists.half_month(day) == period and lists.period_days(period) == (first, last)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "2026-11",
        "2026-11-3",
        "2026-13-1",
        "2026-00-2",
        "1999-01-1",
        "2026-11-1x",
        "2026-1-1",
        "../2026-11-1",
        "２０２６-11-1",
    ],
)
def test_a_period_that_is_not_a_half_month_is_none(bad):
    assert lists.period_days(bad) is None


@given(st.dates(min_value=D(2001, 1, 1), max_value=D(2099, 12, 31)))
def test_every_day_lies_in_its_half_month_and_the_halves_tile_the_calendar(day):
    first, last = lists.period_days(lists.half_month(day))
    assert first <= day <= last
    back = lists.previous_periods(day, 3)
    assert back[0] == lists.half_month(day) and len(set(back)) == 3
    assert lists.period_days(back[1])[1] == first - dt.timedelta(days=1)  # no gap, no overlap
    assert lists.period_name("2026-11-2") == "2026年11月下半月"


def household(n: int, **over) -> dict:
    record = {
        "household_id": f"{V}-{n:04d}",
        "village_code": V,
        "properties": {
            "head_name": f"户主{n}",
            "category": "lifted",
            "head_id_number": "11010519491231002X",
            "phone": "13800138000",
            "members": [{"name": f"户主{n}", "labour": "normal"}],
        },
        "tier": {"tier": "low", "rules": []},
        "tier_history": [],
    }
    record.update(over)
    return record


def flagged(n: int, on: str, **ident) -> dict:
    tier = {"tier": "high", "flagged_on": on, "deadline": "2026-12-15", "rules": [{"id": "H1", "message": {}}]}
    return household(
        n,
        tier=tier,
        **(
            {
                "identification": {
                    "kind": "identification",
                    "cycle": 1,
                    "flagged_on": on,
                    "due": "2026-12-15",
                    "history": [],
                    "measures": [],
                    **ident,
                }
            }
            if ident
            else {}
        ),
    )


def test_the_warning_list_holds_the_households_warned_in_its_half_month():
    medium_rose = household(
        4,
        tier={"tier": "medium", "rules": []},
        tier_history=[{"tier": "medium", "from": "low", "at": "2026-11-16T01:00:00Z"}],
    )
    late_evening = household(
        5,
        tier={"tier": "medium", "rules": []},  # 00:30 on the 16th in Beijing, the 15th in UTC
        tier_history=[{"tier": "medium", "from": "low", "at": "2026-11-15T16:30:00Z"}],
    )
    records = [
        flagged(1, "2026-11-15"),
        flagged(2, "2026-11-16", step="verified"),
        flagged(3, "2026-11-30"),
        medium_rose,
        late_evening,
        household(6),
        {**flagged(7, "2026-11-20"), "merged_into": f"{V}-0001"},
    ]
    rows = lists.warning_rows(records, *lists.period_days("2026-11-2"), WORDS)
    assert [r[2] for r in rows] == [f"{V}-0002", f"{V}-0004", f"{V}-0005", f"{V}-0003"]  # by village, then day
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    first = dict(zip(lists.WARNING_HEADERS, rows[0], strict=True))
    assert first["村"] == "石坪村" and first["风险等级"] == "高风险" and first["触发规则"] == "H1 住房安全无保障"
    assert first["识别进度"] == "入户核实" and first["认定期限"] == "2026-12-15" and first["户类型"] == "脱贫户"
    assert dict(zip(lists.WARNING_HEADERS, rows[1], strict=True))["识别进度"] == "跟踪回访"  # medium: followed up
    earlier = lists.warning_rows(records, *lists.period_days("2026-11-1"), WORDS)
    assert [r[2] for r in earlier] == [f"{V}-0001"]
    assert "13800138000" not in str(rows + earlier) and "11010519491231002X" not in str(rows + earlier)


def done(step: str, at: str) -> dict:
    return {"step": step, "at": at, "by": "x", "role": "county"}


def test_result_notice_and_register_follow_the_steps_recorded():
    approved = flagged(
        1,
        "2026-11-16",
        step="county_approved",
        category="sudden_hardship",
        history=[done("verified", "2026-11-16T02:00:00Z"), done("county_approved", "2026-11-27T16:30:00Z")],
        measures=[{"type": "relief", "date": "2026-11-17", "official": "李干部", "paperwork_owed": ["signatures"]}],
    )
    pending = flagged(2, "2026-11-16", step="township_reviewed")
    records = [approved, pending, household(3)]
    notice = lists.result_rows(records, WORDS)
    assert notice == [[1, "石坪村", f"{V}-0001", "户主1", 1, "突发严重困难户", "2026-11-28"]]  # the Beijing day
    assert lists.result_rows(records, WORDS, village="500112104202") == []
    rows = {
        r[1]: dict(zip(lists.REGISTER_HEADERS, r, strict=True))
        for r in lists.register_rows(records, WORDS, D(2026, 12, 20), lambda rec, m: "临时救助")
    }
    assert set(rows) == {f"{V}-0001", f"{V}-0002"}  # a low household has no identification
    one = rows[f"{V}-0001"]
    assert (one["风险预警"], one["入户核实"], one["县级审定"], one["公告"]) == (
        "2026-11-16",
        "2026-11-16",
        "2026-11-28",
        "",
    )
    assert one["帮扶措施"] == "临时救助（2026-11-17）" and one["帮扶责任人"] == "李干部" and one["待补手续"]
    assert one["是否逾期"] == "否" and rows[f"{V}-0002"]["是否逾期"] == "是"  # the clock stops at approval


LABELS = {"risk_types": {"disaster": "因自然灾害", "illness": "因病", "other": "其他"},
          "members/relation": {"head": "户主"}, "members/labour": {"normal": "普通劳动力"}}  # fmt: skip
SAID = lists.Words(
    {V: "石坪村"},
    lambda key, value: "、".join(LABELS.get(key, {}).get(v, v) for v in str(value).split()) if value else "",
    lambda village, rule: rule,
)


def test_the_national_layout_names_risks_and_members_and_masks_health_unless_asked():
    props = {"head_name": "户主1", "category": "lifted", "risk_types": "disaster illness other",
             "disaster_type": "flood", "notes": "房屋后山体开裂",
             "members": [{"name": "户主1", "id_number": "11010519491231002X", "relation": "head", "health": "chronic",
                          "labour": "normal"}]}  # fmt: skip
    monitored = household(1, properties=props, identification={"kind": "identification", "step": "monitored",
                          "flagged_on": "2026-08-02", "monitored_on": "2026-08-20", "category": "marginal",
                          "history": [], "measures": []})  # fmt: skip
    [row] = lists.national_rows([monitored], SAID, whole_numbers=False)
    cells = dict(zip(lists.NATIONAL_HEADERS, row, strict=True))
    assert [cells[f"致贫/返贫风险{n}"] for n in range(1, 6)] == ["因自然灾害", "因病", "其他", "", ""]
    assert cells["因自然灾害子项"] == "洪涝灾害" and cells["其他备注"] == "房屋后山体开裂"
    [member] = lists.national_member_rows([monitored], SAID, whole_numbers=False)
    m = dict(zip(lists.NATIONAL_MEMBER_HEADERS, member, strict=True))
    assert (m["证件号码"], m["健康状况"], m["与户主关系"], m["劳动技能"]) == (
        "110105********002X",
        "***",
        "户主",
        "普通劳动力",
    )
    [whole] = lists.national_member_rows([monitored], SAID, whole_numbers=True)
    assert "11010519491231002X" in whole and "chronic" in whole
    assert lists.national_member_rows([household(2)], SAID, whole_numbers=True) == []  # not monitored: not entered


def test_the_national_layout_masks_numbers_unless_asked_and_says_how_a_risk_ended():
    monitored = flagged(1, "2026-08-02", step="monitored", category="marginal", monitored_on="2026-08-20")
    eliminated = flagged(
        2,
        "2026-03-01",
        step="eliminated",
        category="unstable_lifted",
        monitored_on="2026-03-20",
        eliminated_on="2026-10-05",
        measures=[{"type": "job", "official": "王书记"}],
    )
    alone = household(
        3,
        identification={
            "kind": "identification",
            "step": "eliminated",
            "flagged_on": "2026-01-02",
            "monitored_on": "2026-01-10",
            "eliminated_on": "2026-07-01",
            "measures": [],
            "history": [],
            "category": "marginal",
        },
        properties={
            "head_name": "户主3",
            "category": "ordinary",
            "welfare": "dibao pension",
            "members": [{"labour": "lost"}, {"labour": "none"}],
        },
    )
    waiting = flagged(4, "2026-11-20", step="verified")  # not monitored yet: not entered
    rows = {
        r[0]: dict(zip(lists.NATIONAL_HEADERS, r, strict=True))
        for r in lists.national_rows([monitored, eliminated, alone, waiting], WORDS, whole_numbers=False)
    }
    assert set(rows) == {f"{V}-0001", f"{V}-0002", f"{V}-0003"}
    m = rows[f"{V}-0001"]
    assert (m["户主证件号码"], m["联系电话"]) == ("110105********002X", "138****8000")
    assert (m["识别监测时间"], m["风险是否已消除"], m["风险消除方式"], m["消除监测时间"]) == ("202608", "否", "", "")
    assert m["户类型"] == "脱贫户" and m["监测对象类别"] == "边缘易致贫户" and m["整户无劳动能力兜底保障户"] == "否"
    e = rows[f"{V}-0002"]
    assert (e["风险是否已消除"], e["风险消除方式"], e["消除监测时间"], e["监测联系人"]) == (
        "是",
        "帮扶消除",
        "202610",
        "王书记",
    )
    a = rows[f"{V}-0003"]
    assert (a["风险消除方式"], a["户类型"], a["整户无劳动能力兜底保障户"]) == ("自然消除", "一般农户", "是")
    whole = lists.national_rows([monitored], WORDS, whole_numbers=True)[0]
    assert "11010519491231002X" in whole and "13800138000" in whole
