"""The review queue: filter, page, select, and act on many submissions at once, with undo."""

from __future__ import annotations

import secrets

from flask import abort, current_app, flash, redirect, request, url_for

from server.casework.review import STATES, ActionRefused
from server.pipeline import review_actions
from server.web.clerk import bp
from server.web.clerk.common import clerk, couch, form_key, model, paginate, render, villages
from server.web.clerk.i18n import gettext, loc

TODO = ("received", "has_issues", "edited")  # the default view: what still needs a clerk
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


@bp.get("/queue")
def queue():
    user = clerk()
    visible = villages(user)
    f = filters()
    codes = [v.code for v in visible]
    model().refresh(codes)
    chosen = model().memo(("queue", tuple(codes), tuple(sorted(f.items()))),
                          lambda: select(model().review_rows(codes), f))  # fmt: skip
    paged = paginate(chosen, "clerk.queue", {k: v for k, v in f.items() if v})
    return render(
        "queue.html",
        **paged,
        f=f,
        villages=visible,
        names={v.code: v.name for v in visible},
        heads=model().head_names(r.get("household_id") for r in paged["rows"]),
        surveyors=model().memo(("surveyors", tuple(codes)), lambda: _surveyors(codes)),
        states=STATES,
        action_key=secrets.token_hex(12),  # one per rendered form: a resubmitted form is the same action
        back=request.full_path.rstrip("?"),
    )


def _surveyors(codes: list[str]) -> list[str]:
    return sorted({r["submitted_by"] for r in model().review_rows(codes) if r.get("submitted_by")})


@bp.post("/queue/act")
def act():
    user = clerk()
    ids = request.form.getlist("ids")
    action = request.form.get("action", "")
    if action not in ACTION_NAMES:
        abort(400)
    back = _back()
    if not ids:
        flash(gettext("请至少选择一条"), "error")
        return redirect(back)
    key = form_key("action_key")
    try:
        outcomes = review_actions.act(
            couch(), model(), _policy(), user, [v.code for v in villages(user)],
            ids, action, request.form.get("comment"), key, seen_revisions(),
        )  # fmt: skip
    except ActionRefused as exc:
        flash(loc({"zh": exc.zh, "en": exc.en}), "error")
        return redirect(back)
    _report(gettext(ACTION_NAMES[action]), outcomes, key)
    return redirect(back)


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


def _back() -> str:
    target = request.form.get("back", "")
    return target if target.startswith("/clerk/") and not target.startswith("//") else url_for("clerk.queue")
