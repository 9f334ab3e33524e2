"""The Flask application factory."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, g, redirect, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from server.access.accounts import Authenticator
from server.access.lockout import Lockout
from server.pipeline.policy_store import PolicyCache
from server.pipeline.readmodel import ReadModel
from server.web import api, clerk, fieldapp, gateway, household_api, identification_api, openrosa
from server.web.auth import load_user
from server.web.errors import ApiError, error_response, storage_failure
from server.web.json_input import StoredJSONProvider
from server.web.shared_reads import SharedReads
from sync.couch import CouchError
from sync.embedded import Connection, attach
from sync.form_catalog import FormCatalog
from sync.settings import Settings
from sync.watch import FeedWatch

MAX_BODY = 64 * 1024 * 1024  # a push batch with inline photos; larger bodies get 413

HTTP_ERRORS = {
    404: ("没有这个地址", "no such address"),
    405: ("不支持这个请求方法", "method not allowed here"),
    413: ("请求体过大（上限64 MB），请分批上传", "request body too large (64 MB limit); send smaller batches"),
}


# Pages may load only the app's own script, styles and images (QR codes are data: PNGs); anything
# else a browser receives from this origin (JSON, files, every /sync answer, whatever its type) is
# sandboxed, so no stored content can ever run as the app.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SANDBOX_CSP = "default-src 'none'; sandbox"


class SessionCookies(SecureCookieSessionInterface):
    """The session cookie is ``Secure`` whenever the request came over HTTPS (directly or, with
    ``FANGPIN_PROXIES``, at the proxy), so it is never sent back in clear."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def protect(resp: Response, gateway: bool) -> Response:
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    if resp.mimetype == "text/html" and not gateway:
        resp.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        resp.headers.setdefault("X-Frame-Options", "DENY")
    elif resp.mimetype != "application/pdf" or gateway:  # Chromium shows no PDF in a sandbox
        resp.headers.setdefault("Content-Security-Policy", SANDBOX_CSP)
    return resp


def create_app(settings: Settings | None = None, conn: Connection | None = None) -> Flask:
    settings = settings or Settings.from_env()
    conn = conn or attach(settings)
    app = Flask(__name__)
    # A doubled slash is not redirected to a "merged" path (/sync//../x went to /sync/../x): the
    # gateway refuses the empty segment, every other route answers 404.
    app.url_map.merge_slashes = False
    app.json = StoredJSONProvider(app)
    app.session_interface = SessionCookies()
    if settings.proxies:  # behind TLS at a proxy: its X-Forwarded-Proto makes the cookie Secure
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxies, x_proto=settings.proxies)  # type: ignore[method-assign]
    app.secret_key = settings.secrets()["session_key"]
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY,
        MAX_DOC_BYTES=settings.max_doc_bytes,
        SESSION_COOKIE_NAME="fangpin_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        JSON_AS_ASCII=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["fangpin.settings"] = settings
    app.extensions["fangpin.couch"] = conn
    app.extensions["fangpin.auth"] = Authenticator(conn.admin, lockout=Lockout(conn.admin))
    app.extensions["fangpin.feed_watch"] = FeedWatch(conn.gateway)
    app.extensions["fangpin.shared_reads"] = SharedReads()
    app.extensions["fangpin.health"] = {}
    app.extensions["fangpin.policies"] = PolicyCache(conn.admin)
    app.extensions["fangpin.readmodel"] = ReadModel(conn.admin)
    app.extensions["fangpin.forms"] = FormCatalog(conn.admin)

    app.before_request(load_user)
    app.register_blueprint(gateway.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(household_api.bp)
    app.register_blueprint(household_api.summary_bp)
    app.register_blueprint(identification_api.bp)
    app.register_blueprint(clerk.bp)
    app.register_blueprint(openrosa.bp)
    app.register_blueprint(fieldapp.bp)
    app.add_url_rule("/", "root", lambda: redirect("/clerk/"))

    @app.after_request
    def _headers(resp):
        return protect(resp, gateway=request.blueprint == "gateway")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if exc.response is not None:  # abort() with a ready response (a redirect)
            return exc.response
        zh, en = HTTP_ERRORS.get(exc.code or 500, ("请求出错", exc.description or "request failed"))
        return error_response(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), zh, en)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, ApiError):
            return exc.response()
        if isinstance(exc, CouchError) and exc.status >= 500:  # e.g. CouchDB's disk is full
            app.logger.warning("CouchDB failed %s %s: %s %.200s", request.method, request.path, exc.status, exc.reason)
            reading = request.method in ("GET", "HEAD") or g.get("reading", False)
            return storage_failure(exc.disk_full, reading).response()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "服务器内部错误，已记录", "internal server error (logged)")

    return app
