"""The review queue: filter, page, select, and act on many submissions at once, with undo."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

from flask import abort, current_app, flash, redirect, request, url_for

from server.access.accounts import User
from server.casework import summaries
from server.casework.review import STATES, TODO, ActionRefused
from server.pipeline import review_actions
from server.web.clerk import bp
from server.web.clerk.common import clerk, couch, form_key, model, paginate, render, villages
from server.web.clerk.i18n import gettext, loc

FILTERS = ("village", "form", "state", "surveyor", "date_from", "date_to", "q")
ACTION_NAMES = {"approve": "通过", "reject": "拒绝", "return": "退回"}


def filters() -> dict[str, str]:
    return {k: request.args.get(k, "").strip() for k in FILTERS}


def select(rows: list[dict], f: dict[str, str]) -> list[dict]:
    """Rows matching the filters, first come first served; the state filter defaults to what still
    needs a clerk. Only the filters in use are tested (this runs over every submission of a township)."""
    states = set(TODO if not f["state"] else STATES if f["state"] == "all" else (f["state"],))
    tests = []
    for key, field in (("village", "village_code"), ("form", "form_id"), ("surveyor", "submitted_by")):
        if f[key]:
            tests.append(lambda r, field=field, want=f[key]: r.get(field) == want)
    if f["date_from"]:
        tests.append(lambda r, low=f["date_from"]: (r.get("completed_at") or "")[:10] >= low)
    if f["date_to"]:
        tests.append(lambda r, high=f["date_to"]: (r.get("completed_at") or "")[:10] <= high)
    if f["q"]:
        tests.append(lambda r, q=f["q"]: q in (r.get("household_id") or "") or q in r["id"])
    out = [r for r in rows if r.get("state") in states and all(t(r) for t in tests)]
    out.sort(key=lambda r: (r.get("received_at") or "", r["id"]))
    return out


def matching(user: User, f: dict[str, str]) -> list[dict]:
    """The queue's rows for these filters, in the queue's order (the page, "all matching", next)."""
    codes = [v.code for v in villages(user)]
    model().refresh(codes)
    return model().memo(("queue", tuple(codes), tuple(sorted(f.items()))),
                        lambda: select(model().review_rows(codes), f))  # fmt: skip


def queue_filters(url: str) -> dict[str, str]:
    """The filters a queue URL (``back``) carries."""
    query = parse_qs(urlsplit(url).query)
    return {k: (query.get(k) or [""])[0].strip() for k in FILTERS}


@bp.get("/queue")
def queue():
    user = clerk()
    visible = villages(user)
    f = filters()
    codes = [v.code for v in visible]
    chosen = matching(user, f)
    paged = paginate(chosen, "clerk.queue", {k: v for k, v in f.items() if v})
    households = model().households_by_id(r.get("household_id") for r in paged["rows"])
    return render(
        "queue.html",
        **paged,
        f=f,
        villages=visible,
        households=households,
        summary=lambda r: summaries.of(r.get("form_id"), (households.get(r.get("household_id")) or {}).get("facts")),
        surveyors=surveyors(codes),
        states=STATES,
        action_key=secrets.token_hex(12),  # one per rendered form: a resubmitted form is the same action
        back=request.full_path.rstrip("?"),
    )


def surveyors(codes: list[str]) -> list[str]:
    """Who surveyed in these villages (the surveyor filter's choices)."""
    return model().memo(
        ("surveyors", tuple(codes)),
        lambda: sorted({r["submitted_by"] for r in model().review_rows(codes) if r.get("submitted_by")}),
    )


@bp.post("/queue/act")
def act():
    user = clerk()
    ids = request.form.getlist("ids")
    action = request.form.get("action", "")
    then_next = action.endswith("_next")  # the submission page's "… and open the next one"
    action = action.removesuffix("_next")
    if action not in ACTION_NAMES:
        abort(400)
    back = _back()
    seen = seen_revisions()
    if request.form.get("all_matching"):  # every row the queue's filters match, not only this page
        rows = matching(user, queue_filters(back))
        ids = [r["id"] for r in rows]
        seen = {r["id"]: r.get("submission_rev") or "" for r in rows}  # as the server knew them now
    if not ids:
        flash(gettext("请至少选择一条"), "error")
        return redirect(back)
    key = form_key("action_key")
    try:
        outcomes = review_actions.act(
            couch(), model(), _policy(), user, [v.code for v in villages(user)],
            ids, action, request.form.get("comment"), key, seen,
        )  # fmt: skip
    except ActionRefused as exc:
        flash(loc({"zh": exc.zh, "en": exc.en}), "error")
        return redirect(back)
    _report(gettext(ACTION_NAMES[action]), outcomes, key)
    queue_url = request.form.get("queue", "")
    if then_next and _safe(queue_url):
        return redirect(next_after(user, queue_url, ids[-1], set(ids)) or queue_url)
    return redirect(back)


def next_after(user: User, queue_url: str, current: str, skip: set[str]) -> str | None:
    """The submission page of the queue's next row after ``current`` still waiting for a clerk."""
    rows = matching(user, queue_filters(queue_url))
    order = [r["id"] for r in rows]
    start = order.index(current) + 1 if current in order else 0
    for row in rows[start:] + rows[:start]:
        if row["id"] not in skip and row.get("state") in TODO:
            return url_for("clerk.submission", uuid=row["id"], back=queue_url)
    flash(gettext("队列中没有待审核的提交了"), "done")
    return None


def seen_revisions() -> dict[str, str]:
    """The submission revision each decided row showed (``rev:<uuid>`` fields of the form)."""
    return {k[4:]: v for k, v in request.form.items() if k.startswith("rev:") and v}


@bp.post("/queue/undo")
def undo():
    user = clerk()
    key = form_key("key")
    try:
        outcomes = review_actions.undo_action(couch(), model(), _policy(), user, [v.code for v in villages(user)], key)
    except ActionRefused as exc:
        flash(loc({"zh": exc.zh, "en": exc.en}), "error")
    else:
        _report(gettext("撤销"), outcomes, None)
    return redirect(_back())


def _report(action: str, outcomes: list[review_actions.Outcome], undo_key: str | None) -> None:
    ok = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    text = gettext("{action}：成功 {ok} 条，未处理 {failed} 条", action=action, ok=len(ok), failed=len(failed))
    reasons = sorted({loc(o.message) for o in failed if o.message})
    if reasons:
        text += " — " + "；".join(reasons)
    flash(text, "done" if not failed else "error")
    if undo_key and ok:
        flash(undo_key, "undo")  # the page shows an undo button for it


def _policy():
    return current_app.extensions["fangpin.policies"].get()


def _safe(target: str) -> bool:
    return target.startswith("/clerk/") and not target.startswith("//")


def _back() -> str:
    target = request.form.get("back", "")
    return target if _safe(target) else url_for("clerk.queue")
