"""The CouchDB client wrapper against the real embedded server: the calls the worker leans on."""

from __future__ import annotations


def test_get_many_returns_live_docs_and_leaves_out_missing_and_deleted_ones(conn):
    admin = conn.admin
    admin.create_db("wrap")
    admin.bulk_docs("wrap", [{"_id": "a", "n": 1}, {"_id": "b", "n": 2}, {"_id": "gone", "n": 3}])
    gone = admin.get("wrap", "gone")
    admin.bulk_docs("wrap", [{"_id": "gone", "_rev": gone["_rev"], "_deleted": True}])
    found = admin.get_many("wrap", ["b", "missing", "gone", "a", "a"])
    assert sorted(found) == ["a", "b"]
    assert found["a"]["n"] == 1 and found["a"]["_rev"].startswith("1-") and "_revisions" not in found["a"]
    assert admin.get_many("wrap", []) == {}


def test_put_local_with_a_stale_rev_still_writes(conn):
    admin = conn.admin
    admin.create_db("wrap")
    first = admin.put_local("wrap", "cp", {"seq": 1})
    second = admin.put_local("wrap", "cp", {"seq": 2}, first)
    assert admin.get_local("wrap", "cp")["seq"] == 2
    admin.put_local("wrap", "cp", {"seq": 3}, first)  # someone else wrote it since: read, then write
    assert admin.get_local("wrap", "cp")["seq"] == 3 and second != first
