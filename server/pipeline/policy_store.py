"""Which policy is in force: ``policy:active`` in ``fp_cases`` (else the shipped default).

Switching is an operator's act (``fangpin policy activate FILE --reason …``): the new policy's
full text is stored with who, when and why, the old one is kept as ``policy:<version>``, every
household's tier is recomputed with that cause, and the switch is audited.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from server.casework.policy import Policy, default, parse
from server.casework.tiers import retier
from server.pipeline import household_store
from sync import audit, names
from sync.clock import utc_now
from sync.couch import Couch

ACTIVE = "policy:active"


def active(admin: Couch) -> Policy:
    doc = admin.get(names.CASES, ACTIVE)
    return parse(doc["text"], f"{ACTIVE} ({doc['version']})") if doc else default()


def activate(admin: Couch, policy: Policy, by: str, reason: str) -> dict:
    """Put ``policy`` in force; returns the stored doc. Recomputing the tiers is the caller's next step."""
    current = admin.get(names.CASES, ACTIVE)
    previous = current["version"] if current else default().version
    doc = {
        "_id": ACTIVE,
        "type": "policy",
        "name": policy.name,
        "version": policy.version,
        "text": policy.text,
        "activated_at": utc_now(),
        "by": by,
        "reason": reason,
        "previous": previous,
    }
    if current:
        doc["_rev"] = current["_rev"]
    admin.put(names.CASES, doc)
    archived = admin.get(names.CASES, f"policy:{policy.version}")
    if archived is None:
        admin.put(names.CASES, {**{k: v for k, v in doc.items() if k != "_rev"}, "_id": f"policy:{policy.version}"})
    audit.record(
        admin,
        by,
        "policy.activate",
        ACTIVE,
        before={"version": previous},
        after={"version": policy.version, "reason": reason},
    )
    return doc


@dataclass
class PolicyCache:
    """The policy in force, re-read at most every ``ttl_s`` seconds (workers and web processes)."""

    admin: Couch
    ttl_s: float = 30.0
    _policy: Policy | None = None
    _at: float = field(default=0.0)

    def get(self) -> Policy:
        if self._policy is None or time.monotonic() - self._at > self.ttl_s:
            self._policy, self._at = active(self.admin), time.monotonic()
        return self._policy


def recompute_all(
    admin: Couch, policy: Policy, cause: dict, today: dt.date, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Recompute every household's tier under ``policy``; write the records whose tier changed.

    A page whose write collides with the worker or a clerk is read again and redone, so nothing
    is overwritten; ``progress`` is called with the number of records seen so far.
    """
    counts = {"households": 0, "changed": 0}
    at = utc_now()
    page: list[str] = []

    def flush() -> None:
        def change(records: dict[str, dict]) -> int:
            moved = 0
            for record in records.values():
                before = (record.get("tier") or {}).get("tier")
                if not record.get("merged_into") and retier(record, policy, today, at, cause):
                    moved += before != record["tier"]["tier"]
            return moved

        if page:
            counts["changed"] += household_store.update(admin, list(page), change, only_changed=True)
            page.clear()

    for row in admin.all_docs(names.CASES, "household:", "household:\ufff0", include_docs=False):
        page.append(names.doc_id_suffix(row["id"]))
        counts["households"] += 1
        if len(page) == 500:
            flush()
            if progress:
                progress(counts["households"])
    flush()
    if progress:
        progress(counts["households"])
    return counts


def diff(admin: Couch, old: Policy, new: Policy, today: dt.date) -> tuple[dict[str, dict[str, int]], list[dict]]:
    """What switching would do to today's data: per village {"households", "changed", "reasons",
    "<old>→<new>": n} (``changed``: the tier moves; ``reasons``: same tier, other rules), and one
    row per household that moves either way (id, village, tiers and rule ids before and after)."""
    out: dict[str, dict[str, int]] = {}
    moves: list[dict] = []
    for record in admin.iter_prefix(names.CASES, "household:", page=500):
        if record.get("merged_into"):
            continue
        row = out.setdefault(record["village_code"], {"households": 0, "changed": 0, "reasons": 0})
        row["households"] += 1
        before, after = (verdict_of(record, p, today) for p in (old, new))
        if before == after:
            continue
        if before[0] != after[0]:
            row["changed"] += 1
            key = f"{before[0] or 'none'}→{after[0] or 'none'}"
            row[key] = row.get(key, 0) + 1
        else:
            row["reasons"] += 1
        moves.append({"household": record["household_id"], "village": record["village_code"], "before": before[0],
                      "after": after[0], "rules_before": before[1], "rules_after": after[1]})  # fmt: skip
    moves.sort(key=lambda m: m["household"])
    return out, moves


def verdict_of(record: dict, policy: Policy, today: dt.date) -> tuple[str | None, list[str]]:
    """The tier and the ids of its rules that ``policy`` gives the record (nothing written)."""
    copy = {**record, "tier": None, "tier_history": []}
    retier(copy, policy, today, "", {})
    tier = copy.get("tier") or {}
    return tier.get("tier"), [r["id"] for r in tier.get("rules", [])]
