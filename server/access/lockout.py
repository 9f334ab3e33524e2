"""Brute-force protection shared by every web process and host: failed password checks are counted
in ``fp_accounts``, per name and per client address.

An attempt is *reserved* before its slow scrypt check, with CouchDB's revision check making the
reservation atomic: of forty simultaneous guesses at one name only the first few get to be checked
(counting afterwards, per process, let all forty through). A success clears the name's count and
its own reservation of the address; a failure stays counted for the window. Device credentials
never come here: they cannot be guessed, and locking them let anyone freeze an enrolled tablet.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass

from server.refusals import BilingualError
from sync import names
from sync.couch import Couch, CouchError

NAME_LIMIT = 5  # failures per name in the window
ADDRESS_LIMIT = 30  # per client address, whatever names it tries
WINDOW_S = 15 * 60


class Locked(BilingualError):
    """Too many recent failures for this name or address."""


@dataclass(frozen=True)
class Attempt:
    id: str
    keys: tuple[str, ...]


def key(kind: str, value: str) -> str:
    """The counter's doc id; hashed so that no name or address is stored as typed."""
    return f"lockout:{kind}:{hashlib.sha256(value.encode('utf-8', 'replace')).hexdigest()[:32]}"


class Lockout:
    def __init__(self, admin: Couch, name_limit: int = NAME_LIMIT, address_limit: int = ADDRESS_LIMIT) -> None:
        self.admin = admin
        self.limits = {"name": name_limit, "address": address_limit}

    def reserve(self, name: str, address: str) -> Attempt:
        """Count one attempt for the name and the address before it is checked; Locked when either
        has had too many."""
        attempt = uuid.uuid4().hex
        done: list[str] = []
        for kind, value in (("address", address), ("name", name)):
            doc_id = key(kind, value)
            try:
                self._add(doc_id, attempt, self.limits[kind])
            except Locked:
                for other in done:
                    self._remove(other, attempt)
                raise
            done.append(doc_id)
        return Attempt(attempt, tuple(done))

    def succeeded(self, attempt: Attempt, name: str) -> None:
        """A right password: the name starts afresh; the address keeps its other attempts."""
        for doc_id in attempt.keys:
            self._remove(doc_id, None if doc_id == key("name", name) else attempt.id)

    def _add(self, doc_id: str, attempt: str, limit: int) -> None:
        for _ in range(50):  # simultaneous attempts collide on the revision: read again and retry
            now = time.time()
            doc = self.admin.get(names.ACCOUNTS, doc_id) or {"_id": doc_id, "type": "lockout"}
            recent = _recent(doc, now)
            if len(recent) >= limit:
                raise Locked("登录失败次数过多，请15分钟后再试", "too many failed logins; try again in 15 minutes")
            try:
                self.admin.put(names.ACCOUNTS, {**doc, "attempts": [*recent, {"id": attempt, "at": now}]})
                return
            except CouchError as exc:
                if exc.status != 409:
                    raise
        raise Locked("登录请求过多，请稍后再试", "too many logins at once; try again shortly")

    def _remove(self, doc_id: str, attempt: str | None) -> None:
        for _ in range(50):
            doc = self.admin.get(names.ACCOUNTS, doc_id)
            if not doc:
                return
            kept = [a for a in _recent(doc, time.time()) if attempt is not None and a["id"] != attempt]
            if kept == doc.get("attempts"):
                return
            try:
                self.admin.put(names.ACCOUNTS, {**doc, "attempts": kept})
                return
            except CouchError as exc:
                if exc.status != 409:
                    raise


def _recent(doc: dict, now: float) -> list[dict]:
    return [a for a in doc.get("attempts", []) if isinstance(a, dict) and a.get("at", 0) > now - WINDOW_S]
