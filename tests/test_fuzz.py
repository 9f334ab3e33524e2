"""An attacker suite that grows by itself: hypothesis generates requests (paths, parameters,
bodies, headers) and sends them raw to the real web service under gunicorn, as a grid worker of
village A, as a clerk of another township and anonymously. Whatever arrives, the service must
answer without a 5xx, never show village B's data to A's grid worker, and leave every document
the server owns as it was. The number of generated requests is printed per run.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
from urllib.parse import quote, urlsplit

import pytest
from conftest import PASSWORD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_household_worker import roster, run, survey

from server.pipeline import household_store
from sync import names

pytestmark = pytest.mark.slow

SENT: list[int] = []
CI = os.environ.get("CI") == "true"
SECRET_NAME = "龙井秘户"  # the head of a household of village B: never in an answer to A's grid worker


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(f"\nfuzz: {len(SENT)} generated requests, {sum(1 for s in SENT if s < 300)} answered 2xx")


SEGMENTS = [
    "..",
    ".",
    "",
    "%2e%2e",
    "%2E",
    "%2f",
    "..%2f..%2f_users",
    "_all_docs",
    "_changes",
    "_bulk_docs",
    "_bulk_get",
    "_revs_diff",
    "_local",
    "_design",
    "idx-type-state",
    "fangpin",
    "_security",
    "_all_dbs",
    "_users",
    "_session",
    "_config",
    "_find",
    "_purge",
    "_replicate",
    "submission:x",
    "household:y",
    "review:z",
    "fangpin-worker",
    "fp_cases",
    "fp_accounts",
    "fp_forms",
    "xform.xml",
    "%00",
    "%ff",
    "~",
]
CLIMBS = ["../_all_dbs", "./../_users", "%2e%2e/_session", "../{b}", "../{b}/_all_docs", "..%2f{b}", "../../_config"]
PREFIXES = [
    "/sync/{a}/",
    "/sync/{b}/",
    "/sync/fp_forms/",
    "/sync/",
    "/api/v1/",
    "/api/v1/households/",
    "/api/v1/submissions/",
    "/clerk/",
    "/clerk/submissions/",
    "/clerk/households/",
    "/submission",
    "/formList",
    "/forms/damage_survey/",
    "/",
]
PARAMS = [
    "since",
    "limit",
    "feed",
    "heartbeat",
    "timeout",
    "include_docs",
    "keys",
    "key",
    "startkey",
    "endkey",
    "rev",
    "revs",
    "open_revs",
    "style",
    "attachments",
    "conflicts",
    "filter",
    "village",
    "state",
    "q",
    "page",
    "format",
    "numbers",
    "next",
    "formID",
    "new_edits",
    "latest",
    "descending",
    "skip",
]
TYPES = [
    "application/json",
    "text/plain",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "text/xml",
    "image/svg+xml",
    "",
    "application/json; charset=gbk",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)


@st.composite
def documents(draw, village: str):
    """Things shaped like what a tablet writes, mostly wrong somewhere."""
    doc = {
        "_id": draw(
            st.sampled_from(
                ["submission:f1", "submission:f2", "review:f1", "household:x", "_design/x", "_local/x", "submission:"]
            )
            | st.text(max_size=20)
        ),
        "type": draw(st.sampled_from(["submission", "review", "household", None])),
        "submitted_by": draw(st.sampled_from(["gw_a", "gw_b", "clerk", ""])),
        "village_code": draw(st.sampled_from([village, "500112104202", "500112105301", ""])),
    }
    doc.update(
        draw(
            st.dictionaries(
                st.sampled_from(
                    [
                        "form_id",
                        "form_version",
                        "household_id",
                        "data",
                        "_deleted",
                        "_rev",
                        "_attachments",
                        "device_id",
                        "completed_at",
                    ]
                ),
                json_values,
                max_size=5,
            )
        )
    )
    return doc


@st.composite
def requests_(draw, a: str, b: str):
    prefix = draw(st.sampled_from(PREFIXES)).format(a=names.village_db(a), b=names.village_db(b))
    climbs = [c.format(b=names.village_db(b)) for c in CLIMBS]
    typed = st.text(max_size=12).map(lambda t: quote(t, safe=""))
    rest = draw(st.lists(st.sampled_from(SEGMENTS) | st.sampled_from(climbs) | typed, max_size=4))
    params = draw(
        st.dictionaries(st.sampled_from(PARAMS), st.text(max_size=20) | st.integers(-5, 10**12).map(str), max_size=4)
    )
    if params.get("feed") in ("longpoll", "continuous") or "longpoll" in params.values():
        params["timeout"] = "100"  # a long-poll is fuzzed too, but never left waiting its 55 s
    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in params.items())
    path = prefix + "/".join(rest) + (f"?{query}" if query else "")
    kind = draw(st.sampled_from(["none", "json", "docs", "bytes"]))
    body = {
        "none": b"",
        "json": json.dumps(draw(json_values)).encode(),
        "docs": json.dumps(
            {"docs": draw(st.lists(documents(a), max_size=4)), "new_edits": draw(st.booleans())}
        ).encode(),
        "bytes": draw(st.binary(max_size=200)),
    }[kind]
    method = draw(st.sampled_from(["GET", "GET", "POST", "PUT", "DELETE", "HEAD", "COPY", "PATCH", "OPTIONS"]))
    user = draw(st.sampled_from(["gw_a", "gw_a", "gw_a", "clerk_other", None]))
    content_type = draw(st.sampled_from(TYPES))
    return method, path, body, user, content_type


def send(url: str, method: str, path: str, body: bytes, user: str | None, content_type: str) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        if user:
            conn.putheader("Authorization", "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode())
        if content_type:
            conn.putheader("Content-Type", content_type)
        conn.putheader("X-OpenRosa-Version", "1.0")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (http.client.InvalidURL, ValueError, UnicodeEncodeError):
        return 400, b""  # the client library itself would not send it
    except TimeoutError as exc:
        raise AssertionError(f"no answer in 30 s to {method} {path}") from exc
    finally:
        conn.close()


def server_owned(conn, a: str, b: str) -> dict:
    """Every doc the server owns, by database: its id and revision."""
    out = {}
    for db in (names.CASES, names.FORMS, names.village_db(b)):
        out[db] = {r["id"]: r["value"]["rev"] for r in conn.admin.all_docs(db, "", "\ufff0", include_docs=False)}
    out[names.ACCOUNTS] = {
        r["id"]: r["value"]["rev"]
        for r in conn.admin.all_docs(names.ACCOUNTS, "", "\ufff0", include_docs=False)
        if r["id"].startswith(("user:", "village:", "device:"))
    }
    rows = conn.admin.all_docs(names.village_db(a), "", "\ufff0", include_docs=False)
    out["village a"] = {r["id"]: r["value"]["rev"] for r in rows if not r["id"].startswith("submission:")}
    return out


def test_generated_requests_never_fail_leak_or_change_server_documents(web, conn, township):
    a, b = township.a, township.b
    roster(conn, a, 2)
    household_store.add_roster(
        conn.admin, b, {f"{b}-0001": {"head_name": SECRET_NAME, "phone": "13612345678"}}, "2026-11-01T00:00:00Z"
    )
    conn.gateway.bulk_docs(names.village_db(a), [survey(a, f"{a}-0001")])
    run(conn)
    before = server_owned(conn, a, b)

    # Random on every developer run, so the suite keeps finding new inputs; fixed in CI (CI=true)
    # so that a landing is never decided by luck. Every finding becomes a fix and a named test.
    @settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=CI)
    @given(requests_(a, b))
    def probe(request) -> None:
        method, path, body, user, content_type = request
        status, answer = send(web.url, method, path, body, user, content_type)
        SENT.append(status)
        assert status < 500, (status, method, path, body[:200], answer[:300])
        if user == "gw_a":
            text = answer.decode("utf-8", "replace")
            assert SECRET_NAME not in text and "13612345678" not in text, (method, path)
            # a refusal or a redirect may echo the path it was sent; nothing else may name village B
            assert (f"{b}-0001" not in text and b not in text) or status >= 300, (method, path, text[:300])

    probe()
    assert web.proc.proc.poll() is None, "the web service died"
    assert server_owned(conn, a, b) == before
