"""Disaster events in ``fp_cases`` (``event:<event id>``): opened and closed by an operator or a
township clerk, every change audited. Opening the same event twice (same township, type, start
and villages, still open) is one event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from server.access.accounts import list_villages
from server.casework import events
from server.pipeline import household_store
from sync import audit, names
from sync.clock import utc_now
from sync.couch import Couch

PREFIX = "event:"


def all_events(admin: Couch) -> list[dict]:
    return list(admin.iter_prefix(names.CASES, PREFIX))


def open_event(admin: Couch, township: str, disaster_type: str, start: dt.date, villages: Iterable[str],
               by: str, today: dt.date, name: str = "") -> tuple[dict, bool]:  # fmt: skip
    """(the event, whether it was opened now)."""
    registered = [v.code for v in list_villages(admin)]
    affected = events.checked(township, disaster_type, start, villages, registered, today)
    existing = all_events(admin)
    for doc in existing:
        same = (doc["township"], doc["disaster_type"], doc["start_date"], doc["villages"])
        if doc["status"] == "open" and same == (township, disaster_type, start.isoformat(), affected):
            return doc, False
    event_id = events.new_event_id(township, disaster_type, start, (d["event_id"] for d in existing))
    doc = {
        "_id": PREFIX + event_id,
        "type": "event",
        "event_id": event_id,
        "township": township,
        "disaster_type": disaster_type,
        "start_date": start.isoformat(),
        "villages": affected,
        "name": name,
        "status": "open",
        "opened_by": by,
        "opened_at": utc_now(),
    }
    admin.put(names.CASES, doc)
    household_store.republish_villages(admin, affected)  # the unvisited households become tablet tasks
    audit.record(admin, by, "event.open", doc["_id"], after={k: doc[k] for k in ("disaster_type", "start_date",
                                                                                    "villages", "name")})  # fmt: skip
    return doc, True


def close_event(admin: Couch, event_id: str, by: str) -> tuple[dict, bool]:
    """(the event, whether it was closed now); EventError for an event that does not exist."""
    doc = admin.get(names.CASES, PREFIX + event_id)
    if doc is None:
        raise events.EventError(f"没有这个灾害事件：{event_id}", f"no such disaster event: {event_id}")
    if doc["status"] == "closed":
        return doc, False
    doc.update(status="closed", closed_by=by, closed_at=utc_now())
    admin.put(names.CASES, doc)
    household_store.republish_villages(admin, doc["villages"])  # its survey tasks leave the tablets
    audit.record(admin, by, "event.close", doc["_id"], before={"status": "open"}, after={"status": "closed"})
    return doc, True


def open_in(admin: Couch, villages: Iterable[str]) -> list[tuple[dict, str]]:
    """(event, village) for every open event affecting one of ``villages``, newest first."""
    wanted = set(villages)
    found = [d for d in all_events(admin) if d["status"] == "open"]
    found.sort(key=lambda d: (d["start_date"], d["event_id"]), reverse=True)
    return [(d, v) for d in found for v in d["villages"] if v in wanted]
