"""/api/v1/households: list, read (masked), resolve, merge, dismiss; township boundaries; audit."""

from __future__ import annotations

import uuid

import records
from conftest import PASSWORD
from test_household_worker import push, roster, run, survey

from sync import audit, names

CLERK = ("clerk", PASSWORD)


def conflicted(conn, village: str) -> str:
    """A roster household with a hard conflict on phone between two tablets."""
    roster(conn, village)
    hid = f"{village}-0001"
    push(conn, village, survey(village, hid, device="tab-0", completed="2026-11-19T09:00:00+08:00"))
    run(conn)
    push(
        conn,
        village,
        survey(village, hid, device="tab-1", base=1, phone="13900139000"),
        survey(village, hid, device="tab-2", base=1, completed="2026-11-20T10:00:00+08:00", phone="13700137000"),
    )
    run(conn)
    return hid


def test_read_a_household_with_history_and_conflicts_numbers_masked_for_field_users(client, conn, township):
    hid = conflicted(conn, township.a)
    body = client.get(f"/api/v1/households/{hid}", auth=CLERK).get_json()
    assert body["id"] == hid and body["village_code"] == township.a and body["version"] == 3
    assert body["conflict"] == "hard" and body["conflicting_properties"] == ["phone"]
    assert body["properties"]["phone"] == "13700137000" and body["masked"] is False
    assert [h["version"] for h in body["history"]] == [1, 2, 3]
    assert {h["changed"].get("phone") for h in body["history"][1:]} == {"13900139000", "13700137000"}
    assert body["duplicates"] == [] and body["conflicts"][0]["kind"] == "hard"
    field = client.get(f"/api/v1/households/{hid}", auth=("gw_a", PASSWORD)).get_json()
    assert field["masked"] is True and field["properties"]["phone"] == "137****7000"
    assert field["properties"]["head_id_number"] == "110105********002X"
    assert field["properties"]["members"][1]["id_number"] == "110105********0032"
    assert {h["changed"].get("phone") for h in field["history"][1:]} == {"139****9000", "137****7000"}


def test_list_filters_by_village_and_conflict(client, conn, township):
    hid = conflicted(conn, township.a)
    listed = client.get(f"/api/v1/households?village={township.a}", auth=CLERK).get_json()
    assert [h["id"] for h in listed["households"]] == [f"{township.a}-000{i}" for i in (1, 2, 3)]
    hard = client.get("/api/v1/households?conflict=hard", auth=CLERK).get_json()["households"]
    assert [h["id"] for h in hard] == [hid] and hard[0]["conflicting_properties"] == ["phone"]
    assert client.get("/api/v1/households?conflict=none", auth=CLERK).get_json()["total"] == 2
    bad = client.get("/api/v1/households?conflict=maybe", auth=CLERK)
    assert bad.status_code == 400 and "hard" in bad.get_json()["message"]["en"]


def test_resolve_chooses_values_clears_the_flag_and_reaches_the_village_doc(client, conn, township):
    hid = conflicted(conn, township.a)
    stale = client.post(f"/api/v1/households/{hid}/resolve", json={"values": {}, "version": 2}, auth=CLERK)
    assert stale.status_code == 409 and stale.get_json()["version"] == 3
    unknown = client.post(f"/api/v1/households/{hid}/resolve", json={"values": {"colour": "red"}}, auth=CLERK)
    assert unknown.status_code == 400 and unknown.get_json()["properties"] == ["colour"]
    key = {"Idempotency-Key": uuid.uuid4().hex}
    for _ in range(2):  # a retried request changes nothing more
        resp = client.post(
            f"/api/v1/households/{hid}/resolve",
            json={"values": {"phone": "13900139000"}, "version": 3},
            auth=CLERK,
            headers=key,
        )
        assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["conflict"] is None and body["version"] == 4 and body["history"][-1]["kind"] == "resolution"
    doc = conn.admin.get(names.village_db(township.a), f"household:{hid}")
    assert doc["version"] == 4 and doc["properties"]["phone"] == "13900139000" and doc["conflict"] is None
    [entry] = audit.entries_for(conn.admin, hid)
    assert entry["action"] == "household.resolve" and entry["actor"] == "clerk"
    assert entry["before"]["conflicting_properties"] == ["phone"] and entry["after"]["values"] == {
        "phone": "139****9000"
    }


def test_merge_a_provisional_household_keeps_both_histories(client, conn, township):
    a = township.a
    roster(conn, a)
    provisional = f"new-{uuid.uuid4()}"
    damage = records.submission("damage_survey", uuid.uuid4().hex, household_id=provisional, device_id="tab-9")
    damage.pop("_rev")
    push(conn, a, damage)
    run(conn)
    assert client.get(f"/api/v1/households/{provisional}", auth=CLERK).get_json()["id"] == provisional
    resp = client.post(f"/api/v1/households/{a}-0002/merge", json={"other": provisional}, auth=CLERK)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["aliases"] == [provisional] and body["properties"]["house_damage"] == "severe"
    assert [h["kind"] for h in body["history"]] == ["submission", "merge"]
    assert client.get(f"/api/v1/households/{provisional}", auth=CLERK).get_json()["id"] == f"{a}-0002"
    pointer = conn.admin.get(names.village_db(a), f"household:{provisional}")
    assert pointer["merged_into"] == f"{a}-0002"
    again = client.post(f"/api/v1/households/{a}-0002/merge", json={"other": provisional}, auth=CLERK)
    assert again.status_code == 400  # it is the same household now
    # a later survey under the provisional id lands on the survivor
    later = records.submission(
        "damage_survey",
        uuid.uuid4().hex,
        household_id=provisional,
        device_id="tab-9",
        completed_at="2026-11-21T09:00:00+08:00",
    )
    later.pop("_rev")
    later["data"]["house_damage"] = "collapsed"
    push(conn, a, later)
    run(conn)
    assert (
        client.get(f"/api/v1/households/{a}-0002", auth=CLERK).get_json()["properties"]["house_damage"] == "collapsed"
    )


def test_dismiss_a_possible_duplicate_on_both_households(client, conn, township):
    a = township.a
    roster(conn, a)
    push(conn, a, survey(a, f"{a}-0003", head_name="王秀英", head_id_number=records.HEAD_ID))
    run(conn)
    resp = client.post(f"/api/v1/households/{a}-0003/dismiss", json={"other": f"{a}-0001"}, auth=CLERK)
    assert resp.status_code == 200
    assert resp.get_json()["duplicates"][0]["status"] == "dismissed"
    other = client.get(f"/api/v1/households/{a}-0001", auth=CLERK).get_json()
    assert other["duplicates"][0]["status"] == "dismissed"
    again = client.post(f"/api/v1/households/{a}-0003/dismiss", json={"other": f"{a}-0001"}, auth=CLERK)
    assert again.status_code == 409


def test_other_townships_and_field_users_cannot_see_or_change_households(client, conn, township):
    hid = conflicted(conn, township.a)
    other_clerk = ("clerk_other", PASSWORD)
    assert client.get(f"/api/v1/households/{hid}", auth=other_clerk).status_code == 404
    assert client.get("/api/v1/households", auth=other_clerk).get_json()["total"] == 0
    assert client.post(f"/api/v1/households/{hid}/resolve", json={}, auth=other_clerk).status_code == 404
    assert client.get(f"/api/v1/households?village={township.a}", auth=other_clerk).status_code == 403
    assert client.get(f"/api/v1/households/{hid}", auth=("gw_a", PASSWORD)).status_code == 200
    assert client.get(f"/api/v1/households/{hid}", auth=("gw_b", PASSWORD)).status_code == 404
    field = client.post(f"/api/v1/households/{hid}/resolve", json={}, auth=("gw_a", PASSWORD))
    assert field.status_code == 403
    assert client.get(f"/api/v1/households/{hid}").status_code == 401
