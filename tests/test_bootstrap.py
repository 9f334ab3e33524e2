"""``init`` on the real embedded server: databases, security, validate_doc_update, forms."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests

from forms import XForm, build
from sync import bootstrap, names
from sync.couch import CouchError


def test_init_is_idempotent(conn):
    again = bootstrap.init(conn)
    assert again["created"] == [] and again["published"] == []
    for db in (names.FORMS, names.CASES, names.ACCOUNTS):
        assert conn.admin.db_info(db) is not None


def test_databases_are_closed_to_anonymous_clients(conn, township):
    for db in (names.FORMS, names.CASES, names.ACCOUNTS, names.village_db(township.a)):
        resp = requests.get(f"{conn.url}/{conn.admin.physical(db)}/_all_docs", timeout=5)
        assert resp.status_code == 401, db


def test_gateway_account_reaches_only_forms_and_villages(conn, township):
    assert conn.gateway.db_info(names.FORMS) is not None
    assert conn.gateway.db_info(names.village_db(township.a)) is not None
    for db in (names.CASES, names.ACCOUNTS):
        with pytest.raises(CouchError) as err:
            conn.gateway.db_info(db)
        assert err.value.status in (401, 403)


VDU_CASES = [
    # (new doc, old doc, roles) -> forbidden?
    ({"_id": "submission:s1", "type": "submission", "village_code": "V", "submitted_by": "gw_a"}, None, ["gw"], False),
    ({"_id": "review:s1", "type": "review"}, None, ["gw"], True),
    ({"_id": "household:x", "type": "household"}, None, ["gw"], True),
    ({"_id": "submission:s2", "type": "submission", "village_code": "W", "submitted_by": "gw_a"}, None, ["gw"], True),
    ({"_id": "submission:s3", "type": "submission", "village_code": "V"}, None, ["gw"], True),
    ({"_id": "submission:s1", "_deleted": True}, {"submitted_by": "gw_a"}, ["gw"], True),
    (
        {"_id": "submission:s1", "type": "submission", "village_code": "V", "submitted_by": "gw_b"},
        {"submitted_by": "gw_a"},
        ["gw"],
        True,
    ),
    ({"_id": "review:s1", "type": "review"}, None, ["_admin"], False),
]


def test_validate_doc_update_is_a_second_line_of_defence():
    """On CouchDB even a request that slipped past the gateway cannot write server docs or delete
    submissions. The functions run here in node exactly as CouchDB's JavaScript engine runs them."""
    script = (
        "const cases = JSON.parse(process.argv[1]);"
        f"const vdu = ({bootstrap.village_vdu('V')});"
        f"const readOnly = ({bootstrap.READ_ONLY_VDU});"
        "const run = (f, n, o, r) => { try { f(n, o, {name: 'u', roles: r}); return false; }"
        " catch (e) { if (!e.forbidden) throw e; return e.forbidden; } };"
        "console.log(JSON.stringify({village: cases.map(([n, o, r]) => run(vdu, n, o, r)),"
        " forms: [run(readOnly, {_id: 'form:x:1'}, null, ['gw']),"
        " run(readOnly, {_id: 'form:x:1'}, null, ['_admin'])]}));"
    )
    cases = json.dumps([[n, o, r] for n, o, r, _ in VDU_CASES])
    out = json.loads(subprocess.run(["node", "-e", script, cases], capture_output=True, check=True, text=True).stdout)
    assert [bool(f) for f in out["village"]] == [forbidden for *_, forbidden in VDU_CASES]
    assert all(" / " in f for f in out["village"] if f)  # bilingual
    assert bool(out["forms"][0]) and out["forms"][1] is False


@pytest.mark.embedded_only
def test_embedded_server_has_no_validate_doc_update_because_it_would_drop_replicated_edits(conn, township):
    """pouchdb-server answers ok to, and drops, any replicated revision of an existing doc when a
    validate_doc_update exists; a tablet's edit of its submission must arrive."""
    db = names.village_db(township.a)
    assert conn.admin.is_pouchdb_server and conn.admin.get(db, "_design/fangpin") is None
    sub = {"_id": "submission:s1", "type": "submission", "village_code": township.a, "submitted_by": "gw_a"}
    rev1 = conn.gateway.bulk_docs(db, [sub])[0]["rev"]
    edit = {**sub, "_rev": "2-" + "e" * 32, "_revisions": {"start": 2, "ids": ["e" * 32, rev1[2:]]}, "note": "edited"}
    conn.gateway.bulk_docs(db, [edit], new_edits=False)
    assert conn.admin.get(db, "submission:s1")["_rev"] == edit["_rev"]


def test_forms_are_published_with_their_xform(conn):
    docs = bootstrap.published_forms(conn.admin)
    assert {d["form_id"] for d in docs} == {"damage_survey", "household_survey"}
    for doc in docs:
        xml = conn.admin.get_attachment(names.FORMS, doc["_id"], "xform.xml")
        assert XForm.parse(xml).md5 == doc["hash"]
        assert doc["_attachments"]["xform.xml"]["content_type"] == "application/xml"


MD = """
| survey   |         |        |                     |                     |
|          | type    | name   | label::Chinese (zh) | label::English (en) |
|          | integer | rooms  | rooms zh            | Rooms               |
| settings |         |        |
|          | form_id | version    |
|          | tiny    | {version}  |
"""


def test_a_published_version_is_never_overwritten(conn):
    first = XForm.parse(build(MD.format(version="2026010101").encode(), file_type=".md"))
    assert bootstrap.publish_form(conn.admin, first) is True
    assert bootstrap.publish_form(conn.admin, first) is False
    changed = XForm.parse(
        build(MD.format(version="2026010101").replace("Rooms ", "Room count").encode(), file_type=".md")
    )
    with pytest.raises(ValueError, match="new version"):
        bootstrap.publish_form(conn.admin, changed)
    newer = XForm.parse(build(MD.format(version="2026010102").encode(), file_type=".md"))
    assert bootstrap.publish_form(conn.admin, newer) is True
    versions = {d["version"] for d in bootstrap.published_forms(conn.admin) if d["form_id"] == "tiny"}
    assert versions == {"2026010101", "2026010102"}


def test_init_tells_the_operator_when_couchdb_could_not_name_a_full_disk(conn):
    from sync.bootstrap import DISK_MONITOR_OFF, init

    if conn.admin.is_pouchdb_server:  # the embedded server's full disk is named by LevelDB itself
        assert init(conn)["notes"] == []
        return
    config = "/_node/_local/_config/disk_monitor/enable"
    before = conn.admin.call("GET", config, ok_missing=True)
    try:
        conn.admin.call("PUT", config, body="false")
        assert init(conn)["notes"] == [DISK_MONITOR_OFF]
        conn.admin.call("PUT", config, body="true")
        assert init(conn)["notes"] == []
    finally:
        if before is None:
            conn.admin.call("DELETE", config)
        else:
            conn.admin.call("PUT", config, body=before)
