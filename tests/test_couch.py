"""The CouchDB client wrapper against the real embedded server: the calls the worker leans on."""

from __future__ import annotations

import pytest


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


# What Apache CouchDB 3.4.3 answered on a full disk, measured on a build of it with its data on a
# full tmpfs: (status, body) of a _bulk_docs and whether Fangpin can tell it is the disk.
COUCHDB_FULL_DISK_ANSWERS = {
    # no disk monitor: a bare 500 with a JSON *list*, which the Cloudant SDK's parsing crashed on
    "no monitor": (500, b'[{"id":"x","error":"error","reason":"internal_server_error"}]', False),
    # [disk_monitor] enable = true: 201, the refusal in each row, spelt as CouchDB spells it
    "monitor, bulk": (201, b'[{"id":"x","error":"insufficent_storage","reason":"database_dir is too full"}]', True),
    "monitor, single": (507, b'{"error":"insufficent_storage","reason":"database_dir is too full"}', True),
}


@pytest.mark.parametrize("answer", COUCHDB_FULL_DISK_ANSWERS)
def test_couchdbs_answers_on_a_full_disk_are_a_couch_error_that_says_what_it_knows(answer):
    """A real HTTP server on loopback gives each measured answer; the write must raise (never
    pass as written, never crash), and name the full disk exactly when CouchDB did."""
    import http.server
    import threading

    from sync.couch import Couch, CouchError

    status, body, says_disk = COUCHDB_FULL_DISK_ANSWERS[answer]

    class CouchOnAFullDisk(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
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
        assert caught.value.disk_full is says_disk
        assert caught.value.status == (507 if says_disk else 500)
    finally:
        server.shutdown()
