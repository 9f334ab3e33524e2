"""The audit log: one ``audit:`` document in ``fp_cases`` per action that changed something.

Ids sort by time. A caller that may retry passes ``key`` so that the retry writes the same id and
the log never shows an action twice.
"""

from __future__ import annotations

import uuid
from typing import Any

from . import names
from .clock import utc_now
from .couch import Couch, CouchError


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
    doc_id = f"audit:{key}" if key else f"audit:{at}:{uuid.uuid4().hex}"
    doc = {
        "_id": doc_id,
        "type": "audit",
        "actor": actor,
        "action": action,
        "target": target,
        "at": at,
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


def entries_for(admin: Couch, target: str) -> list[dict]:
    return sorted(admin.find(names.CASES, {"type": "audit", "target": target}, limit=10_000), key=lambda d: d["at"])
