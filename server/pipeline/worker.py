"""The changes-feed worker: follows every village database and writes the server's derived docs.

For each village database it reads ``_changes`` (plain ``feed=normal`` pages; pouchdb-server has
no ``pending`` and no ``_db_updates``) from a checkpoint kept in ``fp_cases`` (see
:func:`checkpoint_name`). Each
page goes through one pipeline: settle CouchDB revision conflicts (archive every losing
revision) → find the household of each new submission revision → validate it with that
household's context → apply it to the household record in ``fp_cases`` → write the reviews and
the tablets' ``household:`` docs in one ``_bulk_docs`` → only then advance the checkpoint.

Every step is keyed on (submission id, rev), so a crash anywhere repeats a page without writing
anything twice, and a page that collides with a clerk's write is simply done again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from forms.spec import FormSpec
from server.casework.review import check, contributes, revalidated, review_for
from server.casework.tiers import retier
from server.households import matching
from server.households import model as households
from server.pipeline import household_store
from server.pipeline.policy_store import PolicyCache
from server.validation import issue
from server.validation.rules import Context
from server.validation.submission import local_today
from sync import names
from sync.clock import utc_now
from sync.couch import Couch, CouchError
from sync.form_catalog import FormCatalog
from sync.watch import FeedWatch

log = logging.getLogger("fangpin.worker")

CASES_CHECKPOINT = "fangpin-conflicts"
CASES_EVERY_S = 10.0
Catalog = Mapping[str, Mapping[str, FormSpec]]


def seq_number(seq: Any) -> int:
    """Position of an opaque seq, for lag reporting only: CouchDB's ``N-…`` or pouchdb's integer."""
    if isinstance(seq, int):
        return seq
    match = re.match(r"^(\d+)", str(seq or "0"))
    return int(match.group(1)) if match else 0


def checkpoint_name(db: str) -> str:
    """The ``_local`` doc in ``fp_cases`` that holds where the worker is in a village's feed.

    Server state never lives where a tablet can write: in the village database (where it was
    once) a grid worker could set it past the end and silence the village's processing.
    """
    return f"fangpin-worker.{db}"


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise ValueError("--shard must be i/n with 0 <= i < n, e.g. 0/2")
    return int(match.group(1)), int(match.group(2))


@dataclass
class PageInput:
    """What merging a page needs, read before the lock is taken."""

    village: str
    submissions: list[dict]
    forms: Catalog
    claims: dict[str, tuple[str | None, dict]]
    index: matching.Index
    reviews: dict[str, dict]
    archived: dict[str, list[dict]]
    records: dict[str, dict]
    now: str
    prechecked: dict[str, Precheck] = field(default_factory=dict)


@dataclass
class Precheck:
    """A submission validated before the lock, with what the check depended on: the household it
    was matched to, that household's size and every "who else holds this ID" lookup. Merging reuses
    the issues while all of it still holds (nearly always) and checks again otherwise."""

    target: str | None
    size: int | None
    lookups: list[tuple[str, frozenset[str]]]
    issues: list[dict]

    def holds(self, target: str | None, size: int | None, lookup: Any) -> bool:
        return target == self.target and size == self.size and all(lookup(n) == r for n, r in self.lookups)


@dataclass
class Worker:
    admin: Couch
    batch_size: int = 500
    shard: tuple[int, int] = (0, 1)
    forms_ttl_s: float = 30.0
    today: dt.date | None = None  # tests pin the day validation runs on
    threads: int = 3  # villages processed side by side (see sweep)
    _catalog: FormCatalog | None = None
    _seen_seq: dict[str, Any] = field(default_factory=dict)
    # checkpoint name -> (seq, rev) as this process wrote it last
    _checkpoints: dict[str, tuple[Any, str | None]] = field(default_factory=dict)
    _cases_settled_at: float = float("-inf")
    _writes: int = 0
    _live: household_store.LiveIndex | None = None
    _policies: PolicyCache | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)  # the in-memory index and caches
    _pool: ThreadPoolExecutor | None = None

    @property
    def policies(self) -> PolicyCache:
        if self._policies is None:
            self._policies = PolicyCache(self.admin)
        return self._policies

    @property
    def live(self) -> household_store.LiveIndex:
        if self._live is None:
            self._live = household_store.LiveIndex(self.admin)
        return self._live

    # -- what to follow -------------------------------------------------------------------
    def villages(self) -> list[str]:
        index, count = self.shard
        codes = [doc["code"] for doc in self.admin.iter_prefix(names.ACCOUNTS, "village:")]
        return [c for c in codes if int(c) % count == index]

    def forms(self, refresh: bool = False) -> dict[str, dict[str, FormSpec]]:
        """Published form versions as compiled specs."""
        if self._catalog is None:
            self._catalog = FormCatalog(self.admin, self.forms_ttl_s)
        return self._catalog.get(refresh)

    # -- processing -----------------------------------------------------------------------
    def sweep(self) -> int:
        """One pass over every followed village (and the case database's conflicts).

        Villages go side by side on ``threads`` threads: a page's validation and merging (Python,
        under one lock) then overlap another village's reads and writes (CouchDB's time), which
        measured as the two halves of a page. Villages share no household record except through
        duplicates, and a record changed under a page makes its save collide and the page redone.
        """
        codes = self.villages()
        if self.threads <= 1 or len(codes) <= 1:
            written = sum(self.process_village(code) for code in codes)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="fangpin-village")
            futures = [self._pool.submit(self.process_village, code) for code in codes]
            wait(futures)  # all of them, even when one fails: no village may be left in flight
            written = sum(f.result() for f in futures)
        # Only replication makes conflicts in fp_cases, so while surveys keep arriving they are
        # looked for every CASES_EVERY_S rather than after every page (reading that busy feed
        # was a tenth of the worker's time); an idle pass always looks.
        due = not written or time.monotonic() - self._cases_settled_at >= CASES_EVERY_S
        if self.shard[0] == 0 and due:
            written += self.settle_case_conflicts()
            self._cases_settled_at = time.monotonic()
        return written

    def process_village(self, code: str, moved: bool = False) -> int:
        """Process a village's feed from its checkpoint to the end. Unless the caller knows the
        feed ``moved`` (:meth:`run`'s watch), a village whose ``update_seq`` is as it was after
        the last pass is skipped without reading its feed."""
        db = names.village_db(code)
        update_seq = None
        if not moved:
            info = self.admin.db_info(db)
            if info is None:
                return 0
            update_seq = info["update_seq"]
            if self._seen_seq.get(code) == update_seq:
                return 0
        since = self._checkpoint(checkpoint_name(db))
        written = 0
        while True:
            page = self.admin.changes(db, since, self.batch_size, include_docs=False)
            results = page["results"]
            written += self.handle_page(db, code, *self._page_docs(db, results))
            since = page["last_seq"]
            if results:
                self._advance(checkpoint_name(db), since)
            if len(results) < self.batch_size:
                break
        if update_seq is not None:
            self._seen_seq[code] = update_seq
        return written

    def _checkpoint(self, name: str) -> Any:
        """Where this process left a feed (read from CouchDB once; this process is its only writer)."""
        if name not in self._checkpoints:
            doc = self.admin.get_local(names.CASES, name) or {}
            self._checkpoints[name] = (doc.get("seq", 0), doc.get("_rev"))
        return self._checkpoints[name][0]

    def _advance(self, name: str, seq: Any) -> None:
        last_rev = self._checkpoints.get(name, (0, None))[1]
        rev = self.admin.put_local(names.CASES, name, {"seq": seq, "at": utc_now()}, last_rev)
        self._checkpoints[name] = (seq, rev)

    def _page_docs(self, db: str, results: list[dict]) -> tuple[list[dict], set[str]]:
        """The docs of a changes page worth reading (submissions, anything with several leaves),
        and the ids of those with several leaves.

        The feed is read without bodies because most of a village's changes are the worker's own
        reviews and household docs; a doc with more than one leaf (``style=all_docs`` lists deleted
        ones too) may be in conflict, or had one settled, and is read with its ``_conflicts``.
        """
        live = [r for r in results if not r.get("deleted")]
        several = [r["id"] for r in live if len(r.get("changes", [])) > 1]
        docs = [d for d in (self.admin.get(db, i, conflicts="true") for i in several) if d]
        single = [r["id"] for r in live if r["id"].startswith("submission:") and r["id"] not in several]
        fetched = self.admin.get_many(db, single)
        return docs + [fetched[i] for i in single if i in fetched], set(several)

    def handle_page(
        self, db: str, village: str, docs: list[dict], several: AbstractSet[str] = frozenset(), attempts: int = 5
    ) -> int:
        """Settle revision conflicts, then merge and review the page's submissions; returns writes."""
        winners = {doc["_id"]: self.settle_conflict(db, doc)[0] for doc in docs if doc.get("_conflicts")}
        submissions = [
            winners.get(d["_id"], d) for d in docs if d["_id"].startswith("submission:") and not d.get("_deleted")
        ]
        if not submissions:
            return 0
        for attempt in range(attempts):
            try:
                return self._apply(db, village, submissions, several, fresh=attempt > 0)
            except household_store.Conflict as exc:
                log.info("page of %s collided with another writer (%s); doing it again", db, exc)
        raise CouchError(409, "conflict", f"household records kept conflicting in {db}")

    def _apply(self, db: str, village: str, submissions: list[dict], several: AbstractSet[str], fresh: bool) -> int:
        forms = self.forms()
        if any(not self._knows(forms, s) for s in submissions):
            forms = self.forms(refresh=True)  # a form published a moment ago is known at once
        now = utc_now()
        reviews = self.admin.get_many(db, [names.review_id(s["_id"]) for s in submissions])
        # Only a doc with several leaves can have had a losing revision archived.
        archived = self._archived(db, {s["_id"] for s in submissions} & several)
        claims = {s["_id"]: _claim(s, village) for s in submissions}
        with self._lock:
            index = self.live.current(fresh)
            # One read for every record the page may touch: what each claimed id matches now.
            targets = {i: matching.match(c, village, raw, index)[0] if c else None for i, (c, raw) in claims.items()}
        records = self._load({h for h in targets.values() if h})
        page = PageInput(village, submissions, forms, claims, index, reviews, archived, records, now)
        # Validation, the costly part, runs outside the lock: one village's surveys never hold up
        # another's (a survey of 100,000 members once held every village for 90 s).
        page.prechecked = {s["_id"]: self._precheck(s, page, targets[s["_id"]]) for s in submissions}
        with self._lock:
            links, touched, dirty, docs = self._merge_page(page)
        household_store.save_aliases(self.admin, links)
        household_store.save(self.admin, dirty.values())
        self.live.wrote(dirty.values())
        household_store.publish(self.admin, touched.values(), {db: docs})
        self._after_write()
        return len(docs)

    def _merge_page(self, page: PageInput) -> tuple[dict[str, str], dict[str, dict], dict[str, dict], list[dict]]:
        """Validate, match and merge a page in memory: (aliases, touched records, changed records, reviews)."""
        village, index, records, now = page.village, page.index, page.records, page.now
        links: dict[str, str] = {}
        touched: dict[str, dict] = {}  # households this page is about: their village docs are checked
        dirty: dict[str, dict] = {}  # households whose record changed: saved
        suspects: list[tuple[str, str, str]] = []  # (household, possible duplicate, reason)
        docs = []
        lookup = self._id_lookup(index, village)
        for sub in page.submissions:
            existing = page.reviews.get(names.review_id(sub["_id"]))
            claimed_id, raw = page.claims[sub["_id"]]
            target, how = matching.match(claimed_id, village, raw, index) if claimed_id else (None, None)
            record = self._record(records, target, index) if target else None
            pre = page.prechecked.get(sub["_id"])
            if pre is not None and pre.holds(target, _size(record), lookup):
                issues = pre.issues
            else:
                issues = check(sub, village, page.forms, self._context(target, record, lookup))
            if how == matching.OTHER_VILLAGE:
                issues = [*issues, issue("household.other_village", "household_id", claimed_id)]
            link = None
            if target and claimed_id and contributes(sub, issues, existing):
                record, changed, reindexed = self._merge(
                    sub, village, claimed_id, target, how or "new", issues, index, records, now
                )
                touched[target] = record
                if changed:
                    dirty[target] = record
                if claimed_id != target:
                    links[claimed_id] = target
                if reindexed:  # who it may be a duplicate of depends only on its head, name and members
                    suspects += [(target, o, r) for o, r in matching.possible_duplicates(target, index)]
                link = {"id": target, "matched_by": how, "version": record["version"], "conflict": record["conflict"]}
            review = review_for(sub, existing, village, issues, now, link, page.archived.get(sub["_id"]))
            if review is not None:
                docs.append(review)
        for changed in self._note_duplicates(suspects, records):
            touched[changed["household_id"]] = dirty[changed["household_id"]] = changed
        policy, today = self.policies.get(), self.today or local_today()
        for hid, record in touched.items():  # every changed household gets its tier now
            if not record.get("merged_into") and retier(record, policy, today, now, _cause(record)):
                dirty[hid] = record
        return links, touched, dirty, docs

    def _precheck(self, sub: dict, page: PageInput, target: str | None) -> Precheck:
        record = page.records.get(target) if target else None
        lookups: list[tuple[str, frozenset[str]]] = []
        shared = self._id_lookup(page.index, page.village)

        def recorded(number: str) -> frozenset[str]:
            found = shared(number)
            lookups.append((number, found))
            return found

        issues = check(sub, page.village, page.forms, self._context(target, record, recorded))
        return Precheck(target, _size(record), lookups, issues)

    def _id_lookup(self, index: matching.Index, village: str) -> Any:
        def lookup(number: str) -> frozenset[str]:
            with self._lock:  # other villages' pages change the index meanwhile
                return frozenset(index.households_with_id(number, village))

        return lookup

    def _context(self, target: str | None, record: dict | None, lookup: Any) -> Context:
        return Context(
            today=self.today or local_today(),
            household_id=target,
            household_size=_size(record),
            id_households=lambda number: set(lookup(number)),
        )

    def _record(self, records: dict[str, dict], household_id: str, index: matching.Index) -> dict | None:
        """The record, if it exists. The index knows every record, so one it does not know is new
        (if another process created it a moment ago, saving collides and the page is redone)."""
        if household_id not in records and household_id in index.entries:
            records.update(self._load([household_id]))
        return records.get(household_id)

    def _load(self, household_ids: Iterable[str]) -> dict[str, dict]:
        """Records as they are now. One merged away since the index last read the feed means this
        page was matched on a stale index: the index learns of it and the page is redone."""
        found = household_store.load(self.admin, household_ids)
        retired = [r for r in found.values() if r.get("merged_into")]
        with self._lock:
            for record in retired:
                self.live.note(record)
        if retired:
            raise household_store.Conflict(", ".join(r["household_id"] for r in retired))
        return found

    def _merge(
        self,
        sub: Mapping[str, Any],
        village: str,
        claimed: str,
        target: str,
        how: str,
        issues: list[dict],
        index: matching.Index,
        records: dict[str, dict],
        now: str,
    ) -> tuple[dict, bool, bool]:
        """Apply one submission revision to its household (created when first met).

        Returns (record, whether it changed, whether what matching knows of it changed).
        """
        record = self._record(records, target, index)
        created = changed = record is None
        if record is None:
            record = records[target] = households.new_record(target, village, None, "field", now)
        if claimed != target and claimed not in record["aliases"]:
            record["aliases"] = sorted([*record["aliases"], claimed])  # a provisional id found to be known
            index.alias(claimed, target)
            changed = True
        before = None if created else record["index"]
        event = households.apply_submission(record, sub, households.submitted_properties(sub["data"], issues), now)
        index.put(target, record["village_code"], record["index"])
        reindexed = before != record["index"]
        return record, changed or event is not None or reindexed, reindexed

    def _note_duplicates(self, suspects: list[tuple[str, str, str]], records: dict[str, dict]) -> list[dict]:
        """Flag possible duplicates on both households (a clerk merges or dismisses them)."""
        records.update(household_store.load(self.admin, {o for _, o, _ in suspects if o not in records}))
        changed = []
        for household, other_id, reason in suspects:
            record, other = records[household], records.get(other_id)
            if other is None or other.get("merged_into"):
                continue
            if households.add_duplicate(record, other_id, reason):
                changed.append(record)
            if households.add_duplicate(other, household, reason):
                changed.append(other)
        return changed

    # -- CouchDB revision conflicts ------------------------------------------------------------
    def settle_conflict(self, db: str, doc: dict) -> tuple[dict, list[dict]]:
        """Keep one revision, archive every other in ``fp_cases`` and delete it; (winner, losers).

        A submission keeps the revision completed last (ties: CouchDB's choice); any other doc
        keeps CouchDB's winner. Deleting the losing leaves (never writing new content) is what
        makes the kept revision the winner everywhere without touching what the device wrote.
        """
        live = self.admin.live_revisions(db, doc["_id"])
        if len(live) < 2:
            return doc, []
        winner = doc
        if doc["_id"].startswith("submission:"):
            winner = max(live, key=lambda d: (str(d.get("completed_at") or ""), _generation(d["_rev"]), d["_rev"]))
        losers = [d for d in live if d["_rev"] != winner["_rev"]]
        archived = [_archive(db, d, winner["_rev"]) for d in losers]
        results = self.admin.bulk_docs(names.CASES, archived)
        failed = [r for r in results if r.get("error") and r["error"] != "conflict"]  # conflict: archived before
        if failed:
            raise CouchError(500, "write_failed", f"archiving losing revisions failed: {failed[:3]}")
        deletions = [{"_id": d["_id"], "_rev": d["_rev"], "_deleted": True} for d in losers]
        failed = [r for r in self.admin.bulk_docs(db, deletions) if r.get("error")]
        if failed:
            raise CouchError(500, "write_failed", f"removing losing revisions failed: {failed[:3]}")
        log.info(
            "settled a revision conflict on %s in %s: kept %s, archived %d", doc["_id"], db, winner["_rev"], len(losers)
        )
        return winner, losers

    def _archived(self, db: str, doc_ids: set[str]) -> dict[str, list[dict]]:
        """Losing revisions archived for these docs, read back from ``fp_cases``.

        Read from the archive (not passed along in memory) so that a crash after a conflict was
        settled still ends with the submission's review listing what was archived.
        """
        archives = []
        for doc_id in sorted(doc_ids):
            prefix = f"archive:{db}:{doc_id}:"
            archives += [r["doc"] for r in self.admin.all_docs(names.CASES, prefix, prefix + "\ufff0") if r.get("doc")]
        found: dict[str, list[dict]] = {}
        for archive in sorted(archives, key=lambda a: a["rev"]):
            loser = archive["doc"]
            found.setdefault(archive["doc_id"], []).append(
                {
                    "rev": archive["rev"],
                    "completed_at": loser.get("completed_at"),
                    "submitted_by": loser.get("submitted_by"),
                    "device_id": loser.get("device_id"),
                    "archived_as": archive["_id"],
                }
            )
        return found

    def settle_case_conflicts(self) -> int:
        """Follow ``fp_cases`` for docs with several live revisions (only replication makes them)."""
        info = self.admin.db_info(names.CASES)
        if info is None or self._seen_seq.get(names.CASES) == info["update_seq"]:
            return 0
        since = self._checkpoint(CASES_CHECKPOINT)
        settled = 0
        while True:
            page = self.admin.changes(names.CASES, since, self.batch_size, include_docs=False)
            suspects = [r["id"] for r in page["results"] if len(r.get("changes", [])) > 1]
            for doc_id in suspects:
                doc = self.admin.get(names.CASES, doc_id, conflicts="true")
                if doc and doc.get("_conflicts"):
                    settled += len(self.settle_conflict(names.CASES, doc)[1])
            since = page["last_seq"]
            if page["results"]:
                self._advance(CASES_CHECKPOINT, since)
            if len(page["results"]) < self.batch_size:
                break
        self._seen_seq[names.CASES] = info["update_seq"]
        return settled

    # -- revalidation -------------------------------------------------------------------------
    def revalidate(self, villages: list[str] | None = None, page: int = 500) -> dict[str, int]:
        """Check every stored submission again and rewrite the reviews whose issues changed."""
        counts = {"checked": 0, "changed": 0}
        catalog = self.forms(refresh=True)
        for code in villages or self.villages():
            db = names.village_db(code)
            batch: list[dict] = []
            for sub in self.admin.iter_prefix(db, "submission:", page=page):
                batch.append(sub)
                if len(batch) == page:
                    self._recheck(db, code, batch, catalog, counts)
                    batch = []
            self._recheck(db, code, batch, catalog, counts)
        return counts

    def _recheck(self, db: str, village: str, subs: list[dict], catalog: Catalog, counts: dict[str, int]) -> None:
        if not subs:
            return
        reviews = self.admin.get_many(db, [names.review_id(s["_id"]) for s in subs])
        index = self.live.current()
        now = utc_now()
        docs = []
        for sub in subs:
            review = reviews.get(names.review_id(sub["_id"]))
            if review is None or review.get("submission_rev") != sub["_rev"]:
                continue  # not reviewed yet: the worker will get to it
            target = (review.get("household") or {}).get("id")
            record = household_store.load(self.admin, [target]).get(target) if target else None
            context = Context(
                today=self.today or local_today(),
                household_id=target or sub.get("household_id"),
                household_size=_size(record),
                id_households=lambda number: index.households_with_id(number, village),
            )
            updated = revalidated(sub, review, check(sub, village, catalog, context), now)
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

    def run(self, stop: threading.Event, full_sweep_s: float = 60.0, max_backoff_s: float = 5.0) -> None:
        """Process villages as their feeds move until ``stop`` is set.

        One long-poll per database (:class:`FeedWatch`) says which moved; a village goes to the
        pool the moment it moves and is not already in hand, so one village's big page never holds
        up another's survey. ``fp_cases`` is looked at when it moved, every ``CASES_EVERY_S`` at
        most while villages are in hand (the worker's own writes move it); the list of villages is
        read again when ``fp_accounts`` moves; a full :meth:`sweep` at the start and every
        ``full_sweep_s`` is the net under the watch. Polling every village's ``GET /db`` four
        times a second instead was, under 200 tablets, a third of the embedded server's core.
        """
        watch = FeedWatch(self.admin)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max(1, self.threads), thread_name_prefix="fangpin-village")
        backoff, next_full, next_cases = 0.25, 0.0, 0.0
        seen: dict[str, Any] = {}  # database -> the watch's seq when it was last taken up
        in_hand: dict[str, Future] = {}
        codes: list[str] = []

        def current(db: str) -> Any:
            try:
                return watch.seq(db)
            except CouchError as exc:
                if exc.status != 404:
                    raise
                return None  # a village without its database yet: the full sweep comes back to it

        def moved(db: str) -> Any:
            """The watch's seq of ``db`` if it differs from the one last taken up, else None."""
            seq = current(db)
            return seq if seq is not None and seq != seen.get(db, ...) else None

        while not stop.is_set():
            try:
                for code in [c for c, f in in_hand.items() if f.done()]:
                    try:
                        in_hand.pop(code).result()
                    except Exception:
                        seen.pop(names.village_db(code), None)  # taken up again after the back-off
                        raise
                now = time.monotonic()
                if (accounts := moved(names.ACCOUNTS)) is not None or now >= next_full:
                    if accounts is not None:
                        seen[names.ACCOUNTS] = accounts
                    codes = self.villages()
                    watch.follow([names.ACCOUNTS, names.CASES, *(names.village_db(c) for c in codes)])
                if now >= next_full and not in_hand:
                    baseline = {db: current(db) for db in (names.CASES, *map(names.village_db, codes))}
                    self.sweep()
                    seen.update(baseline)
                    next_full, next_cases = now + full_sweep_s, now + CASES_EVERY_S
                    continue
                cases = moved(names.CASES) if self.shard[0] == 0 else None
                if cases is not None and (not in_hand or now >= next_cases):
                    seen[names.CASES] = cases
                    self.settle_case_conflicts()
                    next_cases = now + CASES_EVERY_S
                for code in codes:
                    db = names.village_db(code)
                    if code not in in_hand and (seq := moved(db)) is not None:
                        seen[db] = seq  # taken before the read: a change after it is seen next time
                        in_hand[code] = self._pool.submit(self.process_village, code, True)
                        in_hand[code].add_done_callback(lambda _: watch.poke())
                backoff = 0.25
                idle = [names.village_db(c) for c in codes if c not in in_hand and names.village_db(c) in seen]
                if self.shard[0] == 0 and names.CASES in seen and not in_hand:  # busy: woken by pokes
                    idle.append(names.CASES)
                idle.append(names.ACCOUNTS)
                watch.wait_any({db: seen.get(db) for db in idle}, 1.0)
            except CouchError as exc:
                why = "CouchDB's disk is full" if exc.disk_full else f"{exc.status} {exc.error}"
                log.warning("worker sweep failed (%s); retrying in %.1f s", why, backoff)
                stop.wait(backoff)
                backoff = min(max_backoff_s, backoff * 2)
        for future in in_hand.values():
            future.result()


def _cause(record: Mapping[str, Any]) -> dict:
    """Why a household's tier was computed: its latest event (a survey, resolution or merge)."""
    last = record["events"][-1] if record["events"] else None
    return {"event": last["id"], "kind": last["kind"]} if last else {"kind": "roster"}


def _claim(sub: Mapping[str, Any], village: str) -> tuple[str | None, dict]:
    """The household id a submission names (if well formed) and its answers as properties."""
    claimed = sub.get("household_id") if names.is_household_id(sub.get("household_id"), village) else None
    raw = households.submitted_properties(sub["data"]) if claimed and isinstance(sub.get("data"), dict) else {}
    return claimed, raw


def _size(record: Mapping[str, Any] | None) -> int | None:
    members = (record or {}).get("properties", {}).get("members")
    return len(members) if isinstance(members, list) and members else None


def _generation(rev: str) -> int:
    head = rev.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


def _archive(db: str, doc: Mapping[str, Any], winner_rev: str) -> dict:
    """A losing revision, kept whole in ``fp_cases`` (its id makes archiving it twice a no-op)."""
    return {
        "_id": f"archive:{db}:{doc['_id']}:{doc['_rev']}",
        "type": "archive",
        "reason": "revision_conflict",
        "db": db,
        "doc_id": doc["_id"],
        "rev": doc["_rev"],
        "winner_rev": winner_rev,
        "village_code": names.village_of(db),
        "archived_at": utc_now(),
        "doc": dict(doc),
    }


def lag(admin: Couch) -> int:
    """Changes not yet processed, summed over villages.

    CouchDB is asked what is pending after the checkpoint: its seqs are opaque, and a sharded
    database's ``update_seq`` moves on writes that make no change row (``_security``), so a
    difference of seqs never returns to 0 there. pouchdb-server has no ``pending``, but its seqs
    are the count of changes.
    """
    total = 0
    for doc in admin.iter_prefix(names.ACCOUNTS, "village:"):
        db = names.village_db(doc["code"])
        info = admin.db_info(db)
        if info is None:
            continue
        done = (admin.get_local(names.CASES, checkpoint_name(db)) or {}).get("seq", 0)
        if isinstance(info["update_seq"], int):
            total += max(0, info["update_seq"] - seq_number(done))
        else:
            page = admin.changes(db, done, 1, include_docs=False)
            total += len(page["results"]) + int(page.get("pending") or 0)
    return total
