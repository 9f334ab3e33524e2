"""Household records in CouchDB: load, save, look up for matching, publish to the village.

The records live in ``fp_cases`` (server only); a derived ``household:<id>`` doc in the village
database carries what a tablet needs to start the next survey from the current version. Both
the worker and the clerk API write through here, so a clerk's resolution reaches tablets the same
way a merged survey does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from server.casework import events
from server.households import matching
from server.households import model as households
from sync import names
from sync.couch import Couch, CouchError

INDEX_FIELDS = ["_id", "household_id", "village_code", "index", "aliases", "merged_into"]


class Conflict(Exception):
    """Someone else wrote one of the records meanwhile; the caller reloads and tries again."""


class LiveIndex:
    """The worker's matching index over every household record, held in memory.

    Built once from ``fp_cases`` (only the matching fields are transferred) and then kept current
    from its changes feed: records this process wrote are noted as they are saved, records written
    by anyone else (a clerk's merge, another worker shard) are read back when the feed shows them.
    Why not a CouchDB view: pouchdb-server indexes views at about 4 ms a document on every query,
    which made the view the largest single cost of a page (measured with scripts/bench_merge).

    The feed is read at most every ``follow_s`` seconds unless ``fresh`` is asked for: a stale
    index costs no correctness (every record is saved against its revision, so a record someone
    else changed makes the save collide and the page is redone with ``fresh``), while reading
    the feed after every page, mostly to skip this process's own writes, cost a tenth of the
    worker's time under a backlog.
    """

    def __init__(self, admin: Couch, follow_s: float = 5.0) -> None:
        self.admin = admin
        self.follow_s = follow_s
        self.index: matching.Index | None = None
        self.since: Any = 0
        self.followed_at = float("-inf")
        self.ours: dict[str, str] = {}  # doc id -> the revision this process wrote last

    def current(self, fresh: bool = False) -> matching.Index:
        if self.index is None:
            self.since = (self.admin.db_info(names.CASES) or {}).get("update_seq", 0)
            docs = self.admin.find(names.CASES, {"type": "household"}, limit=10_000_000, fields=INDEX_FIELDS)
            self.index = matching.build(docs)
            self.followed_at = time.monotonic()
        elif fresh or time.monotonic() - self.followed_at >= self.follow_s:
            self._follow()
            self.followed_at = time.monotonic()
        return self.index

    def _follow(self) -> None:
        while True:
            page = self.admin.changes(names.CASES, self.since, 1000, include_docs=False)
            rows = [r for r in page["results"] if r["id"].startswith("household:")]
            for row in rows:
                if row.get("deleted"):  # a roster import that failed took back what it created
                    self.index.remove(row["id"].removeprefix("household:"))
            others = [
                r["id"]
                for r in rows
                if not r.get("deleted") and [c["rev"] for c in r["changes"]] != [self.ours.get(r["id"])]
            ]
            for record in self.admin.get_many(names.CASES, others).values():
                self.note(record)
            self.since = page["last_seq"]
            if len(page["results"]) < 1000:
                return

    def note(self, record: Mapping[str, Any]) -> None:
        assert self.index is not None
        if record.get("merged_into"):
            self.index.remove(record["household_id"])
            self.index.alias(record["household_id"], record["merged_into"])
        else:
            self.index.put(record["household_id"], record["village_code"], record.get("index"))
        for alias in record.get("aliases", []):
            self.index.alias(alias, record["household_id"])

    def wrote(self, records: Iterable[Mapping[str, Any]]) -> None:
        for record in records:
            self.ours[record["_id"]] = record["_rev"]


def load(admin: Couch, household_ids: Iterable[str]) -> dict[str, dict]:
    docs = admin.get_many(names.CASES, [households.doc_id(h) for h in household_ids])
    return {doc["household_id"]: doc for doc in docs.values()}


def save(admin: Couch, records: Iterable[dict]) -> None:
    """Write records; :class:`Conflict` if any changed meanwhile (the rest are written)."""
    docs = list(records)
    results = admin.bulk_docs(names.CASES, docs)
    for doc, result in zip(docs, results, strict=True):
        if result.get("ok"):
            doc["_rev"] = result["rev"]
    failed = [r for r in results if r.get("error")]
    if any(r["error"] != "conflict" for r in failed):
        raise CouchError(500, "write_failed", f"household writes failed: {failed[:3]}")
    if failed:
        raise Conflict(", ".join(r.get("id", "") for r in failed))


def add_roster(admin: Couch, village: str, roster: Mapping[str, Mapping[str, Any]], at: str) -> int:
    """Create version 0 of roster households not yet known (``roster``: household id -> properties).

    Returns how many were new. Households already known are left alone: what the field changed
    since must not be overwritten by an old roster.
    """
    present = load(admin, roster)
    new = [households.new_record(h, village, props, "roster", at) for h, props in roster.items() if h not in present]
    save(admin, new)
    publish(admin, new)
    return len(new)


def import_roster(
    admin: Couch,
    roster: Mapping[str, Mapping[str, Any]],
    by: str,
    at: str,
    key: str,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> dict[str, int]:
    """Create the roster's new households and update known ones (one ``roster`` version each); all or nothing.

    CouchDB has no transaction over documents, so "nothing" is made by compensation: if any write
    fails, every record this import wrote is put back as it was (new ones deleted) before the error
    is raised. ``key`` (the file's digest) makes importing the same file again a no-op.
    """
    event_id = f"roster:{key}"
    ids = sorted(roster)
    before: dict[str, dict] = {}
    for start in range(0, len(ids), 500):
        before.update(load(admin, ids[start : start + 500]))
    todo: list[dict] = []
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for hid in ids:
        village = hid.split("-", 1)[0]
        if hid not in before:
            todo.append(households.new_record(hid, village, roster[hid], "roster", at))
            counts["created"] += 1
            continue
        record = json.loads(json.dumps(before[hid]))
        if households.roster_update(record, roster[hid], by, at, event_id) is None:
            counts["unchanged"] += 1
        else:
            todo.append(record)
            counts["updated"] += 1
    written: list[dict] = []
    try:
        for start in range(0, len(todo), 500):
            batch = todo[start : start + 500]
            results = admin.bulk_docs(names.CASES, batch)
            for doc, result in zip(batch, results, strict=True):
                if result.get("ok"):
                    written.append({**doc, "_rev": result["rev"]})
            failed = [r for r in results if r.get("error")]
            if failed:
                raise CouchError(409 if failed[0]["error"] == "conflict" else 500, failed[0]["error"],
                                 f"{len(failed)} household writes failed, e.g. {failed[0].get('id')}")  # fmt: skip
            progress(len(batch), len(todo))
    except CouchError:
        _undo_import(admin, written, before)
        raise
    publish(admin, written)
    return counts


def _undo_import(admin: Couch, written: list[dict], before: Mapping[str, dict]) -> None:
    """Put back what an import wrote: the earlier content of updated records, deletion of new ones."""
    restore = []
    for doc in written:
        old = before.get(doc["household_id"])
        if old is None:
            restore.append({"_id": doc["_id"], "_rev": doc["_rev"], "_deleted": True})
        else:
            restore.append({**old, "_rev": doc["_rev"]})
    for start in range(0, len(restore), 500):
        admin.bulk_docs(names.CASES, restore[start : start + 500])


def alias_doc(alias: str, household_id: str) -> dict:
    """``alias:<id>`` in ``fp_cases``: a provisional id that turned out to be a known household."""
    return {"_id": f"alias:{alias}", "type": "alias", "alias": alias, "household_id": household_id}


def save_aliases(admin: Couch, links: Mapping[str, str]) -> None:
    """Write alias pointers (alias -> household); one that exists already is left as it is."""
    docs = [alias_doc(alias, target) for alias, target in links.items()]
    failed = [r for r in admin.bulk_docs(names.CASES, docs) if r.get("error") and r["error"] != "conflict"]
    if failed:
        raise CouchError(500, "write_failed", f"alias writes failed: {failed[:3]}")


def resolve_id(admin: Couch, household_id: str) -> str | None:
    """The household an id stands for now: itself, or where an alias or a merge points."""
    for _ in range(10):
        found = admin.get_many(names.CASES, [households.doc_id(household_id), f"alias:{household_id}"])
        doc = found.get(households.doc_id(household_id))
        if doc is None and f"alias:{household_id}" not in found:
            return None
        if doc is None:
            household_id = found[f"alias:{household_id}"]["household_id"]
        elif doc.get("merged_into"):
            household_id = doc["merged_into"]
        else:
            return household_id
    return None


def update(
    admin: Couch,
    household_ids: list[str],
    change: Callable[[dict[str, dict]], Any],
    attempts: int = 5,
    only_changed: bool = False,
) -> Any:
    """Load records, let ``change`` modify them, save and publish; again from a fresh load on conflict.

    ``change`` must be repeatable (it runs again after a conflict); what it returns is returned.
    With ``only_changed``, records whose content ``change`` left as it was are not written.
    """
    for _ in range(attempts):
        records = load(admin, household_ids)
        before = {h: json.dumps(r, sort_keys=True) for h, r in records.items()} if only_changed else {}
        result = change(records)
        written = [r for h, r in records.items() if not only_changed or json.dumps(r, sort_keys=True) != before[h]]
        try:
            save(admin, written)
        except Conflict:
            continue
        publish(admin, written)
        return result
    raise CouchError(409, "conflict", f"households {', '.join(household_ids[:5])} kept changing; try again")


def village_docs(record: Mapping[str, Any], open_events: Iterable[Mapping[str, Any]] = ()) -> list[dict]:
    """What tablets of the village see: the current record, and a pointer for each alias. A
    household not yet surveyed for an open disaster event of its village carries that survey as
    a task (`001_…` "不漏一户一人": the roster's unvisited households become the tablets' work)."""
    survivor = record.get("merged_into")
    verdict = tier_fields(None if survivor else record.get("tier"))
    if not survivor:
        owed = [
            events.survey_task(e)
            for e in open_events
            if record["village_code"] in e["villages"] and events.surveyed_version(record, e["event_id"]) is None
        ]
        verdict["tasks"] = [*verdict["tasks"], *owed]
    docs = [
        {
            "_id": households.doc_id(record["household_id"]),
            "type": "household",
            "household_id": record["household_id"],
            "village_code": record["village_code"],
            "version": record["version"],
            "merged_into": survivor,
            "properties": {} if survivor else record["properties"],
            "conflict": None if survivor else record["conflict"],
            **verdict,
        }
    ]
    for alias in record.get("aliases", []):
        docs.append(
            {
                "_id": households.doc_id(alias),
                "type": "household",
                "household_id": alias,
                "village_code": record["village_code"],
                "version": 0,
                "merged_into": record["household_id"],
                "properties": {},
                "conflict": None,
                **tier_fields(None),
            }
        )
    return docs


TIER_FIELDS = ("tier", "rules", "other_rules", "measures", "deadline", "policy_version", "provisional", "tasks")


def tier_fields(assessment: Mapping[str, Any] | None) -> dict:
    """The tier engine's verdict as tablets and the API see it (null tier: not assessed or no damage)."""
    assessment = assessment or {}
    empty: dict[str, Any] = {
        "tier": None,
        "rules": [],
        "other_rules": [],
        "measures": [],
        "deadline": None,
        "policy_version": None,
        "provisional": True,
        "tasks": [],
    }
    return {k: assessment.get(k, empty[k]) for k in TIER_FIELDS}


def publish(admin: Couch, records: Iterable[Mapping[str, Any]], extra: Mapping[str, list[dict]] | None = None) -> int:
    """Bring the village ``household:`` docs up to date (only those that differ); returns writes.

    ``extra`` holds further docs per village database to write in the same request (reviews).
    Retries on conflict: these docs are derived, so the latest derivation is always right.
    """
    wanted: dict[str, dict[str, dict]] = {}
    open_events = open_disaster_events(admin)
    for record in records:
        for doc in village_docs(record, open_events):
            wanted.setdefault(names.village_db(doc["village_code"]), {})[doc["_id"]] = doc
    extra = extra or {}
    written = 0
    for db in sorted(set(wanted) | set(extra)):
        docs = wanted.get(db, {})
        reviews = list(extra.get(db, []))
        for _ in range(5):
            current = admin.get_many(db, docs)
            todo = []
            for doc_id, doc in docs.items():
                old = current.get(doc_id)
                if old and {k: v for k, v in old.items() if k != "_rev"} == doc:
                    continue
                todo.append(dict(doc, _rev=old["_rev"]) if old else doc)
            batch = todo + reviews
            results = admin.bulk_docs(db, batch)
            failed = [r for r in results if r.get("error")]
            if any(r["error"] != "conflict" for r in failed):
                raise CouchError(500, "write_failed", f"village writes failed: {failed[:3]}")
            conflicted_reviews = [r for r in failed if not r.get("id", "").startswith("household:")]
            if conflicted_reviews:
                raise Conflict(", ".join(r.get("id", "") for r in conflicted_reviews))
            written += len(batch) - len(failed)
            if not failed:
                break
            reviews = []  # they went through; only household docs are retried
        else:
            raise CouchError(409, "conflict", f"household docs kept conflicting in {db}")
    return written


_OPEN_EVENTS: dict[str, tuple[float, list[dict]]] = {}
OPEN_EVENTS_TTL_S = 5.0


def open_disaster_events(admin: Couch, fresh: bool = False) -> list[dict]:
    """The open ``event:`` docs, read at most every few seconds by a busy worker (opening or
    closing an event republishes its villages at once, :func:`republish_villages`)."""
    key = admin.physical(names.CASES)
    hit = _OPEN_EVENTS.get(key)
    if fresh or hit is None or time.monotonic() - hit[0] > OPEN_EVENTS_TTL_S:
        found = [d for d in admin.iter_prefix(names.CASES, "event:") if d.get("status") == "open"]
        hit = _OPEN_EVENTS[key] = (time.monotonic(), found)
    return hit[1]


def republish_villages(admin: Couch, villages: Iterable[str]) -> int:
    """Publish every household of ``villages`` again (after an event opened or closed)."""
    wanted = set(villages)
    open_disaster_events(admin, fresh=True)
    records = [r for r in admin.iter_prefix(names.CASES, "household:", page=500) if r.get("village_code") in wanted]
    return publish(admin, records)
