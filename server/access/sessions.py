"""Sign-in sessions kept on the server: the cookie carries only a random session id.

A signed cookie alone lived its 12 hours whatever happened: after sign-out, after the password
was changed or the account disabled. Each session is a ``session:<digest of its id>`` doc in
``fp_accounts`` that names the account, the device credential it was opened with (if any) and a
tag of the password hash at sign-in; every request checks all three against the account, so
sign-out (the doc is deleted), a new password, disabling and revoking the device end it at once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

from server.access.accounts import DEVICE_ID, User
from sync import names
from sync.couch import Couch

LIFETIME_S = 12 * 3600


def _doc_id(sid: str) -> str:
    return "session:" + hashlib.sha256(sid.encode("utf-8", "replace")).hexdigest()


def _tag(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def open_session(admin: Couch, user: User, device: str | None = None) -> str:
    """A new session for ``user`` (just authenticated); returns its id for the cookie."""
    account = admin.get(names.ACCOUNTS, f"user:{user.name}") or {}
    sid = secrets.token_urlsafe(32)
    now = time.time()
    admin.put(names.ACCOUNTS, {
        "_id": _doc_id(sid), "type": "session", "user": user.name, "device": device,
        "password_tag": _tag(str(account.get("password_hash", ""))), "created": now, "expires": now + LIFETIME_S,
    })  # fmt: skip
    return sid


def end_session(admin: Couch, sid: str | None) -> None:
    if not sid:
        return
    doc = admin.get(names.ACCOUNTS, _doc_id(sid))
    if doc:
        admin.call("DELETE", f"/{admin.physical(names.ACCOUNTS)}/{doc['_id']}", params={"rev": doc["_rev"]})


def session_user(admin: Couch, sid: str) -> User | None:
    """The account behind a live session, or None when it has ended for any reason."""
    doc_id = _doc_id(sid)
    found = admin.get_many(names.ACCOUNTS, [doc_id])
    session = found.get(doc_id)
    if not session or session.get("expires", 0) < time.time():
        return None
    wanted = [f"user:{session['user']}"]
    device = session.get("device")
    if device and DEVICE_ID.match(device):
        wanted.append(f"device:{session['user']}:{device}")
    docs = admin.get_many(names.ACCOUNTS, wanted)
    account = docs.get(wanted[0])
    if not account or account.get("disabled") or _tag(str(account.get("password_hash", ""))) != session["password_tag"]:
        return None
    if device and (len(wanted) < 2 or not docs.get(wanted[1]) or docs[wanted[1]].get("revoked_at")):
        return None
    return User.from_doc(account)


def still_valid(admin: Couch, sid: str) -> Callable[[], bool]:
    return lambda: session_user(admin, sid) is not None
