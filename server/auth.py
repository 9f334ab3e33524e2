"""Who is calling: HTTP Basic (tablets, ODK, scripts) or the session cookie (browsers, PouchDB web).

The authenticated user is put on ``flask.g.user`` by :func:`load_user`; views ask for it with
:func:`require_user`. Failed password checks are counted per name and per client address in
CouchDB (:mod:`server.lockout`), so the lock-out holds across processes and hosts.
"""

from __future__ import annotations

from flask import current_app, g, request, session

from .accounts import Authenticator, Busy, User
from .errors import ApiError, unauthorized
from .lockout import Locked


def authenticator() -> Authenticator:
    return current_app.extensions["fangpin.auth"]


def login(name: str, password: str) -> User:
    """Check a name and password; raises ApiError (401, 429 or 503) when refused."""
    try:
        user = authenticator().check(name, password, request.remote_addr or "")
    except Locked as exc:
        raise ApiError(429, "locked", exc.zh, exc.en) from None
    except Busy as exc:
        raise ApiError(503, "busy", exc.zh, exc.en) from None
    if user is None:
        raise ApiError(401, "unauthorized", "用户名或密码错误", "name or password is incorrect")
    return user


def load_user() -> None:
    """Before each request: authenticate from Basic credentials or the session cookie."""
    g.user = None
    g.auth_via = None
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        g.user = login(auth.username or "", auth.password or "")
        g.auth_via = "basic"
        return
    name = session.get("user")
    if name:
        g.user = authenticator().lookup(name)
        device = session.get("device")
        if g.user is not None and device and not authenticator().device_live(name, device):
            g.user = None  # the tablet this session was opened with has been revoked
        g.auth_via = "session" if g.user else None


def require_user() -> User:
    if g.get("user") is None:
        raise unauthorized()
    return g.user
