"""The township wall, route by route: a clerk of township B (and a grid worker, and nobody) can
neither see nor change township A's submissions and households through any page or API."""

from __future__ import annotations

import json

import pytest
from conftest import PASSWORD
from test_clerk_app import TOKEN, act, review, sign_in, surveyed
from test_household_api import conflicted
from test_household_worker import record

OTHER = ("clerk_other", PASSWORD)


@pytest.fixture
def township_a(client, conn, township):
    """A conflicted household and a pending submission in village A; its clerk acted once."""
    hid = conflicted(conn, township.a)
    [uuid] = surveyed(conn, township.b, 1)
    sign_in(client)
    act(client, [uuid], "return", comment="请核实", key="akeyofclerka1")
    client.delete_cookie("fangpin_session")
    return {"hid": hid, "uuid": uuid, "other_hid": f"{township.a}-0002", "village": township.a}


def test_pages_of_another_township_are_not_found_or_empty(client, conn, township, township_a):
    a = township_a
    sign_in(client, "clerk_other")
    for path in (
        f"/clerk/submissions/{a['uuid']}",
        f"/clerk/submissions/{a['uuid']}/files/house-1.jpg",
        f"/clerk/households/{a['hid']}",
        f"/clerk/households/{a['hid']}/compare/{a['other_hid']}",
    ):
        assert client.get(path).status_code == 404, path
    for path in (
        "/clerk/dashboard",
        "/clerk/queue?state=all",
        f"/clerk/queue?state=all&village={a['village']}",
        "/clerk/households",
        f"/clerk/households?village={a['village']}",
        "/clerk/identification",
        "/clerk/notice",
    ):
        page = client.get(path)
        body = page.get_data(as_text=True)
        assert page.status_code == 200 and a["uuid"] not in body and a["hid"] not in body, path
        assert "石坪村" not in body and "龙井村" not in body, path


def test_actions_on_another_townships_records_change_nothing(client, conn, township, township_a):
    a = township_a
    sign_in(client, "clerk_other")
    form = {"csrf_token": TOKEN.search(client.get("/clerk/dashboard").get_data(as_text=True)).group(1)}
    before = record(conn, a["hid"])
    act(client, [a["uuid"]], "approve")
    assert client.post("/clerk/queue/undo", data={**form, "key": "akeyofclerka1"}).status_code == 302
    for path, data in (
        (f"/clerk/households/{a['hid']}/resolve", {"version": "3", "choice:phone": '"1"'}),
        (f"/clerk/households/{a['hid']}/merge", {"other": a["other_hid"]}),
        (f"/clerk/households/{a['hid']}/dismiss", {"other": a["other_hid"]}),
        (f"/clerk/households/{a['hid']}/identification", {"to": "verified", "consent": "1"}),
        (f"/clerk/households/{a['hid']}/measures", {"measure": "临时救助"}),
    ):
        assert client.post(path, data={**form, "action_key": "x" * 16, **data}).status_code == 404, path
    assert review(conn, township.b, a["uuid"])["state"] == "returned"  # neither approved nor undone
    after = record(conn, a["hid"])
    assert after["_rev"] == before["_rev"]


def test_api_routes_refuse_another_townships_clerk(client, conn, township, township_a):
    a = township_a
    get = lambda path: client.get(path, auth=OTHER)  # noqa: E731
    post = lambda path, body: client.post(path, json=body, auth=OTHER)  # noqa: E731
    assert get(f"/api/v1/submissions/{a['uuid']}").status_code == 404
    assert get(f"/api/v1/submissions?village={township.b}").status_code == 403
    assert get(f"/api/v1/households/{a['hid']}").status_code == 404
    assert get(f"/api/v1/summary?township={township.a[:9]}").status_code == 403
    assert post(f"/api/v1/households/{a['hid']}/resolve", {"values": {}}).status_code == 404
    assert post(f"/api/v1/households/{a['hid']}/merge", {"other": a["other_hid"]}).status_code == 404
    assert post(f"/api/v1/households/{a['hid']}/dismiss", {"other": a["other_hid"]}).status_code == 404
    decided = post("/api/v1/submissions/review", {"ids": [a["uuid"]], "action": "approve"})
    assert decided.status_code == 200 and decided.get_json()["results"][0]["error"] == "not_found"
    assert post("/api/v1/submissions/undo", {"key": "akeyofclerka1"}).status_code == 404
    assert review(conn, township.b, a["uuid"])["state"] == "returned"
    field = client.post("/api/v1/submissions/review", json={"ids": [a["uuid"]], "action": "approve"},
                        auth=("gw_b", PASSWORD))  # fmt: skip
    assert field.status_code == 403 and field.get_json()["message"]["zh"]
    assert client.post("/api/v1/submissions/review", json={"ids": [a["uuid"]], "action": "approve"}).status_code == 401


def test_review_api_is_idempotent_and_cookie_sessions_need_the_csrf_header(client, conn, township):
    [uuid] = surveyed(conn, township.a, 1)
    body = {"ids": [uuid], "action": "approve"}
    headers = {"Idempotency-Key": "apikey12345"}
    first = client.post("/api/v1/submissions/review", json=body, auth=("clerk", PASSWORD), headers=headers)
    again = client.post("/api/v1/submissions/review", json=body, auth=("clerk", PASSWORD), headers=headers)
    assert first.get_json()["results"] == [
        {"id": uuid, "ok": True, "state": "approved", "village_code": township.a, "already": False}
    ]
    assert again.get_json()["results"][0]["already"] is True
    bad = client.post("/api/v1/submissions/review", json={**body, "action": "delete"}, auth=("clerk", PASSWORD))
    assert bad.status_code == 200 and bad.get_json()["results"][0]["error"] == "unknown_action"
    assert client.post("/api/v1/submissions/review", json={"ids": "x"}, auth=("clerk", PASSWORD)).status_code == 400
    # a browser session: the same call needs X-CSRF-Token
    me = client.post("/api/v1/session", json={"name": "clerk", "password": PASSWORD}).get_json()
    undo = {"key": "apikey12345"}
    refused = client.post("/api/v1/submissions/undo", data=json.dumps(undo), content_type="application/json")
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.get_json()["message"]["en"]
    done = client.post("/api/v1/submissions/undo", json=undo, headers={"X-CSRF-Token": me["csrf_token"]})
    assert done.status_code == 200 and done.get_json()["results"][0]["state"] == "received"
    assert review(conn, township.a, uuid)["state"] == "received"
