"""Who is calling: HTTP Basic (tablets, ODK, scripts) or the session cookie (browsers, PouchDB web).

The authenticated user is put on ``flask.g.user`` by :func:`load_user`; views ask for it with
:func:`require_user`. Failed logins are counted per name, and a name with too many recent
failures is locked for a while whatever password is sent (brute force protection).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from flask import current_app, g, request, session

from .accounts import Authenticator, User
from .errors import ApiError, unauthorized

LOCK_AFTER = 5  # failures
LOCK_WINDOW_S = 15 * 60


class Lockout:
    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def locked(self, name: str) -> bool:
        with self._lock:
            recent = self._prune(name)
            return len(recent) >= LOCK_AFTER

    def fail(self, name: str) -> None:
        with self._lock:
            self._prune(name).append(time.monotonic())

    def succeed(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)

    def _prune(self, name: str) -> deque[float]:
        recent = self._failures[name]
        while recent and recent[0] < time.monotonic() - LOCK_WINDOW_S:
            recent.popleft()
        return recent


def authenticator() -> Authenticator:
    return current_app.extensions["fangpin.auth"]


def lockout() -> Lockout:
    return current_app.extensions["fangpin.lockout"]


def login(name: str, password: str) -> User:
    """Check a name and password; raises ApiError (401 or 429) when refused."""
    if lockout().locked(name):
        raise ApiError(
            429, "locked", "登录失败次数过多，请15分钟后再试", "too many failed logins; try again in 15 minutes"
        )
    user = authenticator().check(name, password)
    if user is None:
        lockout().fail(name)
        raise ApiError(401, "unauthorized", "用户名或密码错误", "name or password is incorrect")
    lockout().succeed(name)
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
