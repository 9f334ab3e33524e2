"""``init`` on the real embedded server: databases, security, validate_doc_update, forms."""

from __future__ import annotations

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


def test_validate_doc_update_is_a_second_line_of_defence(conn, township):
    """Even a request that slipped past the gateway cannot write server docs or delete submissions."""
    db = names.village_db(township.a)
    sub = {"_id": "submission:s1", "type": "submission", "village_code": township.a, "submitted_by": "gw_a"}
    results = conn.gateway.bulk_docs(
        db,
        [
            sub,
            {"_id": "review:s1", "type": "review"},
            {"_id": "household:x", "type": "household"},
            {"_id": "submission:s2", "type": "submission", "village_code": township.b, "submitted_by": "gw_a"},
            {"_id": "submission:s3", "type": "submission", "village_code": township.a},
        ],
    )
    assert results[0].get("ok") is True
    assert [r.get("error") for r in results[1:]] == ["forbidden"] * 4
    rev = results[0]["rev"]
    deleted = conn.gateway.bulk_docs(db, [{"_id": "submission:s1", "_rev": rev, "_deleted": True}])
    assert deleted[0]["error"] == "forbidden"
    stolen = conn.gateway.bulk_docs(db, [{**sub, "_rev": rev, "submitted_by": "gw_b"}])
    assert stolen[0]["error"] == "forbidden"
    with pytest.raises(CouchError) as err:
        conn.gateway.put(names.FORMS, {"_id": "form:evil:1"})
    assert err.value.status == 403
    # the server's own account is not limited
    assert conn.admin.bulk_docs(db, [{"_id": "review:s1", "type": "review"}])[0]["ok"]


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
