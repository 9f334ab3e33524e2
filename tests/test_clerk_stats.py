"""The dashboard's numbers (pure): per-village table, arrivals per Beijing day, the location plot."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from server.pipeline.readmodel import local_day, parse_geopoint
from server.web.clerk import stats

TODAY = dt.date(2026, 11, 22)


@dataclass
class V:
    code: str
    name: str


def test_village_table_counts_tiers_states_conflicts_duplicates_and_overdue():
    villages = [V("500112104201", "石坪村"), V("500112104202", "龙井村")]
    households = [
        {"village_code": "500112104201", "tier": "high", "deadline": "2026-11-21", "provisional": True,
         "conflict": "hard", "duplicates": 2, "identification": "verified", "ident_overdue_after": "2026-11-21"},
        {"village_code": "500112104201", "tier": "high", "deadline": "2026-11-21", "provisional": False,
         "conflict": None, "duplicates": 0, "identification": "county_approved",
         "ident_overdue_after": None},  # approved: the clock stopped
        {"village_code": "500112104202", "tier": None, "deadline": None, "conflict": "soft", "duplicates": 0},
        {"village_code": "500112105301", "tier": "low"},  # another township's: not counted
    ]  # fmt: skip
    reviews = [{"village_code": "500112104201", "state": s} for s in ("received", "approved", "approved")]
    reviews += [{"village_code": "500112104202", "state": s} for s in ("has_issues", "edited", "returned")]
    rows, totals = stats.village_table(villages, households, reviews, TODAY)
    first, second = rows
    assert first["households"] == 2 and first["tiers"]["high"] == 2 and first["overdue"] == 1
    assert first["conflicts"] == 1 and first["duplicates"] == 2 and first["provisional"] == 1
    assert first["states"]["approved"] == 2 and first["submissions"] == 3
    assert second["tiers"]["none"] == 1 and second["conflicts"] == 1
    assert totals["households"] == 3 and totals["tiers"]["high"] == 2 and totals["states"]["received"] == 1
    # 待处理 is what the queue opens on: pending, with issues, edited (not returned: the tablet's turn)
    assert (first["todo"], second["todo"], totals["todo"]) == (1, 2, 3)


def test_a_medium_tier_is_overdue_until_a_visit_after_its_flag_not_on_the_identification_clock():
    medium = {"tier": "medium", "deadline": "2026-11-21", "identification": None, "followed_up": False}
    assert stats.overdue(medium, TODAY) and not stats.overdue({**medium, "deadline": "2026-11-22"}, TODAY)
    assert not stats.overdue({**medium, "followed_up": True}, TODAY)  # revisited: done
    started = {**medium, "identification": "flagged", "ident_overdue_after": "2026-11-30"}  # started by the township
    assert not stats.overdue(started, TODAY) and stats.overdue(started, "2026-12-01")


def test_arrivals_are_counted_per_beijing_day():
    stamps = ["2026-11-21T16:30:00Z", "2026-11-21T15:59:00Z", "x", "2026-11-01T01:00:00Z"]
    reviews = [{"received_day": local_day(s)} for s in stamps]
    days = dict(stats.arrivals(reviews, TODAY, days=3))
    assert days == {"2026-11-20": 0, "2026-11-21": 1, "2026-11-22": 1}  # 16:30 UTC is past midnight in Beijing


def test_scatter_merges_close_households_and_keeps_the_highest_tier_on_top():
    households = [
        {"id": "a", "location": "29.4 106.4 0 5", "tier": "low"},
        {"id": "b", "location": "29.40001 106.40001", "tier": "high"},  # the same spot as a
        {"id": "c", "location": "30.0 107.0", "tier": "medium"},
        {"id": "d", "location": "nowhere", "tier": "high"},
        {"id": "e", "location": "29.0 106.0", "tier": None},
    ]
    for h in households:
        h["latlon"] = parse_geopoint(h["location"])
    dots = stats.scatter(households)
    assert [(d["id"], d["tier"], d["count"]) for d in dots] == [("e", "none", 1), ("c", "medium", 1), ("b", "high", 2)]
    assert dots[2]["r"] > dots[1]["r"]
    north = min(dots, key=lambda d: d["y"])
    assert north["id"] == "c" and north["x"] > dots[2]["x"] > dots[0]["x"]  # north up, east right
    many = [{"id": str(i), "latlon": (29 + i / 4000, 106 + (i % 97) / 100), "tier": "low"} for i in range(20000)]
    assert len(stats.scatter(many)) <= (640 // 10 + 1) * (360 // 10 + 1)  # one dot per 10-pixel cell at most
