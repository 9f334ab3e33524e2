"""The clerk web app over the real embedded CouchDB (Flask's test client; the browser suite drives
the same pages in Chromium): sign-in rules, CSRF, the queue, decisions, undo, township walls."""

from __future__ import annotations

import re

import records
from conftest import PASSWORD
from test_household_worker import push, record, roster, run, survey

from sync import audit, names

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY = re.compile(r'name="action_key" value="([^"]+)"')


def token(client, path: str = "/clerk/login") -> str:
    page = client.get(path)
    return TOKEN.search(page.get_data(as_text=True)).group(1)


def sign_in(client, name: str = "clerk", password: str = PASSWORD):
    return client.post("/clerk/login", data={"name": name, "password": password, "csrf_token": token(client)})


def surveyed(conn, village: str, count: int = 3) -> list[str]:
    """``count`` household surveys of roster households, processed by the worker; their uuids."""
    roster(conn, village, count)
    docs = [survey(village, f"{village}-{i:04d}", seq=i) for i in range(1, count + 1)]
    push(conn, village, *docs)
    run(conn)
    return [names.doc_id_suffix(d["_id"]) for d in docs]


def review(conn, village: str, uuid: str) -> dict:
    return conn.admin.get(names.village_db(village), f"review:{uuid}")


def act(client, ids: list[str], action: str, comment: str = "", key: str | None = None, back: str = "/clerk/queue"):
    page = client.get("/clerk/queue?state=all").get_data(as_text=True)
    form = {"csrf_token": TOKEN.search(page).group(1), "action_key": key or KEY.search(page).group(1)}
    return client.post(
        "/clerk/queue/act", data={**form, "ids": ids, "action": action, "comment": comment, "back": back}
    )


def test_pages_need_a_clerk_sign_in_and_field_users_are_turned_away(client, township):
    assert client.get("/clerk/queue").status_code == 302
    assert client.get("/clerk/queue").headers["Location"].startswith("/clerk/login?next=")
    refused = sign_in(client, "gw_a")
    assert refused.status_code == 403 and "网格员账号请使用平板" in refused.get_data(as_text=True)
    assert client.get("/clerk/dashboard").status_code == 302  # no session was made
    wrong = sign_in(client, "clerk", "wrong-password")
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.get_data(as_text=True)
    done = sign_in(client)
    assert done.status_code == 302 and done.headers["Location"] == "/clerk/dashboard"
    assert client.get("/clerk/dashboard").status_code == 200
    client.post("/clerk/logout", data={"csrf_token": token(client, "/clerk/dashboard")})
    assert client.get("/clerk/dashboard").status_code == 302


def test_login_locks_after_repeated_failures_and_english_is_one_click_away(client, township):
    for _ in range(5):
        sign_in(client, "clerk", "nope-nope")
    locked = sign_in(client)  # the right password no longer helps
    assert locked.status_code == 429 and "15分钟" in locked.get_data(as_text=True)
    client.get("/clerk/lang/en?next=/clerk/login")
    assert "try again in 15 minutes" in sign_in(client).get_data(as_text=True)


def test_state_changing_requests_without_the_csrf_token_are_refused(client, conn, township):
    [uuid] = surveyed(conn, township.a, 1)
    sign_in(client)
    for path, data in (
        ("/clerk/queue/act", {"ids": uuid, "action": "approve", "action_key": "k" * 16}),
        ("/clerk/logout", {}),
        ("/clerk/queue/act", {"ids": uuid, "action": "approve", "action_key": "k" * 16, "csrf_token": "forged"}),
    ):
        resp = client.post(path, data=data)
        assert resp.status_code == 403 and "页面已过期" in resp.get_data(as_text=True)
    assert review(conn, township.a, uuid)["state"] == "received"
    assert client.get("/clerk/dashboard").status_code == 200  # still signed in


def test_queue_lists_pending_by_default_and_filters(client, conn, township):
    uuids = surveyed(conn, township.a, 3)
    other = surveyed(conn, township.b, 1)
    sign_in(client)
    page = client.get("/clerk/queue").get_data(as_text=True)
    assert all(u in page for u in uuids + other) and "共 4 条" in page
    only_b = client.get(f"/clerk/queue?village={township.b}").get_data(as_text=True)
    assert other[0] in only_b and not any(u in only_b for u in uuids)
    assert "共 0 条" in client.get("/clerk/queue?form=damage_survey").get_data(as_text=True)
    assert "共 0 条" in client.get("/clerk/queue?surveyor=gw_b").get_data(as_text=True)
    assert "共 4 条" in client.get("/clerk/queue?date_from=2026-11-20&date_to=2026-11-20").get_data(as_text=True)
    assert "共 0 条" in client.get("/clerk/queue?date_from=2026-11-21").get_data(as_text=True)
    act(client, uuids[:1], "approve")
    assert uuids[0] not in client.get("/clerk/queue").get_data(as_text=True)  # approved: no longer pending
    assert uuids[0] in client.get("/clerk/queue?state=approved").get_data(as_text=True)


def test_bulk_approve_is_idempotent_audited_and_makes_the_tier_final(client, conn, township):
    uuids = surveyed(conn, township.a, 3)
    hid = f"{township.a}-0001"
    damage = records.submission("damage_survey", "dmg1", village_code=township.a, household_id=hid)
    damage.pop("_rev")
    push(conn, township.a, damage)
    run(conn)
    assert record(conn, hid)["tier"]["provisional"] is True
    sign_in(client)
    key = "a1b2c3d4e5f6a7b8"
    for _ in range(2):  # the same form sent twice is one action
        resp = act(client, [*uuids, "dmg1"], "approve", key=key)
        assert resp.status_code == 302
    assert {review(conn, township.a, u)["state"] for u in [*uuids, "dmg1"]} == {"approved"}
    assert sum(1 for h in review(conn, township.a, uuids[0])["history"] if h["action"] == "approve") == 1
    rec = record(conn, hid)
    assert rec["approved"] == {f"submission:{uuids[0]}": review(conn, township.a, uuids[0])["submission_rev"],
                               "submission:dmg1": review(conn, township.a, "dmg1")["submission_rev"]}  # fmt: skip
    assert rec["tier"]["provisional"] is False and rec["tier"]["tier"] == "high"
    assert conn.admin.get(names.village_db(township.a), f"household:{hid}")["provisional"] is False
    [entry] = audit.entries_for(conn.admin, f"submission:{uuids[1]}")
    assert entry["actor"] == "clerk" and entry["action"] == "submission.approve"
    assert entry["before"] == {"state": "received"} and entry["after"]["state"] == "approved"


def test_return_needs_a_comment_reaches_the_review_doc_and_undo_takes_it_back(client, conn, township):
    [uuid] = surveyed(conn, township.a, 1)
    sign_in(client)
    resp = act(client, [uuid], "return", comment="")
    assert "必须填写意见" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert review(conn, township.a, uuid)["state"] == "received"
    act(client, [uuid], "return", comment="电话号码请核实", key="feedc0ffee123456")
    doc = review(conn, township.a, uuid)
    assert doc["state"] == "returned" and doc["comments"][-1]["text"] == "电话号码请核实"
    page = client.get("/clerk/queue").get_data(as_text=True)
    assert "撤销上一步" in page and 'value="feedc0ffee123456"' in page
    undo = client.post("/clerk/queue/undo", data={"csrf_token": TOKEN.search(page).group(1), "key": "feedc0ffee123456"})
    assert undo.status_code == 302
    doc = review(conn, township.a, uuid)
    assert doc["state"] == "received" and doc["comments"][-1]["withdrawn"] is True
    assert [a["action"] for a in audit.entries_for(conn.admin, f"submission:{uuid}")] == [
        "submission.return",
        "submission.undo",
    ]


def test_rejecting_a_survey_takes_it_out_of_the_household_record(client, conn, township):
    a = township.a
    roster(conn, a, 1)
    hid = f"{a}-0001"
    doc = survey(a, hid, phone="13900139000")
    push(conn, a, doc)
    run(conn)
    assert record(conn, hid)["properties"]["phone"] == "13900139000"
    sign_in(client)
    act(client, [names.doc_id_suffix(doc["_id"])], "reject", comment="不是本户")
    rec = record(conn, hid)
    assert rec["properties"]["phone"] == "13800138000" and len(rec["events"]) == 1  # the roster's again; kept
    assert conn.admin.get(names.village_db(a), f"household:{hid}")["properties"]["phone"] == "13800138000"


def test_a_clerk_sees_and_acts_on_their_own_township_only(client, conn, township):
    [mine] = surveyed(conn, township.a, 1)
    [theirs] = surveyed(conn, township.other, 1)
    sign_in(client)
    assert theirs not in client.get("/clerk/queue?state=all").get_data(as_text=True)
    assert "外乡村" not in client.get("/clerk/dashboard").get_data(as_text=True)
    assert client.get(f"/clerk/submissions/{theirs}").status_code == 404
    assert client.get(f"/clerk/queue?village={township.other}").get_data(as_text=True).count(theirs) == 0
    act(client, [mine, theirs], "approve")
    assert review(conn, township.a, mine)["state"] == "approved"
    assert review(conn, township.other, theirs)["state"] == "received"


def test_submission_page_shows_labels_issues_beside_fields_and_history(client, conn, township):
    a = township.a
    roster(conn, a, 1)
    bad = survey(a, f"{a}-0001", phone="12345")
    push(conn, a, bad)
    run(conn)
    sign_in(client)
    page = client.get(f"/clerk/submissions/{names.doc_id_suffix(bad['_id'])}").get_data(as_text=True)
    assert "家庭情况排查" in page and "户主姓名" in page and "王秀英" in page
    row = re.search(r'<tr class="[^"]*has-issue[^"]*" data-path="phone">(.*?)</tr>', page, re.S)
    assert row and "12345" in row.group(1)
    assert "有问题" in page and "系统校验" in page and ">checked<" not in page  # history in words, not codes


def test_submission_photos_are_shown_to_the_clerk_only(client, conn, township):
    import base64

    a = township.a
    roster(conn, a, 1)
    doc = records.submission("damage_survey", "withphoto", village_code=a, household_id=f"{a}-0001")
    doc.pop("_rev")
    jpeg = b"\xff\xd8\xff\xe0" + b"fangpin-photo" * 10 + b"\xff\xd9"
    doc["_attachments"] = {"house-1.jpg": {"content_type": "image/jpeg", "data": base64.b64encode(jpeg).decode()}}
    push(conn, a, doc)
    run(conn)
    sign_in(client)
    page = client.get("/clerk/submissions/withphoto").get_data(as_text=True)
    assert '<img src="/clerk/submissions/withphoto/files/house-1.jpg"' in page
    photo = client.get("/clerk/submissions/withphoto/files/house-1.jpg")
    assert photo.status_code == 200 and photo.data == jpeg and photo.mimetype == "image/jpeg"
    assert client.get("/clerk/submissions/withphoto/files/other.jpg").status_code == 404
    client.delete_cookie("fangpin_session")
    assert client.get("/clerk/submissions/withphoto/files/house-1.jpg").status_code == 302
    sign_in(client, "clerk_other")
    assert client.get("/clerk/submissions/withphoto/files/house-1.jpg").status_code == 404


def test_all_matching_decides_every_page_and_approve_next_opens_the_next_waiting(client, conn, township):
    a, b = township.a, township.b
    many = surveyed(conn, a, 55)  # two pages of the queue
    other = surveyed(conn, b, 2)  # outside the filter: untouched
    sign_in(client)
    queue = f"/clerk/queue?village={a}"
    page = client.get(queue).get_data(as_text=True)
    assert 'id="all-matching"' in page and "选择全部符合筛选的 55 条" in page
    form = {"csrf_token": TOKEN.search(page).group(1), "action_key": KEY.search(page).group(1)}
    # approve and open the next: the next row still waiting in the same filter
    first = many[0]
    resp = client.post("/clerk/queue/act", data={**form, "ids": [first], "action": "approve_next", "queue": queue,
                       "back": f"/clerk/submissions/{first}"})  # fmt: skip
    assert review(conn, a, first)["state"] == "approved"
    assert "/clerk/submissions/" in resp.headers["Location"] and first not in resp.headers["Location"]
    page = client.get(queue).get_data(as_text=True)
    form = {"csrf_token": TOKEN.search(page).group(1), "action_key": KEY.search(page).group(1)}
    resp = client.post("/clerk/queue/act", data={**form, "all_matching": "1", "action": "approve", "back": queue})
    assert resp.status_code == 302
    assert {review(conn, a, u)["state"] for u in many} == {"approved"}
    assert {review(conn, b, u)["state"] for u in other} == {"received"}
