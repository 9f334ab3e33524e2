"""The identification workflow in the clerk app: the list with deadlines and overdue badges,
moving a household to its next step (with the guards of :mod:`server.casework.identification`), recording
measures (green channel), and the printable public notice list (公示名单)."""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, request, url_for

from server.casework import identification as ident
from server.pipeline import household_store
from server.web.clerk import bp
from server.web.clerk.common import clerk, couch, form_key, model, render, today, villages
from server.web.clerk.i18n import gettext, loc
from server.web.errors import ApiError
from server.web.household_api import visible_record
from sync import audit
from sync.clock import utc_now


@bp.get("/identification")
def identification_list():
    user = clerk()
    visible = villages(user)
    step, village = request.args.get("step", ""), request.args.get("village", "")
    only_overdue = bool(request.args.get("overdue"))
    day = today()
    rows = [
        h
        for h in model().household_rows(v.code for v in visible)
        if h.get("identification")
        and (not step or h["identification"] == step)
        and (not village or h["village_code"] == village)
        and (not only_overdue or _overdue(h, day))
    ]
    rows.sort(key=lambda h: (ident.STEPS.index(h["identification"]), h["ident_due"] or "", h["id"]))
    counts = {s: 0 for s in ident.STEPS}
    for h in model().household_rows(v.code for v in visible):
        if h.get("identification"):
            counts[h["identification"]] += 1
    return render(
        "identification.html",
        rows=rows,
        counts=counts,
        steps=ident.STEP_NAMES,
        f={"step": step, "village": village, "overdue": only_overdue},
        villages=visible,
        names={v.code: v.name for v in visible},
        overdue=lambda h: _overdue(h, day),
    )


def _overdue(row: dict, day: dt.date) -> bool:
    return (
        bool(row.get("ident_due")) and row["identification"] in ident.STEPS[:4] and day.isoformat() > row["ident_due"]
    )


def _change(household_id: str, what: str, apply) -> None:
    """Load, change the identification with ``apply(record) -> ident | None``, save, audit."""
    user = clerk()
    try:
        record = visible_record(user, household_id)
    except ApiError:
        abort(404)
    hid = record["household_id"]
    before = (ident.current(record) or {}).get("step")

    def change(records: dict[str, dict]) -> dict | None:
        updated = apply(records[hid])
        if updated is not None:
            records[hid]["identification"] = updated
        return updated

    try:
        updated = household_store.update(couch(), [hid], change, only_changed=True)
    except ident.GuardRefused as exc:
        flash(loc({"zh": exc.zh, "en": exc.en}), "error")
        return
    if updated is not None:
        audit.record(couch(), user.name, what, hid, before={"step": before}, after={"step": updated["step"]})
        model().note_households(household_store.load(couch(), [hid]).values())
    flash(gettext("已保存"), "done")


@bp.post("/households/<household_id>/identification")
def advance(household_id: str):
    user = clerk()
    key = form_key("action_key")
    to = request.form.get("to", "")
    form = request.form.to_dict()
    _change(household_id, "household.identification",
            lambda record: ident.advance(record, to, user.name, utc_now(), today(), form, key))  # fmt: skip
    return redirect(url_for("clerk.household", household_id=household_id) + "#identification")


@bp.post("/households/<household_id>/measures")
def add_measure(household_id: str):
    user = clerk()
    key = form_key("action_key")
    measure, note = request.form.get("measure", ""), request.form.get("note", "")
    _change(household_id, "household.measure",
            lambda record: ident.add_measure(record, measure, note, user.name, utc_now(), key))  # fmt: skip
    return redirect(url_for("clerk.household", household_id=household_id) + "#identification")


@bp.get("/notice")
def notice():
    """公示名单: households under public notice (village review), for printing and posting.

    Shows village, household number, head's name, household size and the notice period; never ID
    numbers, phones, bank or health data (domain.md), so the row is built from those fields only.
    """
    user = clerk()
    visible = villages(user)
    village = request.args.get("village", "")
    rows = []
    for h in model().household_rows(v.code for v in visible):
        if h.get("identification") == "village_reviewed" and (not village or h["village_code"] == village):
            start = h.get("publicity_start")
            end = (dt.date.fromisoformat(start) + dt.timedelta(days=ident.PUBLICITY_DAYS)).isoformat() if start else ""
            rows.append({"village_code": h["village_code"], "id": h["id"], "head_name": h.get("head_name"),
                         "size": h.get("size"), "start": start, "end": end})  # fmt: skip
    rows.sort(key=lambda r: (r["village_code"], r["id"]))
    return render(
        "notice.html",
        rows=rows,
        village=village,
        villages=visible,
        names={v.code: v.name for v in visible},
        today=today().isoformat(),
    )
