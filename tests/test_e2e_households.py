"""End to end with real PouchDB tablets: one household edited offline on two tablets, pushed in
either order; one submission edited on two tablets of one grid worker (a CouchDB revision conflict)."""

from __future__ import annotations

import json

import pytest
from conftest import wait_for

from server.access.accounts import add_user
from server.pipeline import household_store
from sync import names

PHONE_1, PHONE_2 = "13900139000", "13700137000"


def settled(conn, village: str, submissions: int) -> bool:
    """Every submission has a review for its current revision and nothing is left in conflict."""
    db = names.village_db(village)
    # Reviews first, then each submission once (with its conflicts): read the other way round, a
    # conflict settled between the two reads of a submission looked settled before its review was.
    reviews = {r["submission_id"]: r for r in conn.admin.iter_prefix(db, "review:")}
    subs = [conn.admin.get(db, s["_id"], conflicts="true") for s in conn.admin.iter_prefix(db, "submission:")]
    return len(subs) == submissions and all(
        reviews.get(s["_id"], {}).get("submission_rev") == s["_rev"] and not s.get("_conflicts") for s in subs
    )


@pytest.fixture
def two_tablets(conn, township, web, tablet, spawn, password_hash):
    """Two grid workers of village A, each with a tablet that pulled the roster, and a worker."""
    add_user(conn.admin, "gw_a2", None, "field", [township.a], password_hash=password_hash)
    household_store.add_roster(
        conn.admin, township.a, {f"{township.a}-0001": {"head_name": "王秀英", "phone": "13800138000"}}, "2026-11-01"
    )
    spawn("worker")
    tablets = []
    for name, user in (("one", "gw_a"), ("two", "gw_a2")):
        device = tablet(name)
        device.login(web.url, user, device=f"tab-{name}")
        device.run("pull")
        tablets.append(device)
    return tablets


@pytest.mark.slow
@pytest.mark.parametrize("order", ["one-first", "two-first"])
def test_two_tablets_edit_one_household_offline_and_converge_in_either_order(conn, township, two_tablets, order):
    one, two = two_tablets
    hid, db = f"{township.a}-0001", f"fp_v_{township.a}"
    assert one.run("get", "--db", db, "--id", f"household:{hid}")["doc"]["version"] == 0
    # Offline, a few minutes apart: both start from version 0 of the household.
    common = {"category": "lifted", "housing_grade": "B"}
    one.run(
        "create", "--form", "household_survey", "--household", hid, "--values", json.dumps({**common, "phone": PHONE_1})
    )
    two.run(
        "create",
        "--form",
        "household_survey",
        "--household",
        hid,
        "--values",
        json.dumps({**common, "phone": PHONE_2, "water_outage_days": 30}),
    )
    first, second = (one, two) if order == "one-first" else (two, one)
    for device in (first, second):
        assert device.run("push")["pushed"][db]["docs_written"] == 1
        device.run("wait-reviews", "--timeout", "60")
    wait_for(lambda: settled(conn, township.a, 2), message="both surveys applied")

    record = conn.admin.get(names.CASES, f"household:{hid}")
    assert record["version"] == 2 and record["conflict"] == "hard" and record["conflicting_properties"] == ["phone"]
    # whatever the arrival order: the survey completed later (tablet two) wins the clash, nothing is lost
    assert record["properties"]["phone"] == PHONE_2 and record["properties"]["water_outage_days"] == 30
    assert sorted(e["changed"]["phone"] for e in record["events"]) == sorted([PHONE_1, PHONE_2])
    for device in (one, two):
        device.run("pull")
        doc = device.run("get", "--db", db, "--id", f"household:{hid}")["doc"]
        assert doc["version"] == 2 and doc["properties"]["phone"] == PHONE_2 and doc["conflict"] == "hard"


@pytest.mark.slow
def test_one_submission_edited_on_two_tablets_is_settled_and_the_loser_archived(conn, township, web, tablet, spawn):
    """A grid worker uses two tablets; both edit the same (returned) submission offline."""
    spawn("worker")
    one, two = tablet("one"), tablet("two")
    db = f"fp_v_{township.a}"
    for name, device in (("one", one), ("two", two)):
        device.login(web.url, "gw_a", device=f"tab-{name}")
        device.run("pull")
    [sub_id] = one.run("create", "--form", "damage_survey", "--household", f"{township.a}-0002")["created"]
    one.run("push")
    wait_for(lambda: settled(conn, township.a, 1), message="the survey reviewed")
    two.run("pull")
    assert two.run("get", "--db", db, "--id", sub_id)["doc"]["_rev"].startswith("1-")
    # Offline on both; tablet two edits last, so its revision is the one completed later.
    one.run("edit", "--id", sub_id, "--values", json.dumps({"house_damage": "minor", "livestock_lost": 1}))
    two.run("edit", "--id", sub_id, "--values", json.dumps({"house_damage": "collapsed", "livestock_lost": 2}))
    two_rev = two.run("get", "--db", db, "--id", sub_id)["doc"]["_rev"]
    one_rev = one.run("get", "--db", db, "--id", sub_id)["doc"]["_rev"]
    for device in (one, two):
        assert device.run("push")["pushed"][db]["doc_write_failures"] == 0
    wait_for(lambda: settled(conn, township.a, 1), message="the revision conflict settled")

    server = conn.admin.get(names.village_db(township.a), sub_id, conflicts="true")
    assert server["_rev"] == two_rev and server["data"]["house_damage"] == "collapsed"
    archive = conn.admin.get(names.CASES, f"archive:{db}:{sub_id}:{one_rev}")
    assert archive["doc"]["data"]["house_damage"] == "minor" and archive["winner_rev"] == two_rev
    review = conn.admin.get(names.village_db(township.a), names.review_id(sub_id))
    assert [c["rev"] for c in review["revision_conflicts"]] == [one_rev] and review["submission_rev"] == two_rev
    record = conn.admin.get(names.CASES, f"household:{township.a}-0002")
    assert record["properties"]["house_damage"] == "collapsed"
    for device in (one, two):  # the tablets end up with the same single revision
        device.run("pull")
        doc = device.run("get", "--db", db, "--id", sub_id)["doc"]
        assert doc["_rev"] == two_rev and not doc.get("_conflicts")


@pytest.mark.slow
def test_a_damage_survey_from_a_tablet_comes_back_with_tier_reasons_and_deadline(conn, township, two_tablets):
    one, _ = two_tablets
    hid, db = f"{township.a}-0001", f"fp_v_{township.a}"
    values = {"house_damage": "collapsed", "rooms_damaged": 3, "only_dwelling": "yes", "safe_shelter": "no"}
    one.run("create", "--form", "damage_survey", "--household", hid, "--values", json.dumps(values))
    one.run("push")
    assert one.run("wait-reviews", "--timeout", "60")["reviewed"] == 1
    wait_for(
        lambda: (conn.admin.get(names.village_db(township.a), f"household:{hid}") or {}).get("tier"),
        message="the tier on the household doc",
    )
    one.run("pull")
    doc = one.run("get", "--db", db, "--id", f"household:{hid}")["doc"]
    assert doc["tier"] == "high" and "H1" in [r["id"] for r in doc["rules"]]
    assert doc["rules"][0]["message"]["zh"] and doc["measures"][0]["id"] == "housing"
    assert doc["deadline"] and doc["tasks"][0]["kind"] == "identification" and doc["provisional"] is True
