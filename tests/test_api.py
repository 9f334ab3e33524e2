"""JSON API contract: /api/v1/health, session, me, submissions."""

from __future__ import annotations

import records
from conftest import PASSWORD

from server.pipeline.worker import Worker
from sync import names


def test_health_reports_couchdb_and_worker_lag(app, conn, township):
    Worker(conn.admin).sweep()
    assert app.test_client().get("/api/v1/health").get_json() == {"status": "ok", "couchdb": "ok", "worker": {"lag": 0}}
    push(conn, township, township.a, "lag1", "gw_a")
    push(conn, township, township.b, "lag2", "gw_b")
    app.extensions["fangpin.health"].clear()  # the answer is cached for two seconds
    assert app.test_client().get("/api/v1/health").get_json()["worker"] == {"lag": 2}


def test_session_login_sets_a_cookie_and_me_describes_the_user(client, township):
    resp = client.post("/api/v1/session", json={"name": "gw_a", "password": PASSWORD})
    assert resp.status_code == 200
    assert "fangpin_session=" in resp.headers["Set-Cookie"] and "HttpOnly" in resp.headers["Set-Cookie"]
    me = client.get("/api/v1/me").get_json()
    assert me["name"] == "gw_a" and me["role"] == "field" and me["villages"] == [township.a]
    assert me["township"] is None
    assert me["sync"] == {"url": "http://localhost/sync/", "databases": ["fp_forms", f"fp_v_{township.a}"]}
    assert client.delete("/api/v1/session").status_code == 200
    assert client.get("/api/v1/me").status_code == 401


def test_clerk_sees_the_villages_of_its_township(client, township):
    me = client.get("/api/v1/me", auth=("clerk", PASSWORD)).get_json()
    assert me["role"] == "clerk" and me["township"] == township.a[:9]
    assert me["villages"] == [township.a, township.b]
    assert me["sync"]["databases"] == []


def test_bad_login_requests_get_bilingual_errors(client, township):
    missing = client.post("/api/v1/session", json={"name": "gw_a"})
    assert missing.status_code == 400 and missing.get_json()["message"]["zh"]
    wrong = client.post("/api/v1/session", json={"name": "gw_a", "password": "wrong-password"})
    assert wrong.status_code == 401 and wrong.get_json()["message"] == {
        "zh": "用户名或密码错误",
        "en": "name or password is incorrect",
    }


def test_repeated_failures_lock_the_account(client, township):
    for _ in range(5):
        assert client.post("/api/v1/session", json={"name": "gw_b", "password": "guess-guess"}).status_code == 401
    locked = client.post("/api/v1/session", json={"name": "gw_b", "password": PASSWORD})
    assert locked.status_code == 429 and locked.get_json()["error"] == "locked"
    # other accounts are unaffected
    assert client.post("/api/v1/session", json={"name": "gw_a", "password": PASSWORD}).status_code == 200


def push(conn, township, village, uuid, user, **over):
    doc = records.submission(
        "damage_survey", uuid, village_code=village, household_id=f"{village}-0001", submitted_by=user, **over
    )
    doc.pop("_rev")
    conn.gateway.bulk_docs(names.village_db(village), [{k: v for k, v in doc.items() if v is not None}])


def test_submissions_list_filter_and_detail(client, conn, township):
    push(conn, township, township.a, "s1", "gw_a")
    push(conn, township, township.a, "s2", "gw_a", form_version=None)
    push(conn, township, township.b, "s3", "gw_b")
    push(conn, township, township.other, "s4", "gw_other")
    Worker(conn.admin).sweep()

    clerk = ("clerk", PASSWORD)
    listing = client.get("/api/v1/submissions", auth=clerk).get_json()
    assert sorted(s["id"] for s in listing["submissions"]) == ["s1", "s2", "s3"]
    issues = client.get(f"/api/v1/submissions?village={township.a}&state=has_issues", auth=clerk).get_json()
    assert [s["id"] for s in issues["submissions"]] == ["s2"]
    detail = client.get("/api/v1/submissions/s2", auth=clerk).get_json()
    assert set(detail) >= {
        "id",
        "form_id",
        "form_version",
        "village_code",
        "household_id",
        "submitted_by",
        "state",
        "issues",
    }
    assert detail["state"] == "has_issues"
    assert detail["issues"] == [
        {
            "path": "form_version",
            "code": "envelope.missing",
            "severity": "error",
            "message": {"zh": "缺少必填项 form_version", "en": "required field form_version is missing"},
        }
    ]
    assert client.get("/api/v1/submissions/s1", auth=clerk).get_json()["state"] == "received"

    # a clerk of another township and a field user of another village see none of it
    assert client.get("/api/v1/submissions/s1", auth=("clerk_other", PASSWORD)).status_code == 404
    assert client.get(f"/api/v1/submissions?village={township.a}", auth=("gw_b", PASSWORD)).status_code == 403
    own = client.get("/api/v1/submissions", auth=("gw_b", PASSWORD)).get_json()
    assert [s["id"] for s in own["submissions"]] == ["s3"]
    bad = client.get("/api/v1/submissions?state=done", auth=clerk)
    assert bad.status_code == 400 and "received" in bad.get_json()["message"]["en"]


def test_unknown_routes_answer_json_in_both_languages(client):
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404
    assert resp.get_json()["message"] == {"zh": "没有这个地址", "en": "no such address"}
