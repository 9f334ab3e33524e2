"""Security probes (real CouchDB; Flask test client, and the real web + worker for the log check).

Every route the app has is enumerated from its URL map and called anonymously, as a grid worker of
another village and as a clerk of another township; path tricks on the sync gateway; oversized
bodies; XSS payloads in names and comments; CSRF on every state-changing clerk route; brute force;
ID numbers never in logs. Each probe counts its checks, and the suite reports the total.
"""

from __future__ import annotations

import re

import pytest
import records
from conftest import PASSWORD, wait_for
from test_clerk_app import TOKEN, act, sign_in, surveyed
from test_household_worker import push, roster, run, survey

from sync import names

CHECKS: dict[str, int] = {}


def checked(probe: str, n: int = 1) -> None:
    CHECKS[probe] = CHECKS.get(probe, 0) + n


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(f"\nsecurity probes: {len(CHECKS)} probes, {sum(CHECKS.values())} checks: {CHECKS}")


SAMPLE = {"code": "en", "fmt": "xlsx", "form_id": "damage_survey", "name": "gw_a", "device_id": "tab-1",
          "key": "abcdef123456", "filename": "clerk.css", "_ignored": "fp_forms"}  # fmt: skip


def routes(app, values: dict[str, str]):
    """(method, path, rule) for every route of the app, filled with ``values``."""
    for rule in app.url_map.iter_rules():
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"}) or ["HEAD"]
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(rf"<(?:[a-z]+:)?{arg}>", values.get(arg, SAMPLE.get(arg, "x")), path)
        for method in methods:
            yield method, path, rule


# what an anonymous caller may get with a 2xx: nothing but these
PUBLIC = {
    ("GET", "/api/v1/health"),
    ("GET", "/clerk/login"),
    ("GET", "/static/clerk.css"),
    ("GET", "/app/"),  # the field app's shell (sign-in screen); its data needs a credential
    ("DELETE", "/api/v1/session"),
}


def test_every_route_refuses_an_anonymous_caller(app, client, conn, township):
    [uuid] = surveyed(conn, township.a, 1)
    values = {"uuid": uuid, "household_id": f"{township.a}-0001", "other_id": f"{township.a}-0002", "name": "gw_a"}
    seen = 0
    for method, path, _ in routes(app, values):
        resp = client.open(path, method=method, headers={"X-OpenRosa-Version": "1.0"})
        assert resp.status_code < 500, (method, path, resp.status_code)
        if (method, path) in PUBLIC:
            continue
        assert not 200 <= resp.status_code < 300, (method, path, resp.status_code)
        if path.startswith("/clerk/") and resp.status_code == 302:
            assert "/clerk/login" in resp.headers["Location"] or path.startswith("/clerk/lang/")
        seen += 1
    assert seen > 50
    checked("anonymous", seen)


def test_a_field_user_of_another_village_gets_nothing_of_village_a(app, client, conn, township):
    [uuid] = surveyed(conn, township.a, 1)
    values = {"uuid": uuid, "household_id": f"{township.a}-0001", "other_id": f"{township.a}-0002", "name": "gw_a"}
    auth = ("gw_b", PASSWORD)
    for method, path, _ in routes(app, values):
        if method != "GET" or path.startswith(("/static", "/api/v1/health", "/clerk/login", "/clerk/lang")):
            continue
        resp = client.open(path, method=method, auth=auth, headers={"X-OpenRosa-Version": "1.0"})
        body = resp.get_data(as_text=True)
        assert resp.status_code < 500 and "王秀英" not in body and "石坪村" not in body, (path, resp.status_code)
        assert resp.status_code >= 400 or uuid not in body, path  # a refusal may repeat the id it was asked for
        checked("field user, other village")
    for db in (names.village_db(township.a), "fp_cases", "fp_accounts", "_users"):
        assert client.get(f"/sync/{db}", auth=auth).status_code in (403, 404)
        checked("field user, other village")


def test_a_clerk_of_another_township_gets_nothing_of_township_a(app, client, conn, township):
    [uuid] = surveyed(conn, township.a, 1)
    values = {"uuid": uuid, "household_id": f"{township.a}-0001", "other_id": f"{township.a}-0002", "name": "gw_a"}
    sign_in(client, "clerk_other")
    token = TOKEN.search(client.get("/clerk/dashboard").get_data(as_text=True)).group(1)
    for method, path, _ in routes(app, values):
        if path.startswith(("/static", "/clerk/login", "/clerk/logout", "/clerk/lang", "/sync")):
            continue
        resp = client.open(path, method=method, data={"csrf_token": token, "action_key": "p" * 16},
                           headers={"X-OpenRosa-Version": "1.0", "X-CSRF-Token": token})  # fmt: skip
        body = resp.get_data(as_text=True) if resp.mimetype.startswith(("text", "application/json")) else ""
        assert resp.status_code < 500, (method, path, resp.status_code)
        assert "王秀英" not in body and "石坪村" not in body, (method, path)
        assert resp.status_code >= 300 or uuid not in body, (method, path)
        checked("clerk, other township")


@pytest.mark.parametrize(
    "path",
    ["/sync/..%2f_users", "/sync/_all_dbs", "/sync/_config", "/sync/_replicate", "/sync/%2e%2e/_users",
     "/sync/fp_v_500112104201/..%2f..%2f_users", "/sync/fp_cases/_all_docs", "/sync/fp_accounts",
     "/sync/_users/org.couchdb.user:fp_gateway", "/sync/fp_forms/_design/fangpin", "/sync//fp_forms",
     "/sync/fp_v_500112104201/_find", "/sync/fp_v_500112104201/_purge", "/sync/fp_v_500112104201/_security"],
)  # fmt: skip
def test_path_tricks_never_reach_couchdb(client, township, path):
    for method in ("GET", "POST", "PUT", "DELETE"):
        resp = client.open(path, method=method, auth=("gw_a", PASSWORD), json={})
        if resp.status_code == 308:  # werkzeug merges a doubled slash by redirecting to the same gateway path
            assert "//" in path and resp.headers["Location"].endswith(path.replace("//", "/"))
        else:
            assert resp.status_code in (400, 401, 403, 404, 405, 415), (method, path, resp.status_code)
        checked("path tricks")


def test_oversized_bodies_are_refused_before_they_are_read(client, township):
    huge = str(65 * 1024 * 1024)
    for path in ("/sync/fp_v_500112104201/_bulk_docs", "/api/v1/submissions/review", "/submission", "/clerk/roster"):
        headers = {"X-OpenRosa-Version": "1.0"}
        resp = client.post(path, data=b"{}", auth=("gw_a", PASSWORD), headers=headers, content_type="application/json",
                           environ_overrides={"CONTENT_LENGTH": huge})  # fmt: skip
        assert resp.status_code == 413, (path, resp.status_code)
        checked("oversized bodies")


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_names_and_comments_with_markup_are_shown_escaped_everywhere(client, conn, township):
    a = township.a
    roster(conn, a, 1)
    doc = survey(a, f"{a}-0001", head_name=XSS, notes=XSS)
    push(conn, a, doc)
    run(conn)
    uuid = names.doc_id_suffix(doc["_id"])
    sign_in(client)
    act(client, [uuid], "return", comment=XSS)
    pages = ["/clerk/dashboard", "/clerk/queue?state=all", f"/clerk/submissions/{uuid}", "/clerk/households",
             f"/clerk/households/{a}-0001", "/clerk/identification", f"/clerk/cards?village={a}"]  # fmt: skip
    for page in pages:
        body = client.get(page).get_data(as_text=True)
        assert "<script>alert" not in body and "onerror=alert" not in body.replace("onerror=alert(1)&gt;", ""), page
        checked("xss escaped")
    assert "&lt;script&gt;" in client.get(f"/clerk/submissions/{uuid}").get_data(as_text=True)


def test_every_state_changing_clerk_route_needs_the_csrf_token(app, client, conn, township):
    [uuid] = surveyed(conn, township.a, 1)
    values = {"uuid": uuid, "household_id": f"{township.a}-0001", "other_id": f"{township.a}-0002", "name": "gw_a"}
    sign_in(client)
    posts = [(m, p) for m, p, _ in routes(app, values) if p.startswith("/clerk/") and m == "POST"]
    assert len(posts) >= 12
    for method, path in posts:
        for forged in ({}, {"csrf_token": "forged"}):
            resp = client.open(path, method=method, data={**forged, "action_key": "c" * 16})
            assert resp.status_code == 403, (path, forged, resp.status_code)
            checked("csrf")
    assert client.get("/clerk/dashboard").status_code == 200  # still signed in: nothing was done
    cookie_api = client.post("/api/v1/submissions/review", json={"ids": [uuid], "action": "approve"})
    assert cookie_api.status_code == 403  # the API with a browser cookie needs X-CSRF-Token too
    checked("csrf")


def test_brute_force_locks_the_name_on_every_door(client, township):
    for _ in range(5):
        client.post("/api/v1/session", json={"name": "clerk", "password": "guess-guess"})
    for resp in (
        client.post("/api/v1/session", json={"name": "clerk", "password": PASSWORD}),
        client.get("/api/v1/me", auth=("clerk", PASSWORD)),
        client.get("/formList", auth=("clerk", PASSWORD), headers={"X-OpenRosa-Version": "1.0"}),
    ):
        assert resp.status_code == 429
        checked("brute force")
    assert client.get("/api/v1/me", auth=("gw_a", PASSWORD)).status_code == 200  # another name is not locked


@pytest.mark.slow
def test_id_numbers_and_phones_never_reach_the_logs(conn, township, web, spawn, settings):
    import requests
    from test_household_worker import survey as household_survey

    worker = spawn("-v", "worker", name="worker")  # verbose: everything the worker would log
    a = township.a
    roster(conn, a, 1)
    bad = household_survey(a, f"{a}-0001", phone="13912345678", head_id_number="11010519491231002Y")
    push(conn, a, bad, household_survey(a, f"{a}-0001", seq=2))
    wait_for(lambda: len(list(conn.admin.iter_prefix(names.village_db(a), "review:"))) == 2, message="2 reviews")
    session = requests.Session()
    page = session.get(web.url + "/clerk/login").text
    session.post(web.url + "/clerk/login", data={"name": "clerk", "password": PASSWORD,
                 "csrf_token": TOKEN.search(page).group(1)})  # fmt: skip
    for path in (f"/clerk/households?q={records.HEAD_ID}", f"/clerk/households/{a}-0001",
                 f"/clerk/submissions/{names.doc_id_suffix(bad['_id'])}", "/clerk/export/households.csv?numbers=whole",
                 f"/api/v1/households/{a}-0001"):  # fmt: skip
        assert session.get(web.url + path).status_code == 200
    session.get(web.url + f"/api/v1/households/{records.HEAD_ID}")  # an ID number in a path: 404, and logged?
    logs = web.proc.output() + worker.output()
    for secret in (records.HEAD_ID, "11010519491231002Y", records.SPOUSE_ID, "13912345678", "13800138000"):
        assert secret not in logs, secret
        checked("logs")
    assert '"GET /clerk/households" 200' in logs  # the access log is there, without its query string
