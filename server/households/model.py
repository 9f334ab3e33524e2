"""Household records: versions, merging of concurrent offline surveys, conflict flags.

Pure functions over plain dicts (no I/O), so the rules can be tested exhaustively.

A household record (``household:<id>`` in ``fp_cases``) keeps its version-0 properties (the
roster's, or none for a household first met in the field) and an append-only list of *events*:
one per applied submission revision, clerk resolution or merge. Event ``n`` of a household is its
version ``n``; versions are what tablets quote back as ``household_base_version``.

Why the current properties are a fold over the *set* of events rather than "last arrival wins":
offline tablets deliver in any order, and the record must come out the same whatever the order.
Events are put in a canonical order that respects causality (an event comes after everything its
base version contained, and a device's own submissions keep their device order) with ties broken
by completion time, device and id; the fold applies each event's changed properties in that
order. Conflict flags are a property of the set too: two events conflict when neither saw the
other (neither is in the other's base, and they come from different devices) and both changed
something; the conflict is hard when they changed the same property to different values. A
clerk's resolution or merge settles every conflict between events it saw.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from sync.names import doc_id_suffix

# Envelope answers describe the visit, not the household; photos stay attached to the submission.
NOT_PROPERTIES = frozenset(
    {"village_code", "household_id", "surveyor", "survey_date", "consent", "photos", "meta",
     # the form's own bookkeeping (release 2026120105): what the prefill came from, a masked echo, a photo's name
     "household_base_version", "known_phone", "consent_photo"}
)  # fmt: skip
ALL = float("inf")


def doc_id(household_id: str) -> str:
    return f"household:{household_id}"


# -- what a submission says about its household ---------------------------------------------
def submitted_properties(data: Mapping[str, Any], issues: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The household properties a submission answers, leaving out answers that failed validation.

    An invalid value never enters the household record (it stays in the submission, flagged);
    the rest of the survey does, so one bad phone number does not hold back a damage report.
    """
    bad = {_top(i.get("path")) for i in issues if i.get("severity") == "error"}
    return {k: v for k, v in data.items() if k not in NOT_PROPERTIES and k not in bad and v is not None}


def _top(path: Any) -> str:
    return re.split(r"[\[/]", path, maxsplit=1)[0] if isinstance(path, str) else ""


def normalize_name(name: Any) -> str:
    """Names as typed on tablets: full-width forms, spaces and middle dots vary; the name does not."""
    if not isinstance(name, str):
        return ""
    text = unicodedata.normalize("NFKC", name)
    return re.sub(r"[\s·•・.\-]", "", text).lower()


def member_ids(properties: Mapping[str, Any]) -> list[str]:
    members = properties.get("members")
    ids = {m.get("id_number") for m in members if isinstance(m, dict)} if isinstance(members, list) else set()
    return sorted(i for i in ids if isinstance(i, str) and i)


def index_entry(properties: Mapping[str, Any]) -> dict[str, Any]:
    """What household matching looks up (kept on the record, emitted by a CouchDB view)."""
    head = properties.get("head_id_number")
    return {
        "head_id": head if isinstance(head, str) and head else None,
        "name_key": normalize_name(properties.get("head_name")) or None,
        "member_ids": member_ids(properties),
    }


# -- records -------------------------------------------------------------------------------
def new_record(household_id: str, village: str, properties: Mapping[str, Any] | None, source: str, at: str) -> dict:
    """A household at version 0: the roster's properties, or none for one first met in the field."""
    base = dict(properties or {})
    record: dict[str, Any] = {
        "_id": doc_id(household_id),
        "type": "household",
        "household_id": household_id,
        "village_code": village,
        "source": source,
        "created_at": at,
        "bases": {household_id: base},
        "events": [],
        "aliases": [],
        "duplicates": [],
        "merged_into": None,
    }
    return refresh(record)


def current_version(record: Mapping[str, Any], household_id: str | None = None) -> int:
    """Version of ``household_id``'s own numbering (the record's own id by default)."""
    origin = household_id or record["household_id"]
    return max((e["version"] for e in record["events"] if e["origin"] == origin), default=0)


def has_applied(record: Mapping[str, Any], event_id: str) -> bool:
    return any(e["id"] == event_id for e in record["events"])


def submission_event_id(submission: Mapping[str, Any]) -> str:
    return f"{doc_id_suffix(submission['_id'])}@{submission['_rev']}"


def apply_submission(
    record: dict, submission: Mapping[str, Any], submitted: Mapping[str, Any], received_at: str
) -> dict | None:
    """Append the event for one submission revision; None if that revision was already applied.

    The base the tablet quotes is looked up in the numbering of the household id it used (an
    alias or a merged household keeps its own), so "what changed" is measured against exactly
    what the device saw. A base ahead of the server (impossible unless a device is confused) is
    taken as the current version and noted on the event.
    """
    event_id = submission_event_id(submission)
    if has_applied(record, event_id):
        return None
    base_household = submission.get("household_id")
    if not isinstance(base_household, str) or base_household not in record["bases"]:
        base_household = record["household_id"]
    quoted = submission.get("household_base_version")
    latest = current_version(record, base_household)
    base_version = quoted if isinstance(quoted, int) and not isinstance(quoted, bool) and quoted >= 0 else 0
    clamped = base_version > latest
    base_version = min(base_version, latest)
    seen = snapshot(record, base_household, base_version)
    submitted = with_known_member_ids(submitted, seen)
    changed = {k: v for k, v in submitted.items() if seen.get(k) != v}
    event = {
        "id": event_id,
        "kind": "submission",
        "origin": record["household_id"],
        "version": current_version(record) + 1,
        "submission_id": submission["_id"],
        "submission_rev": submission["_rev"],
        "form_id": submission.get("form_id"),
        "base_household": base_household,
        "base_version": base_version,
        "base_ahead": clamped or None,
        "by": submission.get("submitted_by"),
        "device_id": submission.get("device_id"),
        "device_seq": _int(submission.get("device_seq")),
        "completed_at": submission.get("completed_at"),
        "received_at": received_at,
        "changed": changed,
        "previous": {k: seen.get(k) for k in changed},
        # the disaster event a damage survey answers (per-event coverage and roll-up read it)
        "disaster_event_id": submitted.get("event_id") if submission.get("form_id") == "damage_survey" else None,
    }
    stored = {k: v for k, v in event.items() if v is not None}
    record["events"].append(stored)
    refresh(record)
    return stored


def with_known_member_ids(submitted: Mapping[str, Any], seen: Mapping[str, Any]) -> Mapping[str, Any]:
    """A member the worker confirmed from the record (release 2026120105 does not ask a known
    member's ID number again: ID numbers never go to a device) keeps the ID the record has for
    them: the one member of the same name (and birth date, when both have one) with an ID."""
    members, known = submitted.get("members"), seen.get("members")
    if not isinstance(members, list) or not isinstance(known, list):
        return submitted
    on_record = [k for k in known if isinstance(k, dict) and k.get("id_number")]
    filled = []
    for member in members:
        if isinstance(member, dict) and not member.get("id_number"):
            same = [
                k for k in on_record
                if normalize_name(k.get("name")) == normalize_name(member.get("name")) != ""
                and (not k.get("birth_date") or not member.get("birth_date") or k["birth_date"] == member["birth_date"])
            ]  # fmt: skip
            if len(same) == 1:
                member = {**member, "id_number": same[0]["id_number"]}
        filled.append(member)
    return {**submitted, "members": filled}


def resolve(record: dict, values: Mapping[str, Any], by: str, at: str, event_id: str) -> dict:
    """A clerk settles the conflicts it sees, optionally choosing values; later surveys win again."""
    return _clerk_event(record, "resolution", values, by, at, event_id)


def merge(survivor: dict, other: dict, by: str, at: str, event_id: str, values: Mapping[str, Any] = ()) -> dict:
    """Fold ``other`` into ``survivor``; both histories are kept (``other``'s events are copied)."""
    if other["household_id"] == survivor["household_id"] or other["household_id"] in survivor["bases"]:
        raise ValueError("a household cannot be merged into itself")
    known = {e["id"] for e in survivor["events"]}
    survivor["events"].extend(e for e in other["events"] if e["id"] not in known)
    survivor["bases"].update(other["bases"])
    survivor["aliases"] = sorted({*survivor["aliases"], other["household_id"], *other.get("aliases", [])})
    survivor["duplicates"] = [d for d in survivor["duplicates"] if d["id"] != other["household_id"]]
    for dup in other.get("duplicates", []):
        if dup["id"] != survivor["household_id"] and all(d["id"] != dup["id"] for d in survivor["duplicates"]):
            survivor["duplicates"].append(dup)
    event = _clerk_event(survivor, "merge", values, by, at, event_id, merged=other["household_id"])
    other["merged_into"] = survivor["household_id"]
    other["duplicates"] = []
    refresh(other)
    return event


def roster_update(record: dict, roster: Mapping[str, Any], by: str, at: str, event_id: str) -> dict | None:
    """A re-imported roster's changes as one more version; None when it changes nothing.

    Members are matched by ID number (then name): the roster updates the fields it has and adds
    people it lists, but never removes a member or blanks a field the surveys filled.
    """
    if has_applied(record, event_id):
        return None
    current = record["properties"]
    values = {k: v for k, v in roster.items() if k != "members" and v not in (None, "") and current.get(k) != v}
    if isinstance(roster.get("members"), list):
        merged = _merge_members(current.get("members") if isinstance(current.get("members"), list) else [],
                                roster["members"])  # fmt: skip
        if merged != current.get("members"):
            values["members"] = merged
    if not values:
        return None
    return _clerk_event(record, "roster", values, by, at, event_id)


def _merge_members(current: list, listed: list) -> list:
    out = [dict(m) if isinstance(m, dict) else m for m in current]
    for person in listed:
        key = person.get("id_number") or None
        match = next(
            (m for m in out if isinstance(m, dict) and ((key and m.get("id_number") == key) or
             (not key and m.get("name") == person.get("name")))),
            None,
        )  # fmt: skip
        if match is None:
            out.append(dict(person))
        else:
            match.update({k: v for k, v in person.items() if v not in (None, "")})
    return out


def _clerk_event(
    record: dict, kind: str, values: Mapping[str, Any], by: str, at: str, event_id: str, **extra: Any
) -> dict:
    origin = record["household_id"]
    version = current_version(record)
    seen = snapshot(record, origin, version)
    values = dict(values)
    event = {
        "id": event_id,
        "kind": kind,
        "origin": origin,
        "version": version + 1,
        "base_household": origin,
        "base_version": version,
        "by": by,
        "completed_at": at,
        "received_at": at,
        "changed": values,
        "previous": {k: seen.get(k) for k in values},
        **extra,
    }
    record["events"].append(event)
    refresh(record)
    return event


def add_duplicate(record: dict, other: str, reason: str) -> bool:
    """Note a possible duplicate once (a dismissed pair stays dismissed); True if it is new."""
    if other == record["household_id"] or other in record.get("aliases", []):
        return False
    if any(d["id"] == other for d in record["duplicates"]):
        return False
    record["duplicates"].append({"id": other, "reason": reason, "status": "open"})
    return True


def dismiss_duplicate(record: dict, other: str, by: str, at: str) -> bool:
    for dup in record["duplicates"]:
        if dup["id"] == other and dup["status"] == "open":
            dup.update(status="dismissed", by=by, at=at)
            return True
    return False


# -- the fold --------------------------------------------------------------------------------
def refresh(record: dict) -> dict:
    """Recompute everything derived from the events: version, properties, conflicts, index."""
    events = record["events"]
    active = active_events(events, record.get("rejected"))
    properties = dict(record["bases"].get(record["household_id"], {}))
    for event in canonical_order(active, events):
        properties.update(event.get("changed", {}))
    found = conflicts(active, events)
    hard = sorted({p for c in found if c["kind"] == "hard" for p in c["properties"]})
    record["version"] = current_version(record)
    record["properties"] = properties
    record["conflicts"] = found
    record["conflict"] = "hard" if hard else ("soft" if found else None)
    record["conflicting_properties"] = hard
    record["index"] = index_entry(properties) if not record.get("merged_into") else None
    return record


def snapshot(record: Mapping[str, Any], household: str, version: int | float) -> dict:
    """The properties ``household`` had at ``version``: what a tablet that pulled it saw."""
    events = record["events"]
    seen = included(events, household, version)
    within = [e for e in events if e["id"] in seen]
    properties = dict(record["bases"].get(household, {}))
    for event in canonical_order(active_events(within, record.get("rejected")), events):
        properties.update(event.get("changed", {}))
    return properties


def included(events: list[dict], household: str, version: int | float) -> set[str]:
    """Ids of the events contained in ``household``'s version ``version`` (merges bring all of theirs)."""
    ids: set[str] = set()
    for event in events:
        if event["origin"] == household and event["version"] <= version:
            ids.add(event["id"])
            if event["kind"] == "merge":
                ids |= included(events, event["merged"], ALL)
    return ids


def active_events(events: list[dict], rejected: Mapping[str, str] | None = None) -> list[dict]:
    """Every clerk event, and one revision per submission: the latest completed (CouchDB's rule here),
    unless a clerk rejected that very revision (``rejected``: submission id -> rev), when the
    submission contributes nothing until the device sends a correction."""
    best: dict[str, dict] = {}
    others = []
    for event in events:
        if event["kind"] != "submission":
            others.append(event)
            continue
        current = best.get(event["submission_id"])
        if current is None or _revision_key(event) > _revision_key(current):
            best[event["submission_id"]] = event
    rejected = rejected or {}
    return others + [e for e in best.values() if rejected.get(e["submission_id"]) != e["submission_rev"]]


def _revision_key(event: Mapping[str, Any]) -> tuple:
    rev = event.get("submission_rev") or "0-"
    generation = rev.split("-", 1)[0]
    return (str(event.get("completed_at") or ""), int(generation) if generation.isdigit() else 0, rev)


def _order_key(event: Mapping[str, Any]) -> tuple:
    return (
        str(event.get("completed_at") or ""),
        str(event.get("device_id") or ""),
        event.get("device_seq") if isinstance(event.get("device_seq"), int) else -1,
        event["id"],
    )


class _Causality:
    """Which event saw which: base containment and a device's own order. Memoised per fold."""

    def __init__(self, events: list[dict]) -> None:
        self.events = events
        self._bases: dict[tuple[str, Any, Any], set[str]] = {}

    def saw(self, later: Mapping[str, Any], earlier: Mapping[str, Any]) -> bool:
        key = (later["base_household"], later["base_version"], later.get("merged"))
        if key not in self._bases:
            seen = included(self.events, later["base_household"], later["base_version"])
            if later.get("merged"):  # a merge saw everything of the household it took in
                seen |= included(self.events, later["merged"], ALL)
            self._bases[key] = seen
        if earlier["id"] in self._bases[key]:
            return True
        device = later.get("device_id")
        if device and device == earlier.get("device_id") and later["kind"] == earlier["kind"] == "submission":
            return _device_key(earlier) < _device_key(later)
        return False


def _device_key(event: Mapping[str, Any]) -> tuple:
    seq = event.get("device_seq")
    return (seq if isinstance(seq, int) else -1, str(event.get("completed_at") or ""), event["id"])


def canonical_order(active: list[dict], all_events: list[dict]) -> list[dict]:
    """Topological order of "saw" with ties by completion time, device, sequence and id.

    A cycle (only possible with a device whose sequence restarted) is broken at its earliest
    event by the same key, so the order stays a function of the set of events.
    """
    causality = _Causality(all_events)
    after: dict[str, list[str]] = {e["id"]: [] for e in active}
    indegree = dict.fromkeys(after, 0)
    for a in active:
        for b in active:
            if a is not b and causality.saw(b, a):
                after[a["id"]].append(b["id"])
                indegree[b["id"]] += 1
    by_id = {e["id"]: e for e in active}
    ready = [(_order_key(e), e["id"]) for e in active if indegree[e["id"]] == 0]
    heapq.heapify(ready)
    order: list[dict] = []
    done: set[str] = set()
    while len(order) < len(active):
        if not ready:  # a cycle: take the smallest remaining event
            _, stuck = min((_order_key(e), e["id"]) for e in active if e["id"] not in done)
            ready = [(_order_key(by_id[stuck]), stuck)]
        _, event_id = heapq.heappop(ready)
        if event_id in done:
            continue
        done.add(event_id)
        order.append(by_id[event_id])
        for nxt in after[event_id]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0 and nxt not in done:
                heapq.heappush(ready, (_order_key(by_id[nxt]), nxt))
    return order


def conflicts(active: list[dict], all_events: list[dict]) -> list[dict]:
    """Pairs of concurrent events that both changed something and no clerk event has settled."""
    causality = _Causality(all_events)
    settlers = [e for e in active if e["kind"] in ("resolution", "merge")]
    ordered = sorted(active, key=lambda e: e["id"])
    found = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if not a.get("changed") or not b.get("changed"):
                continue
            if causality.saw(a, b) or causality.saw(b, a):
                continue
            if any(causality.saw(s, a) and causality.saw(s, b) for s in settlers):
                continue
            clash = sorted(k for k in a["changed"].keys() & b["changed"].keys() if a["changed"][k] != b["changed"][k])
            found.append({"events": [a["id"], b["id"]], "kind": "hard" if clash else "soft", "properties": clash})
    return found


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- what the tier engine needs to know about a record ------------------------------------------
def has_damage_survey(record: Mapping[str, Any]) -> bool:
    return any(e.get("form_id") == "damage_survey" for e in active_events(record["events"], record.get("rejected")))


def contributing_submissions(record: Mapping[str, Any]) -> dict[str, str]:
    """Submission id -> the revision that feeds the record now."""
    return {
        e["submission_id"]: e["submission_rev"]
        for e in active_events(record["events"], record.get("rejected"))
        if e["kind"] == "submission"
    }


def record_decision(record: dict, submission_id: str, rev: str, decision: str | None) -> bool:
    """Note a clerk's decision on one submission revision (approve, reject, or None after an undo).

    Kept on the record rather than on its events, so a decision made before the worker applied
    that revision still counts when it does. True if anything changed (then the record is refreshed).
    """
    approved, rejected = record.setdefault("approved", {}), record.setdefault("rejected", {})
    before = (approved.get(submission_id), rejected.get(submission_id))
    for table, kind in ((approved, "approve"), (rejected, "reject")):
        if decision == kind:
            table[submission_id] = rev
        elif table.get(submission_id) == rev:
            del table[submission_id]
    if before == (approved.get(submission_id), rejected.get(submission_id)):
        return False
    refresh(record)
    return True


def all_approved(record: Mapping[str, Any]) -> bool:
    """Every contributing revision approved by a clerk (``approved``: submission id -> rev)."""
    approved = record.get("approved", {})
    return all(approved.get(sub) == rev for sub, rev in contributing_submissions(record).items())


def facts_day(record: Mapping[str, Any]) -> str | None:
    """The local day of the latest survey feeding the record: the day its facts describe."""
    days = [
        str(e.get("completed_at"))[:10]
        for e in active_events(record["events"], record.get("rejected"))
        if e["kind"] == "submission"
    ]
    return max((d for d in days if len(d) == 10), default=None)
