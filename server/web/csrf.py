"""CSRF protection for the clerk app: a per-session token in every form and in the header of
every script request; a state-changing request without the right token is refused (403).

SameSite=Lax cookies already stop most cross-site posts; the token also covers old browsers and
same-site subdomains. The login form carries a token too (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets

from flask import abort, request, session

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"


def token() -> str:
    if not session.get(FIELD):
        session[FIELD] = secrets.token_urlsafe(32)
    return session[FIELD]


def protect() -> None:
    """Before every request of the clerk blueprint."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get(HEADER) or request.form.get(FIELD) or ""
    expected = session.get(FIELD) or ""
    if not expected or not hmac.compare_digest(sent, expected):
        abort(403, description="csrf")
