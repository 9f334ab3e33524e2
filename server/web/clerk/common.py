"""What every clerk page needs: who is asking, which villages they see, the read model, rendering."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from flask import abort, current_app, g, redirect, render_template, request, url_for

from server.access.accounts import User, Village, list_villages, place_names
from server.casework.review import STATE_NAMES
from server.pipeline.readmodel import ReadModel
from server.validation.submission import local_today
from server.web import csrf
from server.web.clerk import words
from server.web.clerk.i18n import gettext, lang, loc
from sync import names
from sync.couch import Couch

FORM_NAMES = {"damage_survey": "受灾农户摸排", "household_survey": "家庭情况排查"}
TIER_NAMES = {"high": "高风险", "medium": "中风险", "low": "低风险", None: "未定级"}


def couch() -> Couch:
    return current_app.extensions["fangpin.couch"].admin


def model() -> ReadModel:
    return current_app.extensions["fangpin.readmodel"]


def clerk() -> User:
    """The signed-in clerk or admin; anyone else is sent to the login page (or refused)."""
    user = g.get("user")
    if user is None:
        abort(redirect(url_for("clerk.login", next=request.full_path.rstrip("?"))))
    if user.role not in ("clerk", "admin"):
        abort(403, description="网格员账号请使用平板，不能登录审核系统")
    return user


STAFF = ("clerk", "admin", "village", "county")  # who signs in to this app (grid workers use the tablet)


def staff() -> User:
    """Anyone who works in this app: a township clerk or admin, a village committee, the county.

    Pages for the clerk's own work (the review queue, exports, the roster, tablets) ask
    :func:`clerk`; the identification screens, where each records its own steps, ask this."""
    user = g.get("user")
    if user is None:
        abort(redirect(url_for("clerk.login", next=request.full_path.rstrip("?"))))
    if user.role not in STAFF:
        abort(403, description="网格员账号请使用平板，不能登录审核系统")
    return user


def villages(user: User) -> list[Village]:
    return sorted((v for v in list_villages(couch()) if user.sees_village(v.code)), key=lambda v: v.code)


def visible_records(user: User) -> Iterator[dict]:
    """The full household records of the villages this account sees (lists that need each
    identification's history, which the read model's rows leave out)."""
    codes = {v.code for v in villages(user)}
    for record in couch().iter_prefix(names.CASES, "household:", page=500):
        if record.get("village_code") in codes and not record.get("merged_into"):
            yield record


def places() -> dict[str, str]:
    """Code -> name of every registered village, township and county, read once per request."""
    if "places" not in g:
        g.places = place_names(couch())
    return g.places


def place(code: str | None) -> str:
    """The name of a code (the code itself if it has none): screens say 石坪村 and 大盛镇, not
    500112104201."""
    return places().get(code, code) if code else ""


def today() -> dt.date:
    return local_today()


PAGE_SIZE = 50


def paginate(rows: list, endpoint: str, query: dict[str, str]) -> dict[str, Any]:
    """The page of ``rows`` that ``?page=`` asks for, and what the pager needs."""
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    raw = request.args.get("page", "")
    page = min(max(int(raw) if raw.isdigit() else 1, 1), pages)
    return {
        "rows": rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        "total": len(rows),
        "page": page,
        "pages": pages,
        "query": query,
        "page_url": lambda n: url_for(endpoint, **query, page=n),
    }


def form_key(name: str) -> str:
    """The idempotency key a rendered form carries (a resubmitted form repeats, never doubles, its action)."""
    value = request.form.get(name)
    if isinstance(value, str) and 8 <= len(value) <= 64 and value.isalnum():
        return value
    abort(400)


BEIJING = dt.timezone(dt.timedelta(hours=8))


def local_time(stamp: Any, seconds: bool = False) -> str:
    """An ISO time as Beijing wall time (``2026-11-20 09:20``); what cannot be read is shown as is."""
    if not isinstance(stamp, str) or not stamp:
        return ""
    try:
        moment = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(BEIJING)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def render(template: str, **context: Any) -> str:
    return render_template(
        f"clerk/{template}",
        _=gettext,
        loc=loc,
        lang=lang(),
        csrf_token=csrf.token(),
        local_time=local_time,
        place=place,
        user=g.get("user"),
        form_names=FORM_NAMES,
        tier_names=TIER_NAMES,
        tier_label={k or "none": gettext(v) for k, v in TIER_NAMES.items()},
        state_names={k: v[0] for k, v in STATE_NAMES.items()},
        word=lambda kind, code: loc(found) if (found := words.word(kind, code)) else code,
        **context,
    )
