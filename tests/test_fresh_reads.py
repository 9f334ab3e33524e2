"""Coalesced fresh reads against the real embedded server: fewer requests, never a stale answer."""

from __future__ import annotations

import threading

import pytest
from conftest import wait_for

from sync.couch import CouchError
from sync.fresh_reads import FreshReads


class HeldCouch:
    """The real client whose first ``get_many`` waits until the test lets it go (a read in flight)."""

    def __init__(self, couch) -> None:
        self.couch, self.release, self.started, self.calls = couch, threading.Event(), threading.Event(), 0

    def get_many(self, db, ids):
        self.calls += 1
        if self.calls == 1:
            self.started.set()
            self.release.wait(10)
        return self.couch.get_many(db, ids)


def run(target, *args) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def body() -> None:
        try:
            out["found"] = target(*args)
        except Exception as exc:
            out["error"] = exc

    thread = threading.Thread(target=body)
    thread.start()
    return thread, out


def test_callers_arriving_during_a_read_share_the_next_one_and_see_what_was_written_before_they_asked(conn):
    admin = conn.admin
    admin.create_db("acc")
    admin.bulk_docs("acc", [{"_id": f"d{i}", "revoked": False} for i in range(20)])
    held = HeldCouch(admin)
    reads = FreshReads(held, "acc")  # type: ignore[arg-type]
    first, first_out = run(reads.get_many, ["d0"])
    assert held.started.wait(10)
    # written while the first read is in flight (a revocation): every later caller must see it
    doc = admin.get("acc", "d7")
    admin.bulk_docs("acc", [{**doc, "revoked": True}])
    callers = [run(reads.get_many, [f"d{i}", "missing"]) for i in range(1, 20)]
    wait_for(lambda: reads._gathering is not None and len(reads._gathering.ids) == 20, message="19 gathered")
    held.release.set()
    for thread, _ in [(first, first_out), *callers]:
        thread.join(10)
    assert held.calls == 2 and reads.requests == 2 and reads.callers == 20  # 20 callers, two reads
    assert list(first_out["found"]) == ["d0"]
    for i, (_, out) in enumerate(callers, start=1):
        assert list(out["found"]) == [f"d{i}"]  # each caller gets its own ids, nothing of the others'
        assert out["found"][f"d{i}"]["revoked"] is (i == 7)


def test_a_failed_read_is_heard_by_every_caller_of_its_batch_and_the_next_read_still_runs(conn):
    held = HeldCouch(conn.admin)
    reads = FreshReads(held, "no_such_db")  # type: ignore[arg-type]
    first, first_out = run(reads.get_many, ["a"])
    assert held.started.wait(10)
    callers = [run(reads.get_many, [f"x{i}"]) for i in range(5)]
    wait_for(lambda: reads._gathering is not None and len(reads._gathering.ids) == 5, message="5 gathered")
    held.release.set()
    for thread, _ in [(first, first_out), *callers]:
        thread.join(10)
    assert isinstance(first_out["error"], CouchError)
    assert all(isinstance(out["error"], CouchError) for _, out in callers)
    conn.admin.create_db("no_such_db")
    conn.admin.bulk_docs("no_such_db", [{"_id": "a"}])
    assert list(reads.get_many(["a"])) == ["a"]  # nothing stuck in flight


@pytest.mark.parametrize("count", [1, 64])
def test_concurrent_callers_each_get_exactly_their_docs(conn, count):
    admin = conn.admin
    admin.create_db("acc")
    admin.bulk_docs("acc", [{"_id": f"u{i}", "n": i} for i in range(count)])
    reads = FreshReads(admin, "acc")
    start = threading.Barrier(count)

    def ask(i: int) -> dict:
        start.wait(10)
        return reads.get_many([f"u{i}", f"u{(i + 1) % count}"])

    callers = [run(ask, i) for i in range(count)]
    for thread, _ in callers:
        thread.join(20)
    for i, (_, out) in enumerate(callers):
        assert sorted(out["found"]) == sorted({f"u{i}", f"u{(i + 1) % count}"})
        assert out["found"][f"u{i}"]["n"] == i
    assert reads.callers == count
