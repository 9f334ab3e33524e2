"""Who is calling: HTTP Basic (tablets, ODK, scripts) or the session cookie (browsers, PouchDB web).

The authenticated user is put on ``flask.g.user`` by :func:`load_user`; views ask for it with
:func:`require_user`. Failed password checks are counted per name and per client address in
CouchDB (:mod:`server.access.lockout`), so the lock-out holds across processes and hosts.
"""

from __future__ import annotations

from flask import current_app, g, request, session

from server.access import sessions
from server.access.accounts import Authenticator, Busy, User
from server.access.lockout import Locked
from server.web.errors import ApiError, forbidden, unauthorized


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
    """Before each request: authenticate from Basic credentials or the session cookie.

    ``g.still_allowed`` re-checks the caller later in a long request (a long-poll must not deliver
    a change to a device revoked, or a session ended, while it waited)."""
    g.user = None
    g.auth_via = None
    g.still_allowed = lambda: False
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        name, password = auth.username or "", auth.password or ""
        g.user = login(name, password)
        g.auth_via = "basic"
        g.still_allowed = lambda: authenticator().still_valid(name, password)
        return
    sid = session.get("sid")
    if isinstance(sid, str) and sid:
        admin = authenticator().admin
        g.user = sessions.session_user(admin, sid)
        g.auth_via = "session" if g.user else None
        g.still_allowed = sessions.still_valid(admin, sid)


def start_session(user: User, device: str | None = None) -> None:
    """Sign ``user`` in on this browser: a fresh cookie (and CSRF token) naming a new server session."""
    sessions.end_session(authenticator().admin, session.get("sid"))
    session.clear()
    session["sid"] = sessions.open_session(authenticator().admin, user, device)
    session.permanent = True


def end_session() -> None:
    sessions.end_session(authenticator().admin, session.get("sid"))
    session.clear()


def require_user() -> User:
    if g.get("user") is None:
        raise unauthorized()
    return g.user


def require_record_reader() -> User:
    """A caller of the submission and household endpoints: a grid worker (their own), a township
    clerk, an admin. A village committee or the county works in the identification screens, which
    show what their steps need; the records themselves (ID numbers, health) are not theirs to read."""
    user = require_user()
    if user.role in ("village", "county"):
        raise forbidden(
            "村两委和县级账号请在监测识别页面办理，不能读取调查和户记录",
            "village and county accounts work in the identification screens, not with survey or household records",
        )
    return user
