"""Household records in CouchDB: load, save, look up for matching, publish to the village.

The records live in ``fp_cases`` (server only); a derived ``household:<id>`` doc in the village
database carries what a tablet needs to start the next survey from the current version. Both
the worker and the clerk API write through here, so a clerk's resolution reaches tablets the same
way a merged survey does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import households, matching, names
from .couch import Couch, CouchError

DESIGN = "_design/households"
# One view answers every matching question: by head ID, by member ID, by village + name, by alias.
MATCH_MAP = """function (doc) {
  if (doc.type !== 'household') { return; }
  if (doc.merged_into) { emit(['alias', doc.household_id], doc.merged_into); return; }
  var value = {village: doc.village_code, index: doc.index};
  if (doc.index) {
    if (doc.index.head_id) { emit(['head', doc.index.head_id], value); }
    (doc.index.member_ids || []).forEach(function (m) { emit(['member', m], value); });
    emit(['village', doc.village_code, doc.index.name_key || ''], value);
  }
  (doc.aliases || []).forEach(function (a) { emit(['alias', a], doc.household_id); });
}"""


class Conflict(Exception):
    """Someone else wrote one of the records meanwhile; the caller reloads and tries again."""


def ensure_design(admin: Couch) -> None:
    admin.ensure_design(names.CASES, {"_id": DESIGN, "language": "javascript", "views": {"match": {"map": MATCH_MAP}}})


def lookup(admin: Couch, village: str, household_ids: Iterable[str], id_numbers: Iterable[str]) -> matching.Index:
    """An index of every household of ``village`` plus any elsewhere sharing an ID number or alias."""
    view = f"/{admin.physical(names.CASES)}/{DESIGN}/_view/match"
    rows = admin.call(
        "GET",
        view,
        params={"startkey": json.dumps(["village", village]), "endkey": json.dumps(["village", village, {}])},
    )["rows"]
    keys = [["alias", h] for h in set(household_ids)]
    keys += [[kind, n] for n in set(id_numbers) for kind in ("head", "member")]
    if keys:
        rows += admin.call("POST", view, body={"keys": keys})["rows"]
    index = matching.Index()
    for row in rows:
        if row["key"][0] == "alias":
            index.alias(row["key"][1], row["value"])
        else:
            index.put(names.doc_id_suffix(row["id"]), row["value"]["village"], row["value"]["index"])
    return index


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


def resolve_id(admin: Couch, household_id: str) -> str | None:
    """The household an id stands for now: itself, or where an alias or a merge points."""
    for _ in range(10):
        doc = admin.get(names.CASES, households.doc_id(household_id))
        if doc is None:
            view = f"/{admin.physical(names.CASES)}/{DESIGN}/_view/match"
            rows = admin.call("POST", view, body={"keys": [["alias", household_id]]})["rows"]
            if not rows:
                return None
            household_id = rows[0]["value"]
        elif doc.get("merged_into"):
            household_id = doc["merged_into"]
        else:
            return household_id
    return None


def update(admin: Couch, household_ids: list[str], change: Callable[[dict[str, dict]], Any], attempts: int = 5) -> Any:
    """Load records, let ``change`` modify them, save and publish; again from a fresh load on conflict.

    ``change`` must be repeatable (it runs again after a conflict); what it returns is returned.
    """
    for _ in range(attempts):
        records = load(admin, household_ids)
        result = change(records)
        try:
            save(admin, records.values())
        except Conflict:
            continue
        publish(admin, records.values())
        return result
    raise CouchError(409, "conflict", f"households {', '.join(household_ids)} kept changing; try again")


def village_docs(record: Mapping[str, Any]) -> list[dict]:
    """What tablets of the village see: the current record, and a pointer for each alias."""
    survivor = record.get("merged_into")
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
            "tier": None,
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
                "tier": None,
            }
        )
    return docs


def publish(admin: Couch, records: Iterable[Mapping[str, Any]], extra: Mapping[str, list[dict]] | None = None) -> int:
    """Bring the village ``household:`` docs up to date (only those that differ); returns writes.

    ``extra`` holds further docs per village database to write in the same request (reviews).
    Retries on conflict: these docs are derived, so the latest derivation is always right.
    """
    wanted: dict[str, dict[str, dict]] = {}
    for record in records:
        for doc in village_docs(record):
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
