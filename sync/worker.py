"""The changes-feed worker: follows every village database and writes the server's derived docs.

For each village database it reads ``_changes`` (plain ``feed=normal`` pages; pouchdb-server has
no ``pending`` and no ``_db_updates``) from a checkpoint kept in ``_local/fangpin-worker``, hands
every new submission revision to the review builder, writes the results in one ``_bulk_docs``
and only then advances the checkpoint. Work is keyed on (submission id, rev), so a crash between
the write and the checkpoint repeats a batch without writing anything twice, and a restart neither
reprocesses finished work nor skips unfinished work.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from forms.spec import FormSpec, spec_for

from . import names
from .couch import Couch, CouchError

log = logging.getLogger("fangpin.worker")

CHECKPOINT = "fangpin-worker"
Catalog = Mapping[str, Mapping[str, FormSpec]]
ReviewFn = Callable[[Mapping[str, Any], Mapping[str, Any] | None, str, Catalog, str], dict | None]


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def seq_number(seq: Any) -> int:
    """Position of an opaque seq, for lag reporting only: CouchDB's ``N-…`` or pouchdb's integer."""
    if isinstance(seq, int):
        return seq
    match = re.match(r"^(\d+)", str(seq or "0"))
    return int(match.group(1)) if match else 0


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise ValueError("--shard must be i/n with 0 <= i < n, e.g. 0/2")
    return int(match.group(1)), int(match.group(2))


@dataclass
class Worker:
    admin: Couch
    review: ReviewFn
    batch_size: int = 500
    shard: tuple[int, int] = (0, 1)
    forms_ttl_s: float = 30.0
    _forms: dict[str, dict[str, FormSpec]] = field(default_factory=dict)
    _specs: dict[tuple[str, str | None], FormSpec] = field(default_factory=dict)
    _forms_at: float = 0.0
    _seen_seq: dict[str, Any] = field(default_factory=dict)
    _writes: int = 0

    # -- what to follow -------------------------------------------------------------------
    def villages(self) -> list[str]:
        index, count = self.shard
        codes = [doc["code"] for doc in self.admin.iter_prefix(names.ACCOUNTS, "village:")]
        return [c for c in codes if int(c) % count == index]

    def forms(self, refresh: bool = False) -> dict[str, dict[str, FormSpec]]:
        """Published form versions as compiled specs (each XForm is fetched and compiled once)."""
        if refresh or time.monotonic() - self._forms_at > self.forms_ttl_s:
            catalog: dict[str, dict[str, FormSpec]] = {}
            for doc in self.admin.iter_prefix(names.FORMS, "form:"):
                key = (doc["_id"], doc.get("hash"))
                if key not in self._specs:
                    xml = self.admin.get_attachment(names.FORMS, doc["_id"], "xform.xml")
                    if xml is None:
                        continue
                    self._specs[key] = spec_for(xml)
                catalog.setdefault(doc["form_id"], {})[doc["version"]] = self._specs[key]
            self._forms, self._forms_at = catalog, time.monotonic()
        return self._forms

    # -- processing -----------------------------------------------------------------------
    def sweep(self) -> int:
        """One pass over every followed village; returns how many reviews were written."""
        return sum(self.process_village(code) for code in self.villages())

    def process_village(self, code: str) -> int:
        db = names.village_db(code)
        info = self.admin.db_info(db)
        if info is None:
            return 0
        update_seq = info["update_seq"]
        if self._seen_seq.get(code) == update_seq:
            return 0
        since = (self.admin.get_local(db, CHECKPOINT) or {}).get("seq", 0)
        written = 0
        while True:
            page = self.admin.changes(db, since, self.batch_size)
            results = page["results"]
            submissions = [
                r["doc"] for r in results if r["id"].startswith("submission:") and not r.get("deleted") and r.get("doc")
            ]
            written += self.write_reviews(db, code, submissions)
            since = page["last_seq"]
            if results:
                self.admin.put_local(db, CHECKPOINT, {"seq": since, "at": utc_now()})
            if len(results) < self.batch_size:
                break
        self._seen_seq[code] = update_seq
        return written

    def write_reviews(self, db: str, village: str, submissions: list[dict], attempts: int = 5) -> int:
        if not submissions:
            return 0
        forms = self.forms()
        if any(not self._knows(forms, s) for s in submissions):
            forms = self.forms(refresh=True)  # a form published a moment ago is known at once
        pending = submissions
        written = 0
        for _ in range(attempts):
            existing = self.admin.get_many(db, [names.review_id(s["_id"]) for s in pending])
            now = utc_now()
            docs, sources = [], []
            for sub in pending:
                review = self.review(sub, existing.get(names.review_id(sub["_id"])), village, forms, now)
                if review is not None:
                    docs.append(review)
                    sources.append(sub)
            results = self.admin.bulk_docs(db, docs)
            self._after_write()
            conflicted = [src for src, res in zip(sources, results, strict=True) if res.get("error") == "conflict"]
            failed = [res for res in results if res.get("error") and res.get("error") != "conflict"]
            if failed:
                raise CouchError(500, "write_failed", f"review writes failed: {failed[:3]}")
            written += len(docs) - len(conflicted)
            if not conflicted:
                return written
            pending = conflicted  # someone else (a clerk) wrote meanwhile: rebuild on top of theirs
        raise CouchError(409, "conflict", f"reviews kept conflicting in {db}")

    def revalidate(self, recheck: ReviewFn, villages: list[str] | None = None, page: int = 500) -> dict[str, int]:
        """Check every stored submission again and rewrite the reviews whose issues changed."""
        counts = {"checked": 0, "changed": 0}
        catalog = self.forms(refresh=True)
        for code in villages or self.villages():
            db = names.village_db(code)
            batch: list[dict] = []
            for sub in self.admin.iter_prefix(db, "submission:", page=page):
                batch.append(sub)
                if len(batch) == page:
                    self._recheck(db, code, batch, recheck, catalog, counts)
                    batch = []
            self._recheck(db, code, batch, recheck, catalog, counts)
        return counts

    def _recheck(
        self, db: str, village: str, subs: list[dict], recheck: ReviewFn, catalog: Catalog, counts: dict[str, int]
    ) -> None:
        if not subs:
            return
        reviews = self.admin.get_many(db, [names.review_id(s["_id"]) for s in subs])
        now = utc_now()
        docs = []
        for sub in subs:
            review = reviews.get(names.review_id(sub["_id"]))
            if review is None or review.get("submission_rev") != sub["_rev"]:
                continue  # not reviewed yet: the worker will get to it
            updated = recheck(sub, review, village, catalog, now)
            if updated is not None:
                docs.append(updated)
        counts["checked"] += len(subs)
        failed = [r for r in self.admin.bulk_docs(db, docs) if r.get("error")]
        if failed:
            raise CouchError(409, "conflict", f"{len(failed)} reviews changed while revalidating; run it again")
        counts["changed"] += len(docs)

    @staticmethod
    def _knows(forms: Catalog, sub: Mapping[str, Any]) -> bool:
        return sub.get("form_version") in forms.get(sub.get("form_id"), ())  # type: ignore[arg-type]

    def _after_write(self) -> None:
        """Fault injection for the crash tests: die between a write and its checkpoint."""
        self._writes += 1
        crash_after = os.environ.get("FANGPIN_WORKER_CRASH_AFTER_WRITES")
        if crash_after and self._writes >= int(crash_after):
            log.warning("crashing on purpose after %d writes (FANGPIN_WORKER_CRASH_AFTER_WRITES)", self._writes)
            os._exit(70)

    def run(self, stop: threading.Event, idle_s: float = 0.25, max_backoff_s: float = 5.0) -> None:
        """Sweep until ``stop`` is set, backing off while CouchDB is unreachable."""
        backoff = idle_s
        while not stop.is_set():
            try:
                busy = self.sweep()
                backoff = idle_s
                if busy:
                    continue
            except CouchError as exc:
                log.warning("worker sweep failed (%s); retrying in %.1f s", exc.error, backoff)
                backoff = min(max_backoff_s, backoff * 2)
            stop.wait(backoff)


def lag(admin: Couch) -> int:
    """Changes not yet processed, summed over villages (approximate on a CouchDB cluster)."""
    total = 0
    for doc in admin.iter_prefix(names.ACCOUNTS, "village:"):
        db = names.village_db(doc["code"])
        info = admin.db_info(db)
        if info is None:
            continue
        done = (admin.get_local(db, CHECKPOINT) or {}).get("seq", 0)
        total += max(0, seq_number(info["update_seq"]) - seq_number(done))
    return total
