"""The sync gateway's rules, on the real app and the real embedded CouchDB."""

from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import PASSWORD, wait_for

from sync import names

A = ("gw_a", PASSWORD)
B = ("gw_b", PASSWORD)


def sub(township, user="gw_a", village=None, uuid="u1", **over) -> dict:
    village = village or township.a
    return {
        "_id": f"submission:{uuid}",
        "type": "submission",
        "form_id": "damage_survey",
        "form_version": "2026112201",
        "village_code": village,
        "household_id": f"{village}-0001",
        "submitted_by": user,
        "completed_at": "2026-11-20T10:00:00+08:00",
        "data": {},
        **over,
    }


def bulk(client, township, docs, auth=A, village=None, **extra):
    return client.post(f"/sync/fp_v_{village or township.a}/_bulk_docs", auth=auth, json={"docs": docs, **extra})


def assert_couch_error(resp, status, error):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["error"] == error
    assert body["reason"] and body["message"]["zh"] and body["message"]["en"]


@pytest.mark.parametrize(
    "path", ["/sync/", "/sync/fp_forms/", "/sync/fp_v_500112104201/_changes", "/sync/_users/", "/sync/_all_dbs"]
)
def test_anonymous_is_unauthorized(client, township, path):
    assert_couch_error(client.get(path), 401, "unauthorized")


def test_wrong_password_is_unauthorized(client, township):
    assert_couch_error(client.get("/sync/fp_forms/", auth=("gw_a", "nope-nope")), 401, "unauthorized")


def test_user_reads_own_village_and_forms(client, township):
    info = client.get(f"/sync/fp_v_{township.a}/", auth=A)
    assert info.status_code == 200
    assert info.get_json()["db_name"] == f"fp_v_{township.a}"  # the deployment prefix stays hidden
    assert client.get("/sync/fp_forms/", auth=A).status_code == 200
    changes = client.get("/sync/fp_forms/_changes?style=all_docs&since=0&limit=50", auth=A).get_json()
    assert any(r["id"].startswith("form:damage_survey:") for r in changes["results"])


def test_user_of_village_a_cannot_read_or_write_village_b(client, township):
    assert_couch_error(client.get(f"/sync/fp_v_{township.b}/", auth=A), 403, "forbidden")
    assert_couch_error(client.get(f"/sync/fp_v_{township.b}/_changes?since=0", auth=A), 403, "forbidden")
    assert_couch_error(
        bulk(client, township, [sub(township, village=township.b)], village=township.b), 403, "forbidden"
    )


def test_field_user_may_write_only_own_submissions(client, conn, township):
    resp = bulk(
        client,
        township,
        [
            sub(township, uuid="ok1"),
            {"_id": "household:500112104201-0001", "type": "household"},
            {"_id": "review:ok1", "type": "review", "state": "approved"},
            sub(township, user="gw_b", uuid="forged"),
            sub(township, uuid="wrongvillage", village_code=township.b),
            {"_id": "_design/evil", "validate_doc_update": "function(){}"},
            sub(township, uuid="typeless", type="note"),
        ],
    )
    assert resp.status_code == 201
    by_id = {r["id"]: r for r in resp.get_json()}
    assert by_id["submission:ok1"]["ok"] is True
    for denied in (
        "household:500112104201-0001",
        "review:ok1",
        "submission:forged",
        "submission:wrongvillage",
        "_design/evil",
        "submission:typeless",
    ):
        assert by_id[denied]["error"] == "forbidden", denied
        assert " / " in by_id[denied]["reason"]  # Chinese / English
    db = names.village_db(township.a)
    stored = conn.admin.get_many(db, list(by_id))
    assert set(stored) == {"submission:ok1"}


def test_another_users_submission_cannot_be_overwritten_or_deleted(client, conn, township):
    conn.admin.create_db(names.village_db(township.a))
    from server.access.accounts import add_user

    add_user(conn.admin, "gw_a2", PASSWORD, "field", [township.a])
    first = bulk(client, township, [sub(township, uuid="mine")]).get_json()[0]
    takeover = bulk(
        client, township, [sub(township, user="gw_a2", uuid="mine", _rev=first["rev"])], auth=("gw_a2", PASSWORD)
    ).get_json()[0]
    assert takeover["error"] == "forbidden"
    delete = bulk(client, township, [{"_id": "submission:mine", "_rev": first["rev"], "_deleted": True}])
    assert delete.get_json()[0]["error"] == "forbidden"
    single = client.delete(f"/sync/fp_v_{township.a}/submission:mine?rev={first['rev']}", auth=A)
    assert_couch_error(single, 403, "forbidden")
    assert conn.admin.get(names.village_db(township.a), "submission:mine")["submitted_by"] == "gw_a"


def test_single_document_put_follows_the_same_rules(client, conn, township):
    ok = client.put(f"/sync/fp_v_{township.a}/submission:p1", auth=A, json=sub(township, uuid="p1"))
    assert ok.status_code == 201
    bad = client.put(f"/sync/fp_v_{township.a}/review:p1", auth=A, json={"_id": "review:p1"})
    assert_couch_error(bad, 403, "forbidden")
    multipart = client.put(
        f"/sync/fp_v_{township.a}/submission:p2", auth=A, data=b"--x\r\n", content_type="multipart/related; boundary=x"
    )
    assert_couch_error(multipart, 415, "bad_content_type")


@pytest.mark.parametrize(
    "path",
    [
        "/sync/_users/",
        "/sync/_users/org.couchdb.user:fp_gateway",
        "/sync/_replicator/",
        "/sync/_all_dbs",
        "/sync/_config",
        "/sync/_session",
        "/sync/fp_cases/",
        "/sync/fp_accounts/_all_docs",
        "/sync/..%2f_users",
        "/sync/..%2F_config",
        "/sync/fp_forms%2f..%2f_users",
        "/sync/_replicate",
    ],
)
def test_server_databases_and_endpoints_are_unreachable(client, township, path):
    assert_couch_error(client.get(path, auth=A), 403, "forbidden")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/_changes?filter=_selector", 400),
        ("GET", "/_changes?filter=_design", 400),
        ("GET", "/_changes?feed=continuous", 400),
        ("GET", "/_changes?feed=eventsource", 400),
        ("POST", "/_changes?filter=_doc_ids", 403),
        ("PUT", "", 403),
        ("DELETE", "", 403),
        ("POST", "/_find", 403),
        ("POST", "/_index", 403),
        ("GET", "/_design/fangpin/_view/x", 403),
        ("POST", "/_purge", 403),
        ("GET", "/_security", 403),
        ("PUT", "/_security", 403),
        ("POST", "/_compact", 403),
        ("GET", "/_all_docs?foo=1", 400),
    ],
)
def test_requests_that_would_crash_or_bypass_the_server_are_refused(client, township, method, path, status):
    resp = client.open(f"/sync/fp_v_{township.a}{path}", method=method, auth=A, json={"selector": {}})
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.get_json()["message"]["en"]


def test_forms_database_is_read_only(client, township):
    assert_couch_error(
        client.post("/sync/fp_forms/_bulk_docs", auth=A, json={"docs": [{"_id": "form:x:1"}]}), 403, "forbidden"
    )
    # PouchDB treats a refused source checkpoint as a read-only source and carries on
    cp = "Zm9ybXMtY2hlY2twb2lud."  # the shape of a PouchDB replication id
    assert_couch_error(client.put(f"/sync/fp_forms/_local/{cp}==", auth=A, json={"last_seq": 1}), 403, "forbidden")
    assert client.get(f"/sync/fp_forms/_local/{cp}==", auth=A).status_code == 404


def test_clerks_and_admins_do_not_sync(client, township):
    for user in ("clerk", "boss"):
        assert_couch_error(client.get("/sync/fp_forms/", auth=(user, PASSWORD)), 403, "forbidden")


def test_session_cookie_works_like_basic_auth(client, township):
    assert client.post("/api/v1/session", json={"name": "gw_a", "password": PASSWORD}).status_code == 200
    assert (
        client.get(
            f"/sync/fp_v_{township.a}/",
        ).status_code
        == 200
    )
    assert client.get(f"/sync/fp_v_{township.b}/").status_code == 403


def test_writes_need_json(client, township):
    resp = client.post(
        f"/sync/fp_v_{township.a}/_bulk_docs", auth=A, data=json.dumps({"docs": []}), content_type="text/plain"
    )
    assert_couch_error(resp, 415, "bad_content_type")
    bad = client.post(f"/sync/fp_v_{township.a}/_bulk_docs", auth=A, data=b"{not json", content_type="application/json")
    assert_couch_error(bad, 400, "bad_request")


def test_longpoll_answers_when_a_change_arrives_and_times_out_otherwise(client, conn, township):
    path = f"/sync/fp_v_{township.a}/_changes"
    now = client.get(path + "?since=0", auth=A).get_json()["last_seq"]
    started = time.monotonic()
    empty = client.get(f"{path}?feed=longpoll&since={now}&timeout=1000", auth=A).get_json()
    assert empty["results"] == [] and time.monotonic() - started >= 0.9

    def write_later():
        time.sleep(0.5)
        conn.admin.put(names.village_db(township.a), {"_id": "review:late", "type": "review", "submitted_by": "gw_a"})

    writer = threading.Thread(target=write_later)
    writer.start()
    resp = client.get(f"{path}?feed=longpoll&since={now}&timeout=20000&heartbeat=10000", auth=A)
    writer.join()
    assert [r["id"] for r in json.loads(resp.get_data())["results"]] == ["review:late"]


OWNED_KINDS = ("submission", "review")


def test_a_longpoll_sleeps_through_changes_its_caller_may_not_see(app, conn, township):
    """A colleague's survey and review move the village's feed but are not this tablet's: its
    long-poll keeps waiting (answered, it would wake every tablet of the village for nothing) and
    answers with the next change it may see, or at its timeout with a seq past the hidden ones."""
    db = names.village_db(township.a)
    path = f"/sync/{db}/_changes"
    now = app.test_client().get(path + "?since=0", auth=A).get_json()["last_seq"]
    watch, pages = app.extensions["fangpin.feed_watch"], app.extensions["fangpin.shared_reads"]
    answers: dict[str, dict] = {}

    def tablet(key: str, since: object, timeout_ms: int) -> None:
        resp = app.test_client().get(f"{path}?feed=longpoll&since={since}&timeout={timeout_ms}", auth=A)
        answers[key] = json.loads(resp.get_data())

    waiting = threading.Thread(target=tablet, args=("waits", now, 30_000))
    waiting.start()
    wait_for(lambda: watch.waiting(db) == 1, message="the tablet is waiting")
    reads = pages.upstream_reads
    colleague = [{"_id": f"{kind}:colleague", "type": kind, "submitted_by": "gw_x"} for kind in OWNED_KINDS]
    conn.admin.bulk_docs(db, colleague)
    wait_for(lambda: pages.upstream_reads > reads and watch.waiting(db) == 1, message="read them, waiting again")
    assert "waits" not in answers
    conn.admin.put(db, {"_id": f"household:{township.a}-0001", "type": "household", "village_code": township.a})
    waiting.join(30)
    assert [r["id"] for r in answers["waits"]["results"]] == [f"household:{township.a}-0001"]

    after = app.test_client().get(path + "?since=0", auth=A).get_json()["last_seq"]
    conn.admin.put(db, {"_id": "review:colleague2", "type": "review", "submitted_by": "gw_x"})
    tablet("times_out", after, 1500)
    assert answers["times_out"]["results"] == []
    assert answers["times_out"]["last_seq"] != after  # past the colleague's review: not read again


def test_tablets_waiting_on_one_village_share_each_changes_read(app, conn, township):
    """Eight tablets long-polling the same village wake together and are answered from one read."""
    path = f"/sync/fp_v_{township.a}/_changes"
    now = app.test_client().get(path + "?since=0", auth=A).get_json()["last_seq"]
    pages = app.extensions["fangpin.shared_reads"]
    reads_before = pages.upstream_reads
    answers: list[list[str]] = []
    start = threading.Barrier(9)

    def tablet() -> None:
        client = app.test_client()
        start.wait()
        resp = client.get(f"{path}?feed=longpoll&since={now}&timeout=20000&style=all_docs", auth=A)
        answers.append([r["id"] for r in json.loads(resp.get_data())["results"]])

    threads = [threading.Thread(target=tablet) for _ in range(8)]
    for t in threads:
        t.start()
    start.wait()
    watch = app.extensions["fangpin.feed_watch"]
    db = names.village_db(township.a)
    wait_for(lambda: watch.waiting(db) == 8, message="all eight tablets waiting")
    conn.admin.put(names.village_db(township.a), {"_id": "review:shared", "type": "review", "submitted_by": "gw_a"})
    for t in threads:
        t.join(30)
    assert answers == [["review:shared"]] * 8
    # one read while they were all at the same seq, one after the change woke them (a tablet that
    # came in late may have read at either seq on its own)
    assert 2 <= pages.upstream_reads - reads_before <= 4


def test_invalid_answers_are_accepted_but_non_submissions_are_refused(client, conn, township):
    wrong_answers = sub(township, uuid="wrong", data={"income_drop_pct": 120, "tsunami": True})
    no_version = {k: v for k, v in sub(township, uuid="noversion").items() if k != "form_version"}
    data_not_object = sub(township, uuid="flat", data="deaths=0")
    resp = bulk(client, township, [wrong_answers, no_version, data_not_object])
    by_id = {r["id"]: r for r in resp.get_json()}
    assert by_id["submission:wrong"].get("ok") is True  # stored, the worker will flag it
    assert by_id["submission:noversion"]["error"] == "bad_request"
    assert (
        "form_version" in by_id["submission:noversion"]["reason"]
        and "不是有效的提交记录" in by_id["submission:noversion"]["reason"]
    )
    assert (
        by_id["submission:flat"]["error"] == "bad_request"
        and "data must be an object" in by_id["submission:flat"]["reason"]
    )
    stored = conn.admin.get_many(names.village_db(township.a), list(by_id))
    assert set(stored) == {"submission:wrong"}
    single = client.put(f"/sync/fp_v_{township.a}/submission:noversion", auth=A, json=no_version)
    assert_couch_error(single, 400, "bad_request")


def test_oversized_documents_are_refused_with_413(app, client, township):
    app.config["MAX_DOC_BYTES"] = 4000
    big = sub(township, uuid="big", data={"notes": "字" * 2000})
    small = sub(township, uuid="small", data={"notes": "字" * 100})
    by_id = {r["id"]: r for r in bulk(client, township, [big, small]).get_json()}
    assert by_id["submission:big"]["error"] == "too_large" and "4000" in by_id["submission:big"]["reason"]
    assert by_id["submission:small"]["ok"] is True
    single = client.put(f"/sync/fp_v_{township.a}/submission:big", auth=A, json=big)
    assert_couch_error(single, 413, "too_large")


def test_tablets_asking_for_the_same_revisions_share_one_read_and_still_see_only_their_own(app, conn, township):
    """A village's tablets wake together and ask for the same new revisions: each is read upstream
    once per feed position. The shared answer is filtered per caller (a colleague's review stays
    hidden even when its owner's request filled the cache), a "missing" answer is never kept, and
    once the feed moves the next request reads again."""
    from server.access.accounts import add_user

    add_user(conn.admin, "gw_a2", PASSWORD, "field", [township.a])
    db = names.village_db(township.a)
    house = {"_id": f"household:{township.a}-0001", "type": "household", "village_code": township.a}
    review = {"_id": "review:of-a", "type": "review", "submitted_by": "gw_a"}
    rows = conn.admin.bulk_docs(db, [house, review])
    watch, reads = app.extensions["fangpin.feed_watch"], app.extensions["fangpin.shared_reads"]
    watch.seq(db)
    wait_for(lambda: watch.seq(db) == conn.admin.latest_seq(db), message="the watch is at the feed's end")
    items = [{"id": r["id"], "rev": r["rev"]} for r in rows]
    client = app.test_client()

    def ask(auth, docs=items) -> list[tuple[str, str]]:
        resp = client.post(f"/sync/{db}/_bulk_get?revs=true", auth=auth, json={"docs": docs})
        assert resp.status_code == 200, resp.get_data()
        answers = [(r["id"], r["docs"][0]) for r in resp.get_json()["results"]]
        # a missing revision: {"missing": rev} from pouchdb-server, a not_found error from CouchDB
        return [(i, "ok" if "ok" in d else "not_found" if "missing" in d else d["error"]["error"]) for i, d in answers]

    assert ask(A) == [(house["_id"], "ok"), ("review:of-a", "ok")]
    before = reads.upstream_reads
    assert ask(("gw_a2", PASSWORD)) == [(house["_id"], "ok"), ("review:of-a", "not_found")]
    assert ask(A) == [(house["_id"], "ok"), ("review:of-a", "ok")]
    assert reads.upstream_reads == before  # both answered from the first read

    predicted = [{"id": f"household:{township.a}-0002", "rev": "1-" + "0" * 32}]
    assert ask(("gw_a2", PASSWORD), predicted) == [(predicted[0]["id"], "not_found")]
    assert ask(A, predicted) == [(predicted[0]["id"], "not_found")]
    assert reads.upstream_reads == before + 2  # a missing answer is read again every time

    photo = {"photo.jpg": {"content_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}}
    photo_rev = conn.admin.put(db, {"_id": "review:with-photo", "type": "review", "submitted_by": "gw_a",
                                    "_attachments": photo})  # fmt: skip
    wait_for(lambda: watch.seq(db) == conn.admin.latest_seq(db), message="the watch saw the photo")
    with_photo = [{"id": "review:with-photo", "rev": photo_rev}]
    before = reads.upstream_reads
    for _ in range(2):
        resp = client.post(f"/sync/{db}/_bulk_get?revs=true&attachments=true", auth=A, json={"docs": with_photo})
        assert "data" in resp.get_json()["results"][0]["docs"][0]["ok"]["_attachments"]["photo.jpg"]
    assert reads.upstream_reads == before + 2  # attachment data is never kept

    conn.admin.put(db, {**house, "_rev": rows[0]["rev"], "tier": "high"})
    wait_for(lambda: watch.seq(db) == conn.admin.latest_seq(db), message="the watch saw the write")
    before = reads.upstream_reads
    # asked out of id order (pouchdb-server answers grouped by id): each answer is still its own
    assert ask(A, items[::-1]) == [("review:of-a", "ok"), (house["_id"], "ok")]
    assert reads.upstream_reads == before + 2  # a new feed position: read again
