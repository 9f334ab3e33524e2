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


def test_an_error_answered_as_a_json_list_is_a_couch_error_not_a_crash():
    """Apache CouchDB 3.4 answers ``_bulk_docs`` on a full disk with 500 and a JSON *list* (measured,
    see shared/architecture.md); the Cloudant SDK's error parsing raised AttributeError on it. A
    real HTTP server on loopback gives that answer here."""
    import http.server
    import threading

    import pytest

    from sync.couch import Couch, CouchError

    class CouchOnAFullDisk(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b'[{"error":"internal_server_error","reason":"No DB shards could be opened."}]'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CouchOnAFullDisk)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        couch = Couch(f"http://127.0.0.1:{server.server_address[1]}", None)
        with pytest.raises(CouchError) as caught:
            couch.bulk_docs("db", [{"_id": "x"}])
        assert caught.value.status == 500
    finally:
        server.shutdown()
