"""Issue 14's attacks, each replayed against the real system: gunicorn and raw HTTP where the
Flask test client would normalise the request away, real threads for races.

Every test here failed on the main it was written against; the note on the issue names them.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import socket
import uuid as uuid_module
from urllib.parse import urlsplit

import pytest
import records
from conftest import PASSWORD
from test_household_worker import roster, run, survey

from server.pipeline.worker import checkpoint_name, lag
from sync import names

pytestmark = pytest.mark.slow  # these start the real web service


def raw(web, method: str, path: str, body: object = None, user: str = "gw_a", headers: dict | None = None):
    """One request exactly as written (no path normalisation): (status, parsed JSON or text)."""
    url = urlsplit(web.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    conn.putrequest(method, path, skip_accept_encoding=True)
    conn.putheader("Authorization", f"Basic {token}")
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(data or b"")))
    conn.endheaders(data)
    resp = conn.getresponse()
    text = resp.read().decode("utf-8", "replace")
    conn.close()
    try:
        return resp.status, json.loads(text)
    except ValueError:
        return resp.status, text


def replication_id(seed: str) -> str:
    """A checkpoint id of the shape PouchDB's replicator makes (base64 md5, '/'→'.', '+'→'_')."""
    digest = base64.b64encode(hashlib.md5(seed.encode()).digest()).decode()
    return digest.replace("/", ".").replace("+", "_")


# -- item 12: dot segments and design docs ---------------------------------------------------
def test_dot_segments_and_design_docs_never_pass_the_gateway(web, conn, township):
    a, b = names.village_db(township.a), names.village_db(township.b)
    tricks = [
        f"/sync/{a}/../_all_dbs",
        f"/sync/{a}/./../_users",
        f"/sync/{a}/%2e%2e/_session",
        f"/sync/{a}/%2E%2E/{b}",
        f"/sync/{a}/../{b}/_all_docs",
        f"/sync/{a}/../../_config",
        f"/sync/{a}//_all_docs",
        f"/sync//../{b}",  # found by the fuzzer: a doubled slash was redirected to /sync/../<b>
        f"/sync/{a}/.",
        f"/sync/{a}/_design/idx-type-state",
        f"/sync/{a}/_design%2Fidx-type-state",
        "/sync/fp_forms/_design/fangpin",
        "/sync/fp_forms/_design%2ffangpin/_view/x",
    ]
    for path in tricks:
        for method in ("GET", "PUT", "POST"):
            status, body = raw(web, method, path, {})
            assert status in (400, 403, 404), (method, path, status, body)
            text = json.dumps(body)
            assert "fp_gateway" not in text and b not in text and "db_name" not in text, (path, text)
            assert "message" in body and body["message"]["zh"] and body["message"]["en"], (path, body)
    # design docs are not in any read a tablet makes, whatever is asked
    design_ids = [r["id"] for r in conn.admin.all_docs(a, "_design/", "_design0", include_docs=False)]
    assert design_ids  # the village database does have one (a Mango index)
    status, page = raw(web, "GET", f"/sync/{a}/_changes?style=all_docs&include_docs=true")
    assert status == 200 and not [r for r in page["results"] if r["id"].startswith("_design/")]
    status, page = raw(web, "GET", f"/sync/{a}/_all_docs?include_docs=true")
    assert status == 200 and not [r for r in page["rows"] if r["id"].startswith("_design/")]
    status, page = raw(web, "POST", f"/sync/{a}/_all_docs", {"keys": design_ids})
    assert status == 200 and page["rows"] == []
    status, page = raw(web, "POST", f"/sync/{a}/_bulk_get", {"docs": [{"id": i} for i in design_ids]})
    assert status == 200 and all("error" in r["docs"][0] for r in page["results"]), page
    status, page = raw(web, "POST", f"/sync/{a}/_bulk_get", {"docs": []})  # pouchdb-server would never answer
    assert status == 200 and page == {"results": []}
    status, page = raw(web, "POST", f"/sync/{a}/_revs_diff", {i: ["1-x"] for i in design_ids})
    assert status == 200 and page == {}


# -- item 3: server state out of the tablets' reach -----------------------------------------
def test_a_tablet_cannot_reach_the_workers_checkpoint_nor_anothers(web, conn, township):
    a = township.a
    db = names.village_db(a)
    roster(conn, a, 1)
    run(conn)
    cp = replication_id("tablet-1" + db)
    for name in ("fangpin-worker", "fangpin-conflicts", "tablet.gw_a." + cp, "x" * 200, cp + "/../fangpin-worker"):
        for method in ("GET", "PUT"):
            status, body = raw(web, method, f"/sync/{db}/_local/{name}", {"seq": 10**9})
            assert status in (400, 403), (name, method, status, body)
    # a body _id other than the URL's is refused, not taken
    status, body = raw(web, "PUT", f"/sync/{db}/_local/{cp}", {"_id": "_local/fangpin-worker", "seq": 10**9})
    assert status == 400, body
    # an oversized checkpoint is refused
    status, body = raw(web, "PUT", f"/sync/{db}/_local/{cp}", {"history": ["x" * 20_000]})
    assert status == 413 and body["error"] == "too_large"
    # a real checkpoint round-trips, and is the writer's own: another user of the village sees none
    status, body = raw(web, "PUT", f"/sync/{db}/_local/{cp}", {"last_seq": 7, "session_id": "s"})
    assert status == 201 and body["id"] == f"_local/{cp}", body
    status, doc = raw(web, "GET", f"/sync/{db}/_local/{cp}")
    assert status == 200 and doc["_id"] == f"_local/{cp}" and doc["last_seq"] == 7
    status, body = raw(web, "PUT", f"/sync/{db}/_local/{cp}", {**doc, "last_seq": 8})  # as PouchDB writes it back
    assert status == 201, body
    from server.access.accounts import add_user

    add_user(conn.admin, "gw_a2", PASSWORD, "field", [a])
    assert raw(web, "GET", f"/sync/{db}/_local/{cp}", user="gw_a2")[0] == 404
    # whatever a tablet did, the worker's position is where the worker left it: a new survey is
    # reviewed after a worker restart, and the health lag counts it until then
    sub = survey(a, f"{a}-0001")
    status, results = raw(web, "POST", f"/sync/{db}/_bulk_docs", {"docs": [sub]})
    assert status == 201 and results[0].get("ok"), results
    assert lag(conn.admin) >= 1
    assert conn.admin.get_local(db, "fangpin-worker") is None  # the worker keeps nothing in the village db
    run(conn)  # a fresh Worker: reads its checkpoint from fp_cases
    assert conn.admin.get(db, names.review_id(sub["_id"])) is not None
    assert conn.admin.get_local(names.CASES, checkpoint_name(db))["seq"]
    run(conn)  # the worker's own writes of the first run are changes after its checkpoint
    assert lag(conn.admin) == 0


# -- item 9 and part of 13: one bad string never costs a batch ---------------------------------
def test_a_lone_surrogate_or_nan_refuses_only_its_own_document(web, conn, township):
    a = township.a
    db = names.village_db(a)
    good, surrogate, nan, bad_id = (survey(a, f"{a}-000{i}") for i in range(1, 5))
    surrogate["data"]["notes"] = "SURROGATE"
    nan["data"]["income_wage"] = "NAN"
    bad_id["_id"] = "submission:BADID"
    text = json.dumps({"docs": [surrogate, good, nan, bad_id]}, ensure_ascii=False)
    # what JavaScript's truncation of an emoji and a float overflow put on the wire
    text = text.replace('"SURROGATE"', '"受灾\\ud83d"').replace('"NAN"', "NaN").replace("BADID", "\\udc00x")
    for _attempt in range(2):  # the tablet retries: the same answer, never a 500
        status, results = raw(web, "POST", f"/sync/{db}/_bulk_docs", text.encode())
        assert status == 201, results
        by_id = {r["id"]: r for r in results}
        assert by_id[good["_id"]].get("ok") or by_id[good["_id"]].get("error") == "conflict", by_id
        for doc, word in ((surrogate, "surrogate"), (nan, "NaN"), (bad_id, "surrogate")):
            doc_id = doc["_id"] if doc is not bad_id else "submission:\udc00x"
            assert by_id[doc_id]["error"] == "bad_request" and word in by_id[doc_id]["reason"], by_id[doc_id]
            assert "/" in by_id[doc_id]["reason"]  # Chinese / English
    assert conn.admin.get(db, good["_id"]) is not None
    assert conn.admin.get(db, surrogate["_id"]) is None and conn.admin.get(db, nan["_id"]) is None
    # the replication reads around a push take such ids too, and say each is missing
    status, diff = raw(web, "POST", f"/sync/{db}/_revs_diff", b'{"submission:\\ud800": ["1-a"]}')
    assert status == 200 and diff == {"submission:\ud800": {"missing": ["1-a"]}}
    status, got = raw(web, "POST", f"/sync/{db}/_bulk_get", b'{"docs": [{"id": "submission:\\ud800"}]}')
    assert status == 200 and "error" in got["results"][0]["docs"][0]
    # a single PUT says the same
    nan_text = json.dumps(nan).replace('"NAN"', "Infinity")
    status, body = raw(web, "PUT", f"/sync/{db}/{nan['_id']}", nan_text.encode())
    assert status == 400 and "NaN" in body["message"]["en"] and body["message"]["zh"]


def test_malformed_bodies_and_parameters_are_400_not_500(web, township):
    db = names.village_db(township.a)
    deep = b'{"docs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    cases = [
        ("POST", f"/sync/{db}/_bulk_docs", deep),
        ("POST", "/api/v1/submissions/review", deep),
        ("POST", "/api/v1/session", b'{"name": "gw_a\\ud800", "password": "x"}'),
        ("POST", "/api/v1/session", b'{"name": "gw_a", "password": NaN}'),
        ("GET", f"/sync/{db}/_changes?feed=longpoll&heartbeat=abc", None),
        ("GET", f"/sync/{db}/%2f?open_revs=00", None),  # found by the fuzzer: pouchdb-server answered 500
        ("GET", f"/sync/{db}/submission:x?rev=zzz", None),
        ("GET", f"/sync/{db}/_changes?since=%7B%7D&limit=-1", None),
        ("GET", f"/sync/{db}/_all_docs?keys=nope", None),
        ("GET", f"/sync/{db}/_changes?feed=longpoll&timeout=-1", None),
        ("GET", f"/sync/{db}/_changes?feed=longpoll&timeout=99999999999999999999", None),
    ]
    for method, path, body in cases:
        status, answer = raw(web, method, path, body)
        assert status == 400, (path, status, answer)
        assert answer["message"]["zh"] and answer["message"]["en"], answer


# -- item 4: stored files never run on the clerk origin --------------------------------------
JPEG = b"\xff\xd8\xff\xe0" + b"flooded-house" * 20 + b"\xff\xd9"
HTML = b"<html><script>fetch('/clerk/dashboard').then(r => r.text()).then(t => alert(t))</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'


def clerk_session(web, name: str = "clerk"):
    import requests
    from test_clerk_app import TOKEN

    session = requests.Session()
    page = session.get(web.url + "/clerk/login").text
    resp = session.post(
        web.url + "/clerk/login", data={"name": name, "password": PASSWORD, "csrf_token": TOKEN.search(page).group(1)}
    )
    assert resp.ok and "/clerk/login" not in resp.url, resp.url
    return session


def inline(kind: str, body: bytes) -> dict:
    return {"content_type": kind, "data": base64.b64encode(body).decode()}


def test_files_a_device_sends_are_never_served_as_pages_on_the_clerk_origin(web, conn, township):
    import requests
    from test_openrosa import damage, instance_xml

    a = township.a
    db = names.village_db(a)
    roster(conn, a, 1)
    sub = survey(a, f"{a}-0001")
    sub["_attachments"] = {
        "evil.html": inline("text/html", HTML),
        "evil.svg": inline("image/svg+xml", SVG),
        "fake.png": inline("image/png", HTML),
        "house.jpg": inline("application/octet-stream", JPEG),  # what ODK Web Forms sends
    }
    status, results = raw(web, "POST", f"/sync/{db}/_bulk_docs", {"docs": [sub]})
    assert status == 201 and results[0].get("ok"), results
    status, put = raw(
        web,
        "PUT",
        f"/sync/{db}/{sub['_id']}/late.html?rev={results[0]['rev']}",
        HTML,
        headers={"Content-Type": "text/html"},
    )
    assert status == 201, put
    # the same through OpenRosa: an HTML "photo" and an untyped JPEG
    iid = f"uuid:{uuid_module.uuid4()}"
    files = {
        "xml_submission_file": ("submission.xml", instance_xml("damage_survey", damage(a), iid), "text/xml"),
        "p1": ("page.html", HTML, "text/html"),
        "p2": ("shot.jpg", JPEG, "application/octet-stream"),
    }
    resp = requests.post(
        web.url + "/submission", files=files, auth=("gw_a", PASSWORD), headers={"X-OpenRosa-Version": "1.0"}
    )
    assert resp.status_code == 201, resp.text
    stored = conn.admin.get(db, f"submission:{iid[5:]}")["_attachments"]
    assert stored["shot.jpg"]["content_type"] == "image/jpeg"  # typed from its bytes
    run(conn)

    session = clerk_session(web)
    for uuid, shown, downloads in (
        (names.doc_id_suffix(sub["_id"]), ["house.jpg", "fake.png"], ["evil.html", "evil.svg", "late.html"]),
        (iid[5:], ["shot.jpg"], ["page.html"]),
    ):
        page = session.get(f"{web.url}/clerk/submissions/{uuid}")
        assert page.status_code == 200
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "object-src 'none'" in csp and "unsafe-inline" not in csp
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        images = set(re.findall(r'<img src="[^"]*/files/([^"]+)"', page.text))
        assert images == set(shown), images
        for name in shown + downloads:
            f = session.get(f"{web.url}/clerk/submissions/{uuid}/files/{name}")
            assert f.status_code == 200 and f.headers["X-Content-Type-Options"] == "nosniff", name
            assert "sandbox" in f.headers["Content-Security-Policy"], name
            if f.content == JPEG:
                assert f.headers["Content-Type"] == "image/jpeg" and f.headers["Content-Disposition"].startswith(
                    "inline"
                )
            else:  # HTML and SVG, whatever they were typed as, only ever download
                assert f.headers["Content-Type"] == "application/octet-stream", (name, f.headers["Content-Type"])
                assert f.headers["Content-Disposition"].startswith("attachment"), name
    # and through the gateway, where a field user's browser session could open it
    tablet = requests.get(f"{web.url}/sync/{db}/{sub['_id']}/evil.html", auth=("gw_a", PASSWORD))
    assert tablet.status_code == 200 and tablet.content == HTML
    assert (
        "sandbox" in tablet.headers["Content-Security-Policy"] and tablet.headers["Content-Disposition"] == "attachment"
    )
    # every clerk page carries the policy
    for path in ("/clerk/dashboard", "/clerk/queue", "/clerk/households", "/clerk/login"):
        assert "script-src 'self'" in session.get(web.url + path).headers["Content-Security-Policy"], path


# -- item 11: every change has its audit entry -------------------------------------------------
def test_one_idempotency_key_on_two_households_audits_both_and_a_retry_neither_again(client, conn, township):
    from test_household_worker import push

    from sync import audit

    a = township.a
    roster(conn, a, 3)
    hids = [f"{a}-0001", f"{a}-0002"]
    push(conn, a, *(survey(a, h, device="tab-0", completed="2026-11-19T09:00:00+08:00") for h in hids))
    run(conn)
    push(conn, a, *(survey(a, h, device=f"tab-{n}", base=1, phone=f"1390013900{n}") for h in hids for n in (1, 2)))
    run(conn)
    key = {"Idempotency-Key": "same-key-for-both"}
    for hid in hids:
        for _attempt in range(2):
            resp = client.post(
                f"/api/v1/households/{hid}/resolve",
                json={"values": {"phone": "13900139001"}},
                auth=("clerk", PASSWORD),
                headers=key,
            )
            assert resp.status_code == 200 and resp.get_json()["conflict"] is None, resp.get_json()
    for hid in hids:
        entries = [e for e in audit.entries_for(conn.admin, hid) if e["action"] == "household.resolve"]
        assert len(entries) == 1, (hid, entries)
    # and a merge under that key again, of two other households: both sides audited
    third = f"new-{uuid_module.uuid4()}"
    damage = records.submission("damage_survey", uuid_module.uuid4().hex, household_id=third, village_code=a)
    damage.pop("_rev")
    push(conn, a, damage)
    run(conn)
    resp = client.post(
        f"/api/v1/households/{a}-0003/merge", json={"other": third}, auth=("clerk", PASSWORD), headers=key
    )
    assert resp.status_code == 200, resp.get_json()
    assert [e["action"] for e in audit.entries_for(conn.admin, f"{a}-0003")] == ["household.merge"]
    assert [e["action"] for e in audit.entries_for(conn.admin, third)] == ["household.merged_into"]


# -- items 1 and 2: a survey of village V changes and names only households of V ---------------
def test_a_survey_never_changes_nor_names_a_household_of_another_village(web, conn, township):
    import requests
    from test_household_worker import record, village_doc

    a, other = township.a, township.other
    roster(conn, other, 1)  # its -0001 has the head ID records.HEAD_ID and the member records.SPOUSE_ID
    theirs = f"{other}-0001"
    run(conn)
    before, their_doc = record(conn, theirs), village_doc(conn, other, theirs)
    provisional = f"new-{uuid_module.uuid4()}"
    sub = survey(a, provisional, phone="13311112222", head_name="冒名户")  # head ID of the other township's head
    status, results = raw(web, "POST", f"/sync/{names.village_db(a)}/_bulk_docs", {"docs": [sub]})
    assert status == 201 and results[0].get("ok"), results
    run(conn)
    after = record(conn, theirs)
    assert {k: after[k] for k in ("version", "properties", "aliases", "events")} == {
        k: before[k] for k in ("version", "properties", "aliases", "events")
    }
    # what its tablets see of it says the same (a tier derivation may be refreshed: it reads its own data only)
    content = ("household_id", "village_code", "version", "merged_into", "properties", "conflict", "tier", "rules")
    assert {k: village_doc(conn, other, theirs)[k] for k in content} == {k: their_doc[k] for k in content}
    mine = record(conn, provisional)
    assert mine["village_code"] == a and mine["properties"]["phone"] == "13311112222"
    # flagged to the clerks of both townships as a possible move, on both records
    assert {"id": theirs, "reason": "possible_move", "status": "open"} in mine["duplicates"]
    assert {"id": provisional, "reason": "possible_move", "status": "open"} in after["duplicates"]
    # nothing the village's tablets read names or describes the other household
    status, page = raw(web, "GET", f"/sync/{names.village_db(a)}/_all_docs?include_docs=true")
    text = json.dumps(page, ensure_ascii=False)
    assert theirs not in text and "户主1" not in text and other not in text, text[:2000]
    review = conn.admin.get(names.village_db(a), names.review_id(sub["_id"]))
    assert review["household"]["id"] == provisional and review["household"]["matched_by"] == "new"
    # the clerk's approval lands on the village's own record only
    resp = requests.post(
        web.url + "/api/v1/submissions/review",
        auth=("clerk", PASSWORD),
        json={"ids": [names.doc_id_suffix(sub["_id"])], "action": "approve"},
    )
    assert resp.status_code == 200, resp.text
    assert record(conn, theirs)["events"] == before["events"]
    # the other township's grid worker reusing this village's provisional id changes nothing here
    steal = survey(other, provisional, user="gw_other", phone="13399998888")
    status, results = raw(
        web, "POST", f"/sync/{names.village_db(other)}/_bulk_docs", {"docs": [steal]}, user="gw_other"
    )
    assert status == 201 and results[0].get("ok"), results
    run(conn)
    assert record(conn, provisional)["properties"]["phone"] == "13311112222"
    stolen = conn.admin.get(names.village_db(other), names.review_id(steal["_id"]))
    assert stolen["state"] == "has_issues" and stolen["household"] is None
    assert [i["code"] for i in stolen["issues"] if i["code"] == "household.other_village"]
    assert a not in json.dumps(stolen, ensure_ascii=False)


# -- item 8: one survey's size is bounded everywhere it goes ----------------------------------
def test_a_survey_of_thousands_of_members_is_bounded_at_the_gateway_in_the_review_and_the_record(web, conn, township):
    from test_household_worker import push, record

    a = township.a
    db = names.village_db(a)
    roster(conn, a, 2)
    # the gateway refuses the oversized one and stores its batch-mates
    huge, fine = survey(a, f"{a}-0001"), survey(a, f"{a}-0002")
    huge["data"]["members"] = [{} for _ in range(5000)]
    status, results = raw(web, "POST", f"/sync/{db}/_bulk_docs", {"docs": [huge, fine]})
    by_id = {r["id"]: r for r in results}
    assert status == 201 and by_id[fine["_id"]].get("ok"), results
    assert by_id[huge["_id"]]["error"] == "too_large" and "50" in by_id[huge["_id"]]["reason"]
    photos = survey(a, f"{a}-0002")
    photos["_attachments"] = {f"p{i}.jpg": inline("image/jpeg", JPEG) for i in range(40)}
    status, results = raw(web, "POST", f"/sync/{db}/_bulk_docs", {"docs": [photos]})
    assert results[0]["error"] == "too_large", results
    # one that got in another way (stored before the bound, or written to CouchDB directly) is
    # checked only up to the bound, its review stays small and its record takes none of it
    push(conn, a, huge)
    run(conn)
    review = conn.admin.get(db, names.review_id(huge["_id"]))
    codes = [i["code"] for i in review["issues"]]
    assert "repeat.too_many" in codes and codes[-1] == "issues.truncated" and len(codes) <= 201
    assert len(json.dumps(review, ensure_ascii=False)) < 200_000
    assert review["state"] == "has_issues"
    assert len(record(conn, f"{a}-0001")["properties"].get("members", [])) <= 50
    status, page = raw(web, "GET", f"/sync/{db}/{names.review_id(huge['_id'])}")
    assert status == 200 and len(json.dumps(page)) < 200_000


# -- item 7 and part of 13: uploads are bounded whatever they declare --------------------------
def _declare(xlsx: bytes, dimension: bytes, extra_row: bytes = b"") -> bytes:
    """The same workbook with its sheet claiming ``dimension`` (and one more far-away row)."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]+"/>', b'<dimension ref="' + dimension + b'"/>', data)
                data = data.replace(b"</sheetData>", extra_row + b"</sheetData>")
            dst.writestr(item, data)
    return out.getvalue()


def _peak_rss_kb(pid: int) -> int:
    """Peak resident memory of a process and its children (gunicorn's workers)."""
    from pathlib import Path

    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if int(fields["Pid"]) == pid or int(fields["PPid"]) == pid:
            total = max(total, int(fields.get("VmHWM", "0 kB").split()[0]))
    return total


def test_a_workbook_that_declares_a_million_cells_or_rows_is_read_within_bounds(web, conn, township, tmp_path):
    from test_clerk_app import TOKEN
    from test_roster import family, write_xlsx

    session = clerk_session(web)

    def upload(name: str, body: bytes) -> str:
        token = TOKEN.search(session.get(web.url + "/clerk/roster").text).group(1)
        resp = session.post(
            web.url + "/clerk/roster", data={"csrf_token": token, "dry_run": "1"}, files={"file": (name, body)}
        )
        assert resp.status_code == 200, (name, resp.status_code)
        return resp.text

    path = tmp_path / "r.xlsx"
    write_xlsx(path, family(1))
    plain = path.read_bytes()
    huge = _declare(plain, b"A1:XFD1048576")
    assert len(huge) < 10_000
    page = upload("r.xlsx", huge)
    assert 'id="roster-errors">0<' in page, page[-3000:]  # read as the two rows it holds
    far = _declare(
        plain, b"A1:XFD1048576", b'<row r="1000000"><c r="A1000000" t="inlineStr"><is><t>x</t></is></c></row>'
    )
    assert "200000" in upload("r.xlsx", far)  # refused, saying why
    assert _peak_rss_kb(web.proc.proc.pid) < 600_000
    # a CSV field over the csv module's limit is a message, not a 500
    header = "户编号,姓名,与户主关系,证件号码\n"
    assert "CSV" in upload("r.csv", (header + "500112104201-0001,王," + "x" * 200_000 + ",1\n").encode())


# -- item 5: the lock-out holds under parallel guesses, across processes, and spares devices ----
def test_parallel_guesses_across_two_web_processes_are_checked_at_most_five_times(conn, township, spawn, settings):
    import threading

    import requests
    from conftest import Web, env_for, wait_for

    from server.access.accounts import secret_digest
    from sync.embedded import free_port

    port = free_port()
    proc = spawn("web", "--port", str(port), "--workers", "2", "--threads", "32", name="web2", env=env_for(settings))
    web = Web(f"http://127.0.0.1:{port}", proc)
    wait_for(lambda: _answers(web), timeout=60, message="web with two workers")
    statuses: list[int] = []
    start = threading.Barrier(40)

    def guess(n: int) -> None:
        start.wait()
        resp = requests.get(web.url + "/api/v1/me", auth=("clerk", f"wrong-guess-{n}"), timeout=60)
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(401) <= 5 and set(statuses) <= {401, 429}, sorted(statuses)
    # locked for the right password too, on every door and in both processes
    for _ in range(4):
        assert requests.get(web.url + "/api/v1/me", auth=("clerk", PASSWORD)).status_code == 429
    # an enrolled tablet of a name someone is guessing at keeps syncing: its credential is not a password
    secret = "s" * 43
    conn.admin.put(
        "fp_accounts",
        {
            "_id": "device:gw_a:tab-1",
            "type": "device",
            "user": "gw_a",
            "secret_sha256": secret_digest(secret),
            "revoked_at": None,
        },
    )
    for n in range(8):
        requests.get(web.url + "/api/v1/me", auth=("gw_a", f"wrong-{n}"))
    assert requests.get(web.url + "/api/v1/me", auth=("gw_a", PASSWORD)).status_code == 429
    device = requests.get(web.url + "/sync/fp_forms", auth=("gw_a", f"device.tab-1.{secret}"))
    assert device.status_code == 200, device.text


def _answers(web) -> bool:
    import requests

    try:
        return requests.get(web.url + "/api/v1/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_unknown_names_cost_a_password_check_as_known_ones_do(conn, township):
    """Each refusal waits for a hashing slot as a real check does (no timing: the slot is held)."""
    from server.access.accounts import Authenticator, Busy
    from server.access.lockout import Lockout

    auth = Authenticator(conn.admin, lockout=Lockout(conn.admin), hashing=1, wait_s=0.2)
    assert auth.check("gw_a", PASSWORD) is not None  # a slot is free: checked
    auth._slots.acquire()  # every slot busy from now on
    try:
        for name in ("nobody-here", "gw_b", "x" * 300, "gw_a\u0000"):
            with pytest.raises(Busy):
                auth.check(name, "not-the-password")
        assert auth.check("gw_a", PASSWORD) is not None  # a cached success needs no slot
    finally:
        auth._slots.release()


# -- item 6: sessions end when they should, long-polls included --------------------------------
def test_sign_out_a_new_password_disabling_and_revocation_end_sessions_at_once(web, conn, township):
    import datetime as dt
    import threading

    import requests

    from server.access import enrolment
    from server.access.accounts import add_user

    def me(cookies) -> int:
        return requests.get(web.url + "/api/v1/me", cookies=cookies).status_code

    # sign-out: a copy of the cookie taken before is dead after
    session = clerk_session(web)
    stolen = session.cookies.get_dict()
    assert me(stolen) == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(web.url + "/clerk/dashboard").text).group(1)
    session.post(web.url + "/clerk/logout", data={"csrf_token": token})
    assert me(stolen) == 401
    # a new password, and disabling, end every open session
    for change in ("password", "disable"):
        cookies = clerk_session(web).cookies.get_dict()
        assert me(cookies) == 200
        if change == "password":
            add_user(conn.admin, "clerk", "another-password-9", "clerk", township=township.a[:9])
        else:
            doc = conn.admin.get(names.ACCOUNTS, "user:clerk")
            conn.admin.put(names.ACCOUNTS, {**doc, "disabled": True})
        assert me(cookies) == 401, change
    # a tablet's session, and its long-poll, end when the device is revoked
    now = dt.datetime.now(dt.UTC)
    made = enrolment.create(conn.admin, "gw_a", "boss", now)
    _, credential = enrolment.redeem(conn.admin, made.token, "tab-9", "tablet", now)
    tablet = requests.Session()
    assert tablet.post(web.url + "/api/v1/session", json={"name": "gw_a", "password": credential}).status_code == 200
    db = names.village_db(township.a)
    since = tablet.get(f"{web.url}/sync/{db}").json()["update_seq"]
    got: dict = {}

    def poll(who: str, **auth) -> None:
        url = f"{web.url}/sync/{db}/_changes?feed=longpoll&since={since}&timeout=30000"
        got[who] = requests.get(url, timeout=60, **auth).json()  # refused (401) or an empty page

    polls = [
        threading.Thread(target=poll, args=("session",), kwargs={"cookies": tablet.cookies.get_dict()}),
        threading.Thread(target=poll, args=("basic",), kwargs={"auth": ("gw_a", credential)}),
    ]
    for t in polls:
        t.start()
    assert enrolment.revoke(conn.admin, "gw_a", "tab-9", "boss", now)
    roster(conn, township.a, 1)  # a change arrives after the revocation
    for t in polls:
        t.join()
    # however the revocation and the requests interleaved, no change reached the revoked tablet
    assert all(page.get("results", []) == [] for page in got.values()) and len(got) == 2, got
    assert tablet.get(f"{web.url}/sync/{db}").status_code == 401


def test_the_session_cookie_is_secure_behind_tls(conn, settings, township):
    import dataclasses

    from server.web.app import create_app

    app = create_app(dataclasses.replace(settings, proxies=1), conn)
    client = app.test_client()
    resp = client.post(
        "/api/v1/session", json={"name": "clerk", "password": PASSWORD}, headers={"X-Forwarded-Proto": "https"}
    )
    assert resp.status_code == 200 and "Secure" in resp.headers["Set-Cookie"], resp.headers.get("Set-Cookie")
    plain = client.post("/api/v1/session", json={"name": "clerk", "password": PASSWORD})
    assert "Secure" not in plain.headers["Set-Cookie"]


# -- item 10: a decision lands on the revision the clerk saw -----------------------------------
def test_an_approval_never_lands_on_a_revision_the_clerk_did_not_see(web, conn, township):
    import threading

    import requests
    from test_clerk_app import surveyed

    a = township.a
    db = names.village_db(a)
    uuids = surveyed(conn, a, 12)
    refused = 0
    for uuid in uuids:
        seen = conn.admin.get(db, f"review:{uuid}")["submission_rev"]
        answers: dict = {}

        def edit(uuid: str = uuid) -> None:  # the grid worker's correction arrives meanwhile
            doc = conn.admin.get(db, f"submission:{uuid}")
            doc["data"]["notes"] = "补充说明"
            conn.gateway.put(db, doc)
            run(conn)

        def approve(uuid: str = uuid, seen: str = seen, answers: dict = answers) -> None:
            answers["resp"] = requests.post(
                web.url + "/api/v1/submissions/review",
                auth=("clerk", PASSWORD),
                json={"ids": [uuid], "action": "approve", "revisions": {uuid: seen}},
            )

        threads = [threading.Thread(target=edit), threading.Thread(target=approve)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        run(conn)
        review = conn.admin.get(db, f"review:{uuid}")
        approvals = [h for h in review["history"] if h.get("action") == "approve"]
        assert all(h["submission_rev"] == seen for h in approvals), (seen, review["history"])
        resp = answers["resp"]
        if resp.status_code == 409:
            refused += 1
            result = resp.json()["results"][0]
            assert result["error"] == "moved" and result["message"]["zh"] and result["message"]["en"]
            assert not approvals
        else:
            assert resp.status_code == 200 and approvals
            assert review["state"] == "edited"  # approved, then a new revision: it needs a fresh look
    # and without a race: the page showed one revision, another arrived, the decision is refused
    uuid = uuids[0]
    stale = conn.admin.get(db, f"review:{uuid}")["submission_rev"]
    doc = conn.admin.get(db, f"submission:{uuid}")
    doc["data"]["notes"] = "再次补充"
    conn.gateway.put(db, doc)
    run(conn)
    resp = requests.post(
        web.url + "/api/v1/submissions/review",
        auth=("clerk", PASSWORD),
        json={"ids": [uuid], "action": "reject", "comment": "x", "revisions": {uuid: stale}},
    )
    assert resp.status_code == 409 and resp.json()["results"][0]["error"] == "moved"


# -- item 13: the smaller ones -------------------------------------------------------------------
def test_an_id_number_or_code_with_a_trailing_newline_is_not_well_formed():
    from server.validation import idcard
    from sync import names as n

    assert idcard.check_digit_ok(records.HEAD_ID) and not idcard.check_digit_ok(records.HEAD_ID + "\n")
    assert n.is_village_code("500112104201") and not n.is_village_code("500112104201\n")
    assert not n.is_household_id("500112104201-0001\n") and not n.is_household_id(f"new-{uuid_module.uuid4()}\n")
    doc = records.submission("household_survey", "nl")
    doc["data"]["members"][0]["id_number"] = records.HEAD_ID + "\n"
    from test_validation_properties import CATALOG

    from server.validation.rules import Context
    from server.validation.submission import validate_submission

    issues = validate_submission(doc, records.VILLAGE, CATALOG, Context(today=records.TODAY))
    assert any(i["path"] == "members[1]/id_number" and i["severity"] == "error" for i in issues), issues


def test_exports_survive_control_characters_and_mask_numbers_of_any_type(web, conn, township):
    import io

    from openpyxl import load_workbook
    from test_household_worker import push

    a = township.a
    roster(conn, a, 1)
    sub = survey(a, f"{a}-0001", notes="铃声\x07与\x1b转义", phone=13912345678)
    push(conn, a, sub)
    run(conn)
    session = clerk_session(web)
    for path in ("/clerk/export/submissions.xlsx?form_id=household_survey", "/clerk/export/households.xlsx"):
        resp = session.get(web.url + path)
        assert resp.status_code == 200, (path, resp.status_code)
        cells = [str(c) for ws in load_workbook(io.BytesIO(resp.content)).worksheets
                 for row in ws.iter_rows(values_only=True) for c in row if c is not None]  # fmt: skip
        assert not any("13912345678" in c for c in cells), path
    # an enrolment lifetime that is not a number of minutes, or out of range, is said, not a 500
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(web.url + "/clerk/devices").text).group(1)
    for ttl in ("abc", "99999999999999999999", "0", "-5"):
        resp = session.post(web.url + "/clerk/devices/gw_a/enrol", data={"csrf_token": token, "ttl": ttl})
        assert resp.status_code == 200 and "/clerk/devices" in resp.url, (ttl, resp.status_code)


def test_a_grid_worker_never_gets_a_colleagues_surveys_or_reviews_through_any_door(web, conn, township, tablet):
    """Two grid workers of one village: the second's tablet holds the village's households and its
    own surveys only, and every read endpoint of the gateway and the API answers as if a
    colleague's survey did not exist (their ID numbers and health answers stay off the device)."""
    from test_gateway import sub
    from test_household_worker import roster

    from server.access.accounts import add_user

    a = township.a
    db = f"/sync/fp_v_{a}"
    add_user(conn.admin, "gw_a2", PASSWORD, "field", [a])
    roster(conn, a, 2)
    photo = b"\xff\xd8\xff\xe0" + b"x" * 40 + b"\xff\xd9"
    theirs = {**sub(township, uuid="theirs"), "_attachments": {"p.jpg": {"content_type": "image/jpeg",
              "data": base64.b64encode(photo).decode()}}}  # fmt: skip
    assert raw(web, "PUT", f"{db}/submission:theirs", theirs)[0] == 201
    assert raw(web, "PUT", f"{db}/submission:mine", sub(township, user="gw_a2", uuid="mine"), user="gw_a2")[0] == 201
    run(conn)
    rev = conn.admin.get(names.village_db(a), "submission:theirs")["_rev"]

    def ids(payload: dict, key: str) -> set[str]:
        return {r.get("id") or r.get("key") for r in payload[key]}

    mine = {"submission:mine", "review:mine"}
    households = {f"household:{a}-0001", f"household:{a}-0002"}
    for path in (
        f"{db}/_changes",
        f"{db}/_changes?feed=longpoll&since=0&include_docs=true",
        f"{db}/_changes?style=all_docs",
    ):
        status, page = raw(web, "GET", path, user="gw_a2")
        assert status == 200 and ids(page, "results") == mine | households, path
    assert ids(raw(web, "GET", f"{db}/_all_docs?include_docs=true", user="gw_a2")[1], "rows") == mine | households
    keys = ["submission:theirs", "review:theirs", "submission:mine"]
    status, page = raw(web, "POST", f"{db}/_all_docs", {"keys": keys}, user="gw_a2")
    assert [(r["key"], r.get("error")) for r in page["rows"]] == [
        ("submission:theirs", "not_found"), ("review:theirs", "not_found"), ("submission:mine", None)]  # fmt: skip
    status, got = raw(web, "POST", f"{db}/_bulk_get?revs=true", {"docs": [{"id": "submission:theirs", "rev": rev},
                      {"id": "review:theirs"}]}, user="gw_a2")  # fmt: skip
    assert status == 200 and all("error" in d and "ok" not in d for r in got["results"] for d in r["docs"])
    for path in (f"{db}/submission:theirs", f"{db}/review:theirs", f"{db}/submission:theirs/p.jpg",
                 f"{db}/submission:theirs?revs=true&open_revs=all"):  # fmt: skip
        assert raw(web, "GET", path, user="gw_a2")[0] == 404, path
    status, diff = raw(web, "POST", f"{db}/_revs_diff", {"submission:theirs": [rev]}, user="gw_a2")
    assert diff == {"submission:theirs": {"missing": [rev]}}  # told nothing about what exists
    assert raw(web, "GET", "/api/v1/submissions/theirs", user="gw_a2")[0] == 404
    listed = raw(web, "GET", f"/api/v1/submissions?village={a}", user="gw_a2")[1]
    assert [s["id"] for s in listed["submissions"]] == ["mine"]
    # the submitter still sees everything of theirs, and the village's households
    assert (
        ids(raw(web, "GET", f"{db}/_changes", user="gw_a")[1], "results")
        == {"submission:theirs", "review:theirs"} | households
    )
    assert raw(web, "GET", f"{db}/submission:theirs/p.jpg", user="gw_a")[0] == 200
    # a real PouchDB tablet of the second worker, replicating through the gateway
    device = tablet("a2")
    device.login(web.url, "gw_a2")
    device.run("pull")
    held = device.run("status")
    assert held["others"] == 0 and held["submissions"] == 1
    assert held["databases"][f"fp_v_{a}"]["doc_count"] == len(mine | households)


# -- gunicorn's lingering close ----------------------------------------------------------------
def test_clients_that_ask_to_close_and_keep_their_end_open_hold_up_no_one(web):
    """gunicorn 27 closes a ``Connection: close`` connection on the worker's main thread and lingers
    up to 2 s for the client's FIN: five such clients held another's request for 7.9 s (node-fetch,
    so every scripted tablet, asks to close). Ten of them must not keep the next caller waiting
    anywhere near one linger (old: ~20 s)."""
    url = urlsplit(web.url)
    held = []
    for _ in range(10):
        sock = socket.create_connection((url.hostname, url.port), timeout=30)
        sock.sendall(b"GET /app/manifest.webmanifest HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        held.append(sock)
    try:
        for sock in held:  # each has its answer, and keeps its end open
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200")
        # a new connection needs the main thread to accept it: with the lingering close it waited
        # behind one linger after another
        other = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        other.request("GET", "/app/manifest.webmanifest")
        assert other.getresponse().status == 200
        other.close()
    finally:
        for sock in held:
            sock.close()
