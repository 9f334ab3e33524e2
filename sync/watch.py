"""Which databases moved: one long-poll ``_changes`` per database, shared by a process's callers.

Polling instead (``GET /db`` of every village several times a second, by the worker and by each
web process) was, measured under 200 live tablets, most of what the embedded pouchdb-server's
single core did while nothing happened: pouchdb-server walks a database's folder to answer
``GET /db``. A long-poll costs nothing while a database is quiet and answers within a moment of
a write, on Apache CouchDB as well.

A watched database's seq is the feed's end as last seen (``since=now``): a value the feed itself
gave, so it can be handed back as ``since``. A caller that reads the database after taking the
seq has seen at least that much, and is woken by any change after it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from sync.couch import Couch, CouchError

log = logging.getLogger("fangpin.watch")


class FeedWatch:
    def __init__(
        self, couch: Couch, poll_s: float = 25.0, idle_s: float = 120.0, retry_s: float = 1.0, coalesce_s: float = 0.1
    ) -> None:
        self.couch = couch
        self.coalesce_s = coalesce_s  # at most this much later than the change it reports
        self.poll_s = poll_s  # one long-poll's length; a quiet database costs a request this often
        self.idle_s = idle_s  # a database nobody asked about for this long stops being watched
        self.retry_s = retry_s
        self._seqs: dict[str, Any] = {}  # database -> the feed's end as last seen (only while watched)
        self._used: dict[str, float] = {}
        self._followed: set[str] = set()  # watched until unfollowed, asked about or not
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._pokes = 0
        # database -> the events of the callers waiting on it now: a change wakes only those (one
        # condition for all woke every waiting tablet of every village on each change)
        self._waiters: dict[str, set[threading.Event]] = {}

    def seq(self, db: str) -> Any:
        """The database's current seq, from the watch when there is one (no request), else read
        (``since=now``) and the database watched from then on. CouchError if it is missing."""
        with self._lock:
            self._used[db] = time.monotonic()
            if db in self._seqs:
                return self._seqs[db]
        seq = self.couch.latest_seq(db)
        with self._lock:
            if db not in self._seqs:
                self._seqs[db] = seq
            self._start(db)
            return self._seqs[db]

    def follow(self, dbs: Iterable[str]) -> None:
        """Watch exactly these databases for good (the worker's villages), others only on demand."""
        wanted = set(dbs)
        with self._lock:
            self._followed = wanted
        for db in wanted:
            try:
                self.seq(db)
            except CouchError as exc:
                log.info("cannot watch %s yet (%s)", db, _why(exc))

    def wait_change(self, db: str, baseline: Any, timeout_s: float) -> Any | None:
        """The database's new seq once it differs from ``baseline``; None after ``timeout_s``."""
        moved = self.wait_any({db: baseline}, timeout_s)
        with self._lock:
            return self._seqs.get(db) if db in moved else None

    def wait_any(self, baselines: Mapping[str, Any], timeout_s: float) -> set[str]:
        """Databases whose seq differs from its baseline, as soon as there is one, or after
        ``timeout_s`` (possibly none); :meth:`poke` ends the wait early as well."""
        deadline = time.monotonic() + timeout_s
        woken = threading.Event()
        with self._lock:
            pokes = self._pokes
            for db in baselines:
                self._waiters.setdefault(db, set()).add(woken)
        try:
            while True:
                with self._lock:
                    now = time.monotonic()
                    for db in baselines:
                        self._used[db] = now
                    moved = {db for db, seq in baselines.items() if db in self._seqs and self._seqs[db] != seq}
                    if moved or now >= deadline or self._pokes != pokes:
                        return moved
                    woken.clear()  # under the lock: a change after this check sets it again
                woken.wait(deadline - now)
        finally:
            with self._lock:
                for db in baselines:
                    waiters = self._waiters.get(db, set())
                    waiters.discard(woken)
                    if not waiters:
                        self._waiters.pop(db, None)

    def waiting(self, db: str) -> int:
        """How many callers wait on ``db`` now."""
        with self._lock:
            return len(self._waiters.get(db, ()))

    def poke(self) -> None:
        """Wake every waiter (e.g. the worker when one of its villages is done)."""
        with self._lock:
            self._pokes += 1
            for waiters in self._waiters.values():
                for woken in waiters:
                    woken.set()

    # -- one thread per watched database ----------------------------------------------------
    def _start(self, db: str) -> None:
        thread = self._threads.get(db)
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=self._loop, args=(db,), name=f"watch-{db}", daemon=True)
            self._threads[db] = thread
            thread.start()

    def _loop(self, db: str) -> None:
        backoff = self.retry_s
        while True:
            with self._lock:
                idle = time.monotonic() - self._used.get(db, 0.0) > self.idle_s and not self._waiters.get(db)
                if (idle and db not in self._followed) or db not in self._seqs:
                    self._seqs.pop(db, None)
                    self._threads.pop(db, None)
                    return
                since = self._seqs[db]
            try:
                if self.couch.wait_for_change(db, since, self.poll_s) is not None:
                    # A busy database (the worker writes a village's reviews page after page)
                    # would cost three requests per write: writes within a moment make one wake.
                    time.sleep(self.coalesce_s)
                    self._moved(db, self.couch.latest_seq(db))
                backoff = self.retry_s
            except Exception as exc:  # any: a watch that died would leave its seq stale for good
                if isinstance(exc, CouchError) and exc.status == 404:
                    with self._lock:  # deleted: nothing to watch (asked again, it is read again)
                        self._seqs.pop(db, None)
                        self._threads.pop(db, None)
                    return
                log.warning("watching %s failed (%s); again in %.0f s", db, _why(exc), backoff)
                time.sleep(backoff)
                backoff = min(30.0, backoff * 2)
                with contextlib.suppress(CouchError):  # a change may have passed meanwhile: look again
                    self._moved(db, self.couch.latest_seq(db))

    def _moved(self, db: str, seq: Any) -> None:
        with self._lock:
            if db in self._seqs and self._seqs[db] != seq:
                self._seqs[db] = seq
                for woken in self._waiters.get(db, ()):
                    woken.set()


def _why(exc: Exception) -> str:
    return (exc.reason or exc.error) if isinstance(exc, CouchError) else type(exc).__name__
