"""Reads the tablets of a village make together, sent upstream once per feed position.

When a village's feed moves (:class:`sync.watch.FeedWatch`) its tablets wake together and ask
the same things: the same ``_changes`` page, the same new revisions (``_bulk_get``), the database's
info. Measured under 200 live tablets, pouchdb-server spent its single core answering those
copies (~140 µs a changes row, a folder walk per ``GET /db``).

Every answer is keyed by the feed position (seq) its caller saw *before* reading: an answer read
when the database was at seq S holds everything up to S, so it serves any caller that knows S as
the current seq; a caller that saw a later seq has a new key, so nothing is served stale. Only
answers are shared, never who may see them: the gateway filters each caller's copy.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sync.couch import Couch


@dataclass
class _Read:
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None


class SharedReads:
    def __init__(self, max_entries: int = 4096, wait_s: float = 60.0) -> None:
        self.max_entries = max_entries
        self.wait_s = wait_s
        self._reads: OrderedDict[tuple, _Read] = OrderedDict()
        self._lock = threading.Lock()
        self.upstream_reads = 0  # for tests: how many reads actually went upstream

    def get(self, couch: Couch, path: str, params: dict[str, str], at_seq: Any) -> Any:
        """``GET path?params`` as read at ``at_seq`` (a changes page, a database's info)."""
        key = ("GET", path, json.dumps(params, sort_keys=True), json.dumps(at_seq))
        (mine,) = self._claim([key])
        if not mine:
            shared = self._wait(key)
            if shared is not None:
                return shared
            return couch.call("GET", path, params=params)  # the first reader failed: read for ourselves
        try:
            result = couch.call("GET", path, params=params)
        except Exception:
            self._drop([key])
            raise
        self._settle(key, result)
        return result

    def bulk_get(self, couch: Couch, path: str, params: dict[str, str], at_seq: Any, items: list[dict]) -> list:
        """``_bulk_get`` results for ``items`` in their order, each revision read upstream once.

        Only found revisions are shared: a "missing" answer is never kept, so a caller cannot
        plant one for a revision it predicts (revision ids are content hashes) before it exists.
        """
        ids = [item.get("id") for item in items]
        if len(set(ids)) != len(ids) or not all(isinstance(i, str) for i in ids):
            raise ValueError("one item per document id")  # several revisions of one doc: not shared
        base = ("BULK", path, json.dumps(params, sort_keys=True), json.dumps(at_seq))
        keys = [(*base, json.dumps(item, sort_keys=True)) for item in items]
        mine = self._claim(keys)
        fetch = [i for i, m in enumerate(mine) if m]
        results: dict[int, Any] = {}
        if fetch:
            try:
                got = self._upstream(couch, path, params, [items[i] for i in fetch])
            except Exception:
                self._drop([keys[i] for i in fetch])
                raise
            for i, result in zip(fetch, got, strict=True):
                results[i] = result
                self._settle(keys[i], result if _found(result) else None)
        late = []
        for i, m in enumerate(mine):
            if not m:
                shared = self._wait(keys[i])
                if shared is None:
                    late.append(i)
                else:
                    results[i] = shared
        if late:
            for i, result in zip(late, self._upstream(couch, path, params, [items[i] for i in late]), strict=True):
                results[i] = result
        return [results[i] for i in range(len(items))]

    @staticmethod
    def _upstream(couch: Couch, path: str, params: dict[str, str], items: list[dict]) -> list:
        """The rows for ``items``, matched by id: pouchdb-server answers grouped by id, not in the
        order asked, and leaves out an id it has nothing for. Anything but one row per id asked
        is a ValueError (the caller then reads without sharing)."""
        answer = couch.call("POST", path, params=params, body={"docs": items})
        rows = answer.get("results", []) if isinstance(answer, dict) else []
        by_id = {row.get("id"): row for row in rows if isinstance(row, dict)}
        if len(by_id) != len(rows) or set(by_id) != {item["id"] for item in items}:
            raise ValueError(f"_bulk_get answered {len(rows)} rows for {len(items)} docs")
        return [by_id[item["id"]] for item in items]

    # -- single flight -----------------------------------------------------------------------
    def _claim(self, keys: list[tuple]) -> list[bool]:
        """For each key, whether this caller is to read it (no one holds or is reading it)."""
        mine = []
        with self._lock:
            for key in keys:
                entry = self._reads.get(key)
                if entry is None:
                    self._reads[key] = _Read()
                    self.upstream_reads += 1
                    mine.append(True)
                else:
                    self._reads.move_to_end(key)
                    mine.append(False)
            while len(self._reads) > self.max_entries:
                self._reads.popitem(last=False)[1].done.set()  # a waiter on an evicted read reads itself
        return mine

    def _wait(self, key: tuple) -> Any:
        with self._lock:
            entry = self._reads.get(key)
        if entry is None or not entry.done.wait(self.wait_s):
            return None
        return entry.result

    def _settle(self, key: tuple, result: Any) -> None:
        with self._lock:
            entry = self._reads.get(key)
            if result is None:
                self._reads.pop(key, None)
        if entry is not None:
            entry.result = result
            entry.done.set()

    def _drop(self, keys: list[tuple]) -> None:
        for key in keys:
            self._settle(key, None)


def _found(row: Any) -> bool:
    """A _bulk_get row worth keeping: every answer a revision's body, none carrying attachment data
    (a photo is its owner's alone, and 4,096 kept photos would be gigabytes)."""
    docs = row.get("docs") if isinstance(row, dict) else None
    return bool(docs) and all(
        isinstance(d, dict) and isinstance(d.get("ok"), dict) and not _inline_data(d["ok"]) for d in docs
    )


def _inline_data(doc: dict) -> bool:
    attachments = doc.get("_attachments")
    return isinstance(attachments, dict) and any(isinstance(a, dict) and "data" in a for a in attachments.values())
