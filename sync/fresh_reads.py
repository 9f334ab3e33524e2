"""Concurrent fresh reads of one database, coalesced into one ``_bulk_get`` at a time.

Every sync request of every tablet checks its device credential against ``fp_accounts``, and that
check must be fresh: a revoked tablet is refused on its next request, not a cache lifetime later.
Under 200 tablets those reads were one CouchDB request per sync request. Coalescing keeps the
freshness and drops the request count: while one read is in flight, callers gather into the next
one, which starts the moment the first returns. Every caller's ids are read by a request that
starts after the caller asked, so nothing written before a caller arrived can be missed, and no
cache is ever consulted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from sync.couch import Couch

MAX_IDS = 500  # one _bulk_get at most; a fuller gathering batch makes its newcomers start another


@dataclass
class _Batch:
    ids: set[str] = field(default_factory=set)
    done: threading.Event = field(default_factory=threading.Event)
    found: dict[str, dict] = field(default_factory=dict)
    error: BaseException | None = None


class FreshReads:
    """``get_many`` for one database, one request in flight, the rest gathered behind it."""

    def __init__(self, couch: Couch, db: str) -> None:
        self.couch, self.db = couch, db
        self._cond = threading.Condition()
        self._gathering: _Batch | None = None  # not started yet: newcomers join it
        self._flying = False
        self.requests = 0  # reads sent upstream
        self.callers = 0  # reads asked for

    def get_many(self, ids: Iterable[str]) -> dict[str, dict]:
        """The current winning revisions of ``ids`` that exist, read after this call began."""
        wanted = list(dict.fromkeys(ids))
        with self._cond:
            self.callers += 1
            batch = self._gathering
            lead = batch is None or len(batch.ids) + len(wanted) > MAX_IDS
            if lead:
                batch = _Batch()
                self._gathering = batch
            assert batch is not None
            batch.ids.update(wanted)
            if lead:
                while self._flying:
                    self._cond.wait()
                self._flying = True
                if self._gathering is batch:
                    self._gathering = None  # closed: whoever comes now waits for the next read
        if lead:
            try:
                self.requests += 1
                batch.found = self.couch.get_many(self.db, sorted(batch.ids))
            except BaseException as exc:  # every caller of the batch hears it, not only the leader
                batch.error = exc
            finally:
                with self._cond:
                    self._flying = False
                    batch.done.set()
                    self._cond.notify_all()
        else:
            batch.done.wait()
        if batch.error is not None:
            raise batch.error
        return {i: batch.found[i] for i in wanted if i in batch.found}
