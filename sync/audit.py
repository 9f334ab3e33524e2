"""The audit log: one ``audit:`` document in ``fp_cases`` per action that changed something.

Ids sort by time. A caller that may retry passes ``key`` so that the retry writes the same id and
the log never shows an action twice. A keyed id names the target too: one key reused on another
target is another change and gets its own entry (keyed on the key alone, the second household a
client resolved with the same ``Idempotency-Key`` changed without an audit entry).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sync import names
from sync.clock import utc_now
from sync.couch import Couch, CouchError


def record(
    admin: Couch,
    actor: str,
    action: str,
    target: str,
    *,
    before: Any = None,
    after: Any = None,
    key: str | None = None,
    **extra: Any,
) -> str:
    at = utc_now()
    doc_id = keyed_id(key, target) if key else f"audit:{at}:{uuid.uuid4().hex}"
    doc = {
        "_id": doc_id,
        "type": "audit",
        "actor": actor,
        "action": action,
        "target": target,
        "at": at,
        "ts": time.time(),  # orders entries made within one second
        "before": before,
        "after": after,
        **extra,
    }
    try:
        admin.put(names.CASES, doc)
    except CouchError as exc:
        if exc.status != 409:  # 409: the keyed entry exists already, which is the point of the key
            raise
    return doc_id


def keyed_id(key: str, target: str) -> str:
    return f"audit:{key}:{target}"


def record_many(admin: Couch, entries: list[dict]) -> None:
    """Several keyed entries in one write (a clerk's bulk action); each ``{"key", "actor", "action",
    "target", "before", "after", …}``. An entry whose key exists already is left as it is."""
    at = utc_now()
    docs = [
        {
            "_id": keyed_id(e["key"], e["target"]),
            "type": "audit",
            "at": at,
            "ts": time.time() + n * 1e-6,
            **{k: v for k, v in e.items() if k != "key"},
        }
        for n, e in enumerate(entries)
    ]
    failed = [r for r in admin.bulk_docs(names.CASES, docs) if r.get("error") and r["error"] != "conflict"]
    if failed:
        raise CouchError(500, "write_failed", f"audit writes failed: {failed[:3]}")


def entries_for(admin: Couch, target: str) -> list[dict]:
    found = admin.find(names.CASES, {"type": "audit", "target": target}, limit=10_000)
    return sorted(found, key=lambda d: (d["at"], d.get("ts", 0)))
