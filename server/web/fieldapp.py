"""The grid workers' field app at ``/app/``: the progressive web app built from ``fieldapp/`` by Vite.

Flask only serves the built files; everything the app does afterwards goes through the same doors
as any tablet (``/sync`` for replication, ``/api/v1`` for enrolment and telemetry, ``/forms/<id>/media``
for the per-user lists). The service worker and the page are never cached by the browser's HTTP
cache (a new build must reach tablets at their next online start: the worker's precache is what
keeps the app offline); the hashed assets are immutable.

The app's page gets its own CSP: ODK Web Forms compiles its XPath parser from WebAssembly and
injects its styles at run time, so ``'wasm-unsafe-eval'`` and inline *styles* are allowed here, and
its image resizer runs in ``blob:`` workers; nothing else (no inline or foreign script, no foreign
connection or image: a location's map stays without tiles; the camera stays in the page).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, redirect, send_from_directory

from server.web.errors import error_response
from sync.embedded import PROJECT_ROOT

DIST = PROJECT_ROOT / "fieldapp" / "dist"
APP_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' blob:; connect-src 'self'; "
    "worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
NOT_CACHED = ("index.html", "sw.js", "manifest.webmanifest", "registerSW.js")

bp = Blueprint("fieldapp", __name__, url_prefix="/app")


def _file(name: str, dist: Path = DIST) -> Response:
    if not (dist / "index.html").is_file():
        return error_response(
            503,
            "fieldapp_not_built",
            "平板应用尚未构建：请运行 scripts/install",
            "the field app is not built: run scripts/install",
        )
    resp = send_from_directory(dist, name)  # refuses paths outside dist (404)
    if name in NOT_CACHED or name.startswith("workbox-"):
        resp.headers["Cache-Control"] = "no-cache"
    elif name.startswith("assets/"):
        resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    if name == "sw.js":  # a worker runs under its own script's CSP: it fetches the app to precache it
        resp.headers["Service-Worker-Allowed"] = "/app/"
        resp.headers["Content-Security-Policy"] = "default-src 'self'; object-src 'none'; base-uri 'none'"
    if resp.mimetype == "text/html":
        resp.headers["Content-Security-Policy"] = APP_CSP
    return resp


@bp.get("")
def bare() -> Response:
    return redirect("/app/")


@bp.get("/")
def index() -> Response:
    return _file("index.html")


@bp.get("/<path:name>")
def asset(name: str) -> Response:
    return _file(name)
