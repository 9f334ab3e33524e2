"""Disaster events in the clerk app, on real CouchDB with the worker: opening one makes the roster's
households survey tasks on the tablets, a damage survey for the event takes its household off the
list, the 应急 roll-up counts each surveyed household once with its survey's facts, the export
says it in Chinese, closing takes the tasks away; another township sees none of it."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
import records
from test_clerk_app import TOKEN, sign_in
from test_household_worker import push, roster, run, village_doc

from server.casework import events
from server.households import model as hh
from server.validation.submission import local_today
from sync import audit, names


def damage_for(village: str, household: str, event_id: str, **changes) -> dict:
    doc = records.submission("damage_survey", uuid.uuid4().hex, village_code=village, household_id=household)
    doc.pop("_rev")
    doc["data"].update(event_id=event_id, **changes)
    return doc


def open_event(client, villages: list[str]) -> str:
    page = client.get("/clerk/events").get_data(as_text=True)
    form = {"csrf_token": TOKEN.search(page).group(1), "disaster_type": "flood",
            "start_date": local_today().isoformat(), "villages": villages}  # fmt: skip
    resp = client.post("/clerk/events", data=form)
    assert resp.status_code == 302
    return resp.headers["Location"].rsplit("/", 1)[1]


def test_an_event_makes_tasks_of_unvisited_households_and_rolls_up_the_damage(client, conn, township):
    a, b = township.a, township.b
    roster(conn, a, 3)
    roster(conn, b, 2)
    sign_in(client)
    event_id = open_event(client, [a, b])
    assert event_id.startswith(f"{a[:9]}-") and event_id.endswith("-flood")
    task = village_doc(conn, a, f"{a}-0002")["tasks"]
    assert [t["kind"] for t in task] == ["survey"] and task[0]["event_id"] == event_id and "尚未调查" in task[0]["zh"]
    # two surveys of one household for the event, and one of another: counted once each, latest facts
    first = damage_for(a, f"{a}-0001", event_id, house_damage="minor", rooms_minor=1)
    first["completed_at"] = "2026-11-19T09:00:00+08:00"  # the earlier visit; the default one is later
    push(conn, a, first)
    run(conn)
    push(conn, a, damage_for(a, f"{a}-0001", event_id), damage_for(a, f"{a}-0002", event_id, house_damage="collapsed",
         rooms_collapsed=2, rooms_severe=0, relocated="centralized", casualties=[], injured_serious=0))  # fmt: skip
    run(conn)
    assert [t["kind"] for t in village_doc(conn, a, f"{a}-0002")["tasks"]] != ["survey"]  # surveyed: off the list
    assert [t["kind"] for t in village_doc(conn, a, f"{a}-0003")["tasks"]] == ["survey"]
    page = client.get(f"/clerk/events/{event_id}").get_data(as_text=True)
    row = re.search(rf'<tr data-village="{a}">(.*?)</tr>', page, re.S).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    # village, households, surveyed, not yet, collapsed, severe, rooms collapsed/severe/minor, relocated,
    # deaths, missing, injured serious/minor, loss
    # (both households relocated: 0001 dispersed by the default survey, 0002 centralized; one person each, no members)
    assert cells[:10] == ["石坪村", "3", "2", "1", "1", "1", "2", "3", "0", "2"]
    assert f"{a}-0003" in page and f"{b}-0001" in page  # not yet surveyed, both villages
    exported = client.get(f"/clerk/events/{event_id}/rollup.csv")
    assert exported.headers["Content-Type"] == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert table[0][:4] == ["村", "名单户数", "已摸排户数", "未摸排户数"] and table[-1][0] == "合计"
    assert table[-1][1:4] == ["5", "2", "3"]
    assert [e["action"] for e in audit.entries_for(conn.admin, f"event:{event_id}")] == [
        "event.open",
        "export.event_rollup",
    ]
    # closed: the tasks leave the tablets
    page = client.get(f"/clerk/events/{event_id}").get_data(as_text=True)
    client.post(f"/clerk/events/{event_id}/close", data={"csrf_token": TOKEN.search(page).group(1)})
    assert village_doc(conn, a, f"{a}-0003")["tasks"] == []
    assert conn.admin.get(names.CASES, f"event:{event_id}")["status"] == "closed"


def test_another_township_or_a_village_account_cannot_see_or_close_an_event(client, conn, township):
    roster(conn, township.a, 1)
    sign_in(client)
    event_id = open_event(client, [township.a])
    for who, code in (("clerk_other", 404), ("village_a", 403)):
        sign_in(client, who)
        assert client.get(f"/clerk/events/{event_id}").status_code == code
        assert client.get(f"/clerk/events/{event_id}/rollup.csv").status_code == code
        page = client.get("/clerk/identification").get_data(as_text=True)
        token = TOKEN.search(page).group(1)
        assert client.post(f"/clerk/events/{event_id}/close", data={"csrf_token": token}).status_code == code
    assert conn.admin.get(names.CASES, f"event:{event_id}")["status"] == "open"
    sign_in(client, "clerk_other")  # nor open one for villages of another township
    page = client.get("/clerk/events").get_data(as_text=True)
    form = {"csrf_token": TOKEN.search(page).group(1), "disaster_type": "flood",
            "start_date": local_today().isoformat(), "villages": [township.a]}  # fmt: skip
    assert client.post("/clerk/events", data=form).status_code == 404


@pytest.mark.parametrize("form_event", ["other-event", None])
def test_coverage_counts_only_surveys_of_that_event(form_event):
    record = hh.new_record("500112104201-0001", "500112104201", {}, "roster", "2026-11-01T00:00:00Z")
    doc = {"_id": "submission:s1", "_rev": "1-a", "form_id": "damage_survey", "household_id": "500112104201-0001",
           "household_base_version": 0, "device_id": "t", "device_seq": 1,
           "completed_at": "2026-11-20T08:00:00+08:00"}  # fmt: skip
    hh.apply_submission(record, doc, {"event_id": form_event, "house_damage": "collapsed"}, "2026-11-20T00:00:00Z")
    event = {"event_id": "500112104-2026-11-flood", "villages": ["500112104201"]}
    row = events.coverage(event, [record])["500112104201"]
    assert row["surveyed"] == 0 and row["not_yet"] == ["500112104201-0001"] and row["houses_collapsed"] == 0
