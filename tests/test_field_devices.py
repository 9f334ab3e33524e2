"""The field app's doors: signing a device in with the password (``POST /api/v1/devices``), its
reports (``PUT /api/v1/devices/<id>/telemetry``), the clerk's resync flag, and ``/app/`` itself —
through gunicorn with raw HTTP, with parallel guesses and strange bodies."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import threading
from urllib.parse import urlsplit

import pytest
import requests
from conftest import PASSWORD
from test_clerk_app import TOKEN

from server.access import enrolment
from sync import names

pytestmark = pytest.mark.slow


def sign_in(web, name: str = "gw_a", password: str = PASSWORD, device: str = "app-1", **extra):
    body = {"name": name, "password": password, "device_id": device, "label": "测试平板", **extra}
    return requests.post(web.url + "/api/v1/devices", json=body, timeout=30)


def report(web, user: str, credential: str, device: str, body: object):
    return requests.put(f"{web.url}/api/v1/devices/{device}/telemetry", json=body, auth=(user, credential), timeout=30)


def raw(web, method: str, path: str) -> tuple[int, dict]:
    parts = urlsplit(web.url)
    http_conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    http_conn.request(method, path)
    resp = http_conn.getresponse()
    return resp.status, dict(resp.getheaders())


def test_a_password_is_exchanged_once_for_a_device_credential_that_syncs(conn, township, web):
    resp = sign_in(web)
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["user"] == "gw_a" and answer["password"].startswith("device.app-1.")
    assert answer["sync"]["databases"] == [names.FORMS, names.village_db(township.a)]
    credential = answer["password"]
    assert requests.get(f"{web.url}/sync/{names.FORMS}", auth=("gw_a", credential), timeout=30).status_code == 200
    # the device doc holds a digest, never the credential or the password
    doc = conn.admin.get(names.ACCOUNTS, "device:gw_a:app-1")
    assert credential.split(".", 2)[2] not in json.dumps(doc) and PASSWORD not in json.dumps(doc)
    audit = [
        d["action"] for d in conn.admin.iter_prefix(names.CASES, "audit:") if d.get("target") == "device:gw_a:app-1"
    ]
    assert "device.enrolled" in audit

    # a device credential cannot make another device; a clerk cannot sign a tablet in
    again = sign_in(web, password=credential, device="app-2")
    assert again.status_code == 403 and "设备凭据" in again.json()["message"]["zh"]
    clerk = sign_in(web, name="clerk", device="app-3")
    assert clerk.status_code == 403 and "网格员" in clerk.json()["reason"]
    assert conn.admin.get(names.ACCOUNTS, "device:gw_a:app-2") is None
    assert conn.admin.get(names.ACCOUNTS, "device:clerk:app-3") is None


@pytest.mark.parametrize(
    "body, status",
    [
        ("not json", 400),
        ([], 400),
        ({"name": "gw_a", "password": PASSWORD}, 400),
        ({"name": "gw_a", "password": PASSWORD, "device_id": 7}, 400),
        ({"name": "gw_a", "password": PASSWORD, "device_id": "../x"}, 400),
        ({"name": "gw_a", "password": PASSWORD, "device_id": "d" * 41}, 400),
        ({"name": "gw_a", "password": "wrong", "device_id": "ok-1"}, 401),
        ({"name": "nobody", "password": PASSWORD, "device_id": "ok-1"}, 401),
    ],
)
def test_a_bad_sign_in_is_refused_in_both_languages_and_makes_no_device(conn, township, web, body, status):
    resp = requests.post(web.url + "/api/v1/devices", data=body if isinstance(body, str) else json.dumps(body),
                         headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
    assert resp.status_code == status, resp.text
    message = resp.json()["message"]
    assert message["zh"] and message["en"]
    assert not list(conn.admin.iter_prefix(names.ACCOUNTS, "device:"))


def test_parallel_guesses_at_the_device_door_lock_the_name(conn, township, web):
    statuses: list[int] = []
    start = threading.Barrier(24)

    def guess(n: int) -> None:
        start.wait()
        statuses.append(sign_in(web, password=f"guess-{n}", device=f"g-{n}").status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(401) <= 5 and set(statuses) <= {401, 429}, sorted(statuses)
    assert sign_in(web).status_code == 429  # the right password too, while locked
    assert not list(conn.admin.iter_prefix(names.ACCOUNTS, "device:"))


def test_a_tablet_reports_its_state_and_only_for_itself(conn, township, web):
    mine = sign_in(web).json()["password"]
    theirs = sign_in(web, name="gw_b", device="app-9").json()["password"]
    state = {"app_version": "0.1.0", "last_sync": "2026-12-01T10:00:00Z", "pending": 3, "storage_bytes": 5 << 20,
             "last_error": "x" * 1000, "extra": {"a": 1}, "password": PASSWORD}  # fmt: skip
    resp = report(web, "gw_a", mine, "app-1", state)
    assert resp.status_code == 200 and resp.json() == {"resync": False, "resync_requested_at": None}
    kept = conn.admin.get(names.ACCOUNTS, "device:gw_a:app-1")
    assert kept["telemetry"]["pending"] == 3 and len(kept["telemetry"]["last_error"]) == 300
    assert "extra" not in kept["telemetry"] and PASSWORD not in json.dumps(kept)
    wrong = {"pending": "3", "storage_bytes": 1.5, "app_version": ["x"]}
    report(web, "gw_a", mine, "app-1", wrong)
    assert conn.admin.get(names.ACCOUNTS, "device:gw_a:app-1")["telemetry"] == {}

    # not for another device of the same person, not with the password, not for a colleague's device
    assert report(web, "gw_a", mine, "app-2", state).status_code == 403
    assert report(web, "gw_a", PASSWORD, "app-1", state).status_code == 403
    assert report(web, "gw_a", mine, "app-9", state).status_code == 403
    assert report(web, "gw_b", theirs, "app-9", "[1]").status_code == 400
    assert report(web, "clerk", PASSWORD, "app-1", state).status_code == 403
    enrolment.revoke(conn.admin, "gw_a", "app-1", "clerk", dt.datetime.now(dt.UTC))
    assert report(web, "gw_a", mine, "app-1", state).status_code == 401


def test_the_clerk_sees_the_report_and_asks_for_a_resync_which_the_tablet_acknowledges(conn, township, web):
    credential = sign_in(web).json()["password"]
    report(web, "gw_a", credential, "app-1", {"app_version": "0.1.0", "pending": 2, "storage_bytes": 3 << 20})
    session = requests.Session()
    page = session.get(web.url + "/clerk/login", timeout=30).text
    session.post(web.url + "/clerk/login", timeout=30,
                 data={"name": "clerk", "password": PASSWORD, "csrf_token": TOKEN.search(page).group(1)})  # fmt: skip
    devices = session.get(web.url + "/clerk/devices", timeout=30).text
    assert 'data-device="app-1"' in devices and "0.1.0" in devices and "3.0 MB" in devices
    token = TOKEN.search(devices).group(1)
    asked = session.post(f"{web.url}/clerk/devices/gw_a/app-1/resync", data={"csrf_token": token}, timeout=30)
    assert asked.status_code == 200 and "已要求设备 app-1 重新同步" in asked.text
    flag = conn.admin.get(names.ACCOUNTS, "device:gw_a:app-1")["resync_requested_at"]
    assert flag
    # without the token the flag is not set (CSRF); another township's clerk cannot see the device
    assert session.post(f"{web.url}/clerk/devices/gw_a/app-1/resync", data={}, timeout=30).status_code in (400, 403)

    answer = report(web, "gw_a", credential, "app-1", {"pending": 0}).json()
    assert answer["resync"] is True  # told until it says it has resynced
    assert report(web, "gw_a", credential, "app-1", {"pending": 0}).json()["resync"] is True
    answer = report(web, "gw_a", credential, "app-1", {"pending": 0, "resynced_at": flag}).json()
    assert answer == {"resync": False, "resync_requested_at": None}
    assert "device.resync" in [d["action"] for d in conn.admin.iter_prefix(names.CASES, "audit:")]


def test_the_app_is_served_with_its_own_policy_and_nothing_outside_its_folder(township, web):
    status, headers = raw(web, "GET", "/app/")
    assert status == 200 and headers["Cache-Control"] == "no-cache"
    csp = headers["Content-Security-Policy"]
    assert (
        "script-src 'self' 'wasm-unsafe-eval';" in csp
        and "connect-src 'self'" in csp
        and "unsafe-eval'" not in csp.replace("wasm-unsafe-eval'", "")
    )
    status, headers = raw(web, "GET", "/app/sw.js")
    assert status == 200 and headers["Service-Worker-Allowed"] == "/app/" and headers["Cache-Control"] == "no-cache"
    for path in ("/app/../server/web/app.py", "/app/%2e%2e/pyproject.toml", "/app//etc/passwd", "/app/..%2fREADME.md",
                 "/app/assets/../../package.json"):  # fmt: skip
        status, _ = raw(web, "GET", path)
        assert status == 404, path
    status, headers = raw(web, "GET", "/app")
    assert status in (301, 302, 308) and headers["Location"].endswith("/app/")
