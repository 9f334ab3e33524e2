"""Exports of the clerk app: submissions and households with the page's current filters, as
XLSX (openpyxl; one sheet per form and per repeat, members as their own sheet) or CSV (one sheet,
``sheet=`` picks which). ID and phone numbers are masked unless ``numbers=whole`` is asked for;
every export is audited, with whether numbers were whole."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from urllib.parse import quote

from flask import Response, abort, current_app, request, stream_with_context

from forms.spec import Field
from server.casework import exports, identification
from server.casework.review import STATE_NAMES, STATES
from server.households import model as households
from server.pipeline.roster_import import XLSX
from server.web.clerk import bp, queue
from server.web.clerk import households as households_page
from server.web.clerk.common import FORM_NAMES, clerk, couch, model, render, staff, today, villages
from server.web.clerk.i18n import gettext
from sync import audit, names

BATCH = 500
MIME = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": XLSX,
}


def send(kind: str, fmt: str, sheets: list[exports.Sheet], count: int) -> Response:
    """An export as a download (CSV: the sheet ``sheet=`` names, else the first), audited with its
    filters and whether numbers were whole. The caller has checked who may export it."""
    user = staff()
    whole = request.args.get("numbers") == "whole"
    params = {k: v for k, v in request.args.items() if v}
    audit.record(couch(), user.name, f"export.{kind}", f"export:{kind}", after={"format": fmt, "rows": count,
                 "whole_numbers": whole, "filters": params})  # fmt: skip
    if fmt == "csv":
        wanted = request.args.get("sheet") or sheets[0].name
        chosen = next((s for s in sheets if s.name == wanted), None)
        if chosen is None:
            abort(400, description=gettext("没有这个工作表"))
        body: Iterator[bytes] = exports.csv_stream(chosen)
        name = f"{chosen.name}.csv"
    else:
        body, name = exports.xlsx_stream(sheets), f"{kind}.xlsx"
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
    response = Response(stream_with_context(body), content_type=MIME[fmt])
    response.headers["Content-Disposition"] = attachment(f"fangpin-{stamp}-{name}", f"fangpin-{stamp}-{kind}.{fmt}")
    response.headers["Cache-Control"] = "no-store"
    return response


def attachment(name: str, ascii_name: str) -> str:
    """A download's Content-Disposition: the Chinese file name (RFC 6266 ``filename*``) with an
    ASCII one for old clients — a header must be Latin-1, and gunicorn refuses anything else."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@bp.get("/export")
def export_page():
    """Both exports with the filters of their lists, filled in from the query (the lists link here
    with theirs); opened bare, the submissions export takes every state."""
    visible = villages(clerk())
    codes = [v.code for v in visible]
    model().refresh(codes)
    sub = queue.filters()
    if not any(request.args.values()):
        sub["state"] = "all"
    return render("export.html", sub=sub, hh=households_page.filters(), villages=visible,
                  surveyors=queue.surveyors(codes), states=STATES)  # fmt: skip


@bp.get("/export/submissions.<fmt>")
def export_submissions(fmt: str):
    if fmt not in MIME:
        abort(404)
    user = clerk()
    visible = villages(user)
    codes = [v.code for v in visible]
    f = queue.filters()
    rows = queue.select(model().review_rows(codes), f)
    catalog = current_app.extensions["fangpin.forms"]
    wanted = [f["form"]] if f["form"] else sorted(catalog.get())
    whole = request.args.get("numbers") == "whole"
    names = export_names(visible)
    # without a form: every submission first (a CSV without sheet= gives all forms' rows), then each form's
    sheets: list[exports.Sheet] = [] if f["form"] else [exports.all_submissions_sheet(lambda: rows, names)]
    for form_id in wanted:
        spec = catalog.newest(form_id)
        if spec is None:
            continue
        chosen = [r for r in rows if r.get("form_id") == form_id]
        sheets += exports.submission_sheets(spec, lambda c=chosen: _with_docs(c), whole, names)
    if not sheets:
        abort(404)
    return send("submissions", fmt, sheets, len(rows))


def export_names(visible) -> exports.Names:
    return exports.Names(
        villages={v.code: v.name for v in visible},
        forms=FORM_NAMES,
        states={k: v[0] for k, v in STATE_NAMES.items()},
    )


def _with_docs(rows: list[dict]) -> Iterator[tuple[dict, dict]]:
    """(row, submission doc), read in batches per village."""
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        docs: dict[str, dict] = {}
        for village in {r["village_code"] for r in batch}:
            wanted = [f"submission:{r['id']}" for r in batch if r["village_code"] == village]
            docs.update(couch().get_many(names.village_db(village), wanted))
        for r in batch:
            yield r, docs.get(f"submission:{r['id']}", {})


@bp.get("/export/households.<fmt>")
def export_households(fmt: str):
    if fmt not in MIME:
        abort(404)
    user = clerk()
    codes = [v.code for v in villages(user)]
    chosen = households_page.select(model().household_rows(codes), households_page.filters(), today())
    ids = sorted(h["id"] for h in chosen)

    def records() -> Iterator[dict]:
        for start in range(0, len(ids), BATCH):
            loaded = couch().get_many(names.CASES, [households.doc_id(h) for h in ids[start : start + BATCH]])
            yield from (loaded[k] for k in sorted(loaded))

    def step_of(record: dict) -> str | None:
        step = (identification.current(record) or {}).get("step")
        return identification.STEP_NAMES[step][0] if step in identification.STEP_NAMES else step

    whole = request.args.get("numbers") == "whole"
    members = current_app.extensions["fangpin.forms"].newest("household_survey")
    member_fields = (
        {p.split("/", 1)[1]: f for p, f in members.fields.items() if p.startswith("members/")} if members else {}
    )
    villages_of = {v.code: v.name for v in villages(user)}
    sheets = exports.household_sheets(records, _property_columns(), whole, step_of, villages_of, member_fields)
    return send("households", fmt, sheets, len(ids))


def _property_columns() -> list[tuple[str, Field]]:
    """Household properties in form order: the household survey's, then the damage survey's."""
    catalog = current_app.extensions["fangpin.forms"]
    out: dict[str, Field] = {}
    for form_id in ("household_survey", "damage_survey"):
        spec = catalog.newest(form_id)
        if spec is not None:
            for path, _ in exports.spec_columns(spec):
                if "/" not in path and path not in households.NOT_PROPERTIES and path not in out:
                    out[path] = spec.fields[path]
    return list(out.items())
