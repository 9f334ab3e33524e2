"""The township clerks' web app, ``/clerk``: server-rendered pages (Jinja, zh-CN first, English
switch) with a little progressive JavaScript; every page works without it.

Views stay thin: lists and counts come from the per-process read model (:mod:`server.pipeline.readmodel`),
decisions go through :mod:`server.pipeline.review_actions` and household changes through the same code as
the JSON API, so the app and the API cannot disagree.
"""

from __future__ import annotations

from flask import Blueprint

from server.web import csrf

bp = Blueprint("clerk", __name__, url_prefix="/clerk")
bp.before_request(csrf.protect)

from server.web.clerk import (  # noqa: E402,F401 - they add their routes to bp
    auth_views,
    dashboard,
    event_views,
    export_views,
    field_views,
    households,
    identification_views,
    list_views,
    queue,
    roster_views,
    submissions,
)
