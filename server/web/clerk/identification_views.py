"""The identification workflow in the clerk app, for each role that records part of it: the list
with deadlines, overdue badges and "waiting for me"; one household's case (steps done and owed, who
records each, the next step's form for the role that may record it, the green channel, the
elimination checklist, measures as records); and the printable public notice list (公示名单).

A township clerk, a village committee (``village``) and the county (``county``) all work here;
the guards of :mod:`server.casework.identification` decide who records which step.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable

from flask import abort, flash, redirect, request, url_for

from server.access.accounts import User
from server.casework import exports
from server.casework import identification as ident
from server.web.clerk import bp, stats
from server.web.clerk.common import form_key, local_time, model, place, render, staff, today, villages, visible_records
from server.web.clerk.export_views import MIME, send
from server.web.clerk.i18n import gettext, loc
from server.web.errors import ApiError
from server.web.household_api import visible_record
from server.web.identification_api import checklist, deadlines, next_of, policy, record_measure, record_step

ALL_STEPS = {s: ident.STEP_NAMES[s] for s in ident.STEPS + ident.AFTER + ident.REVIEW_STEPS}


def waiting_for(row: dict, role: str) -> bool:
    """The household's next step is one ``role`` records."""
    upcoming = next_of(row)
    return bool(upcoming) and ident.WHO.get(upcoming or "") == role


@bp.get("/identification")
def identification_list():
    user = staff()
    visible = villages(user)
    step, village = request.args.get("step", ""), request.args.get("village", "")
    only_overdue, mine = bool(request.args.get("overdue")), bool(request.args.get("mine"))
    day = today()
    all_rows = [h for h in model().household_rows(v.code for v in visible) if h.get("identification")]
    rows = [
        h
        for h in all_rows
        if (not step or h["identification"] == step)
        and (not village or h["village_code"] == village)
        and (not only_overdue or stats.overdue(h, day))
        and (not mine or waiting_for(h, user.role))
    ]
    order = list(ALL_STEPS)
    rows.sort(key=lambda h: (order.index(h["identification"]), h["ident_due"] or "", h["id"]))
    counts = dict.fromkeys(ALL_STEPS, 0)
    for h in all_rows:
        counts[h["identification"]] += 1
    return render(
        "identification.html",
        rows=rows,
        counts=counts,
        steps=ALL_STEPS,
        f={"step": step, "village": village, "overdue": only_overdue, "mine": mine},
        waiting=sum(1 for h in all_rows if waiting_for(h, user.role)),
        villages=visible,
        overdue=lambda h: stats.overdue(h, day),
    )


def _record(user: User, household_id: str) -> dict:
    try:
        return visible_record(user, household_id)
    except ApiError:
        abort(404)


@bp.get("/identification/<household_id>")
def identification_case(household_id: str):
    """One household's identification: what each role has done and still owes."""
    user = staff()
    record = _record(user, household_id)
    if record["household_id"] != household_id:
        return redirect(url_for("clerk.identification_case", household_id=record["household_id"]))
    current = ident.current(record)
    upcoming = ident.next_step(current) if current else None
    village = record["village_code"]
    listed = checklist(record, {})
    props = record.get("properties") or {}
    return render(
        "identification_case.html",
        record=record,
        head_name=props.get("head_name"),
        size=len(props["members"]) if isinstance(props.get("members"), list) else None,
        village_name=place(village),
        tier=record.get("tier") or {},
        ident=current,
        upcoming=upcoming,
        mine=bool(upcoming) and ident.WHO.get(upcoming) == user.role,
        who=ident.WHO,
        role_names=ident.ROLE_NAMES,
        steps=ALL_STEPS,
        path=ident.STEPS if not current or current.get("kind") != "measure_review" else ident.REVIEW_STEPS,
        done={h["step"]: h for h in (current or {}).get("history", [])},
        owed=ident.owed(current) if current else [],
        overdue=ident.overdue(current, today()),
        due=ident.due(current) if current else None,
        may_include=user.role == "county" and bool(current) and current["step"] in ident.STEPS[: ident.APPROVED]
        and current.get("kind") != "measure_review" and not current.get("provisional"),
        may_start=user.role == "clerk" and current is None and (record.get("tier") or {}).get("tier") == "medium",
        may_measure=user.role in ident.MEASURE_ROLES and current is not None,
        checklist=listed,
        categories=ident.CATEGORIES,
        catalogue=policy().for_county(village[:6])["measures"],
        paperwork=ident.PAPERWORK,
        action_key=secrets.token_hex(12),
        today=today().isoformat(),
        at=request.args.get("at") if request.args.get("at") in ("identification", "measures") else None,
    )  # fmt: skip


def _saved(user: User, household_id: str, save: Callable[[dict], dict | None]) -> None:
    """Record through the one code path (:mod:`server.web.identification_api`); say how it went."""
    try:
        save(_record(user, household_id))
    except ident.GuardRefused as exc:
        flash(loc({"zh": exc.zh, "en": exc.en}), "error")
        return
    flash(gettext("已保存"), "done")


@bp.post("/households/<household_id>/identification")
def advance(household_id: str):
    user = staff()
    key = form_key("action_key")
    form = request.form.to_dict()
    _saved(user, household_id, lambda record: record_step(user, record, form.get("to", ""), form, key))
    return redirect(url_for("clerk.identification_case", household_id=household_id, at="identification",
                            _anchor="result"))  # fmt: skip


@bp.post("/households/<household_id>/measures")
def add_measure(household_id: str):
    user = staff()
    key = form_key("action_key")
    form = {k: request.form.get(k, "") for k in ident.MEASURE_FIELDS if k != "paperwork_owed"}
    _saved(user, household_id, lambda record: record_measure(user, record, form, key))
    return redirect(url_for("clerk.identification_case", household_id=household_id, at="measures", _anchor="result"))


@bp.get("/notice")
def notice():
    """公示名单: households under public notice — for identification (民主评议 + 公示) or for
    elimination — for printing and posting.

    Shows village, household number, head's name, household size and the notice period; never ID
    numbers, phones, bank or health data (domain.md), so the row is built from those fields only.
    """
    user = staff()
    visible = villages(user)
    village = request.args.get("village", "")
    rows = []
    for h in model().household_rows(v.code for v in visible):
        if h.get("identification") not in ("village_reviewed", "elimination_reviewed"):
            continue
        if village and h["village_code"] != village:
            continue
        start = h.get("publicity_start")
        days = deadlines(h["village_code"])["publicity_days"]
        end = (dt.date.fromisoformat(start) + dt.timedelta(days=days)).isoformat() if start else ""
        kind = "elimination" if h["identification"] == "elimination_reviewed" else "identification"
        rows.append({"village_code": h["village_code"], "id": h["id"], "head_name": h.get("head_name"),
                     "size": h.get("size"), "start": start, "end": end, "kind": kind})  # fmt: skip
    rows.sort(key=lambda r: (r["village_code"], r["kind"], r["id"]))
    return render(
        "notice.html",
        rows=rows,
        village=village,
        villages=visible,
        today=today().isoformat(),
    )


MEASURE_HEADERS = [
    ("village", "村"), ("household", "户编号"), ("head_name", "户主"), ("type", "帮扶措施"), ("unit", "责任单位"),
    ("official", "帮扶责任人"), ("date", "日期"), ("amount", "金额（元）"), ("paperwork_owed", "待补手续"),
    ("by", "记录人"), ("at", "记录时间"),
]  # fmt: skip


def measure_name(record: dict, measure: dict) -> str:
    """A recorded measure's type in the reader's words, from the catalogue of the household's county."""
    kind = policy().for_county(record["village_code"][:6])["measures"].get(measure.get("type"))
    return loc(kind) if kind else str(measure.get("measure") or measure.get("type") or "")


def measure_rows(user: User, owed_only: bool) -> list[dict]:
    """Every measure recorded on the households this account sees (帮扶台账), newest first."""
    visible = {v.code: v.name for v in villages(user)}
    rows = []
    for record in visible_records(user):
        current = ident.current(record) or {}
        for m in current.get("measures", []):
            if owed_only and not m.get("paperwork_owed"):
                continue
            rows.append({"village": visible[record["village_code"]], "household": record["household_id"],
                         "head_name": (record.get("properties") or {}).get("head_name"),
                         "type": measure_name(record, m),
                         "unit": m.get("unit"), "official": m.get("official"), "date": m.get("date"),
                         "amount": m.get("amount"), "by": m.get("by"), "at": local_time(m.get("at")),
                         "paperwork_owed": "、".join(loc(dict(zip(("zh", "en"), ident.PAPERWORK[p], strict=True)))
                                                    for p in m.get("paperwork_owed") or [])})  # fmt: skip
    rows.sort(key=lambda r: (r["date"] or "", r["household"]), reverse=True)
    return rows


@bp.get("/measures")
def measure_list():
    """帮扶措施台账: the measures of every household the account sees; 先行救助 with paperwork still owed
    can be listed alone (the reminders)."""
    user = staff()
    owed_only = bool(request.args.get("owed"))
    return render("measures.html", rows=measure_rows(user, owed_only), owed=owed_only, headers=MEASURE_HEADERS)


@bp.get("/measures.<fmt>")
def measure_export(fmt: str):
    if fmt not in MIME:
        abort(404)
    user = staff()
    owed_only = bool(request.args.get("owed"))
    rows = measure_rows(user, owed_only)
    sheet = exports.Sheet("帮扶措施", [k for k, _ in MEASURE_HEADERS], [h for _, h in MEASURE_HEADERS],
                          lambda: ([r[k] for k, _ in MEASURE_HEADERS] for r in rows))  # fmt: skip
    return send("measures", fmt, [sheet], len(rows))
