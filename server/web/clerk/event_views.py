"""Disaster events (灾害事件) in the clerk app: the township's events, opening one (type, start,
affected villages) and closing it; per event and village the roster households surveyed and not
yet (those are tasks on the tablets), and the damage roll-up for the 应急 office, as a page and as
an export (CSV or XLSX, Chinese headers)."""

from __future__ import annotations

import datetime as dt

from flask import Response, abort, flash, redirect, request, stream_with_context, url_for

from server.casework import events, exports
from server.pipeline import event_store
from server.web.clerk import bp
from server.web.clerk.common import clerk, couch, render, today, villages
from server.web.clerk.export_views import MIME
from server.web.clerk.i18n import gettext, loc
from sync import audit, names

# The roll-up's columns, as the 应急 office reads them.
ROLLUP_HEADERS = [
    ("village", "村"), ("households", "名单户数"), ("surveyed", "已摸排户数"), ("not_yet", "未摸排户数"),
    ("houses_collapsed", "倒房户数"), ("houses_severe", "严重损坏户数"), ("rooms_collapsed", "倒塌间数"),
    ("rooms_severe", "严重损坏间数"), ("rooms_minor", "一般损坏间数"), ("people_relocated", "转移安置人数"),
    ("deaths", "死亡人数"), ("missing", "失踪人数"), ("injured_serious", "重伤人数"), ("injured_minor", "轻伤人数"),
    ("direct_loss_yuan", "直接经济损失（元）"),
]  # fmt: skip


def township_events(township: str | None) -> list[dict]:
    found = [e for e in event_store.all_events(couch()) if not township or e["township"] == township]
    found.sort(key=lambda e: (e["start_date"], e["event_id"]), reverse=True)  # newest first,
    return sorted(found, key=lambda e: e["status"] != "open")  # the open ones on top


@bp.get("/events")
def event_list():
    user = clerk()
    visible = villages(user)
    return render(
        "events.html",
        events=township_events(user.township),
        types=events.disaster_type_labels(),
        villages=visible,
        label=events.label,
        today=today().isoformat(),
    )


@bp.post("/events")
def event_open():
    user = clerk()
    township = user.township or request.form.get("township", "")
    try:
        start = dt.date.fromisoformat(request.form.get("start_date", ""))
    except ValueError:
        flash(gettext("请填写灾害开始日期"), "error")
        return redirect(url_for("clerk.event_list"))
    chosen = request.form.getlist("villages")
    if any(not user.sees_village(v) for v in chosen):
        abort(404)
    try:
        doc, opened = event_store.open_event(couch(), township, request.form.get("disaster_type", ""), start, chosen,
                                             user.name, today(), request.form.get("name", "").strip()[:50])  # fmt: skip
    except events.EventError as exc:
        flash(loc({"zh": exc.zh, "en": exc.en}), "error")
        return redirect(url_for("clerk.event_list"))
    flash(gettext("已开启灾害事件 {id}", id=doc["event_id"]) if opened else gettext("该事件已开启"), "done")
    return redirect(url_for("clerk.event_page", event_id=doc["event_id"]))


def _event(event_id: str) -> dict:
    user = clerk()
    doc = couch().get(names.CASES, event_store.PREFIX + event_id)
    if doc is None or (user.township and doc["township"] != user.township):
        abort(404)
    return doc


@bp.post("/events/<event_id>/close")
def event_close(event_id: str):
    user = clerk()
    _event(event_id)
    event_store.close_event(couch(), event_id, user.name)
    flash(gettext("已关闭灾害事件 {id}", id=event_id), "done")
    return redirect(url_for("clerk.event_page", event_id=event_id))


def _coverage(doc: dict) -> dict[str, dict]:
    wanted = set(doc["villages"])
    records = [r for r in couch().iter_prefix(names.CASES, "household:", page=500) if r.get("village_code") in wanted]
    return events.coverage(doc, records)


@bp.get("/events/<event_id>")
def event_page(event_id: str):
    doc = _event(event_id)
    clerk()
    rows = _coverage(doc)
    return render(
        "event.html",
        event=doc,
        label=events.label(doc),
        rows=rows,
        totals={k: sum(r[k] for r in rows.values()) for k in events.ROLLUP},
        households_total=sum(r["households"] for r in rows.values()),
        headers=ROLLUP_HEADERS,
    )


@bp.get("/events/<event_id>/rollup.<fmt>")
def event_rollup(event_id: str, fmt: str):
    """The 应急 office's roll-up: one row per village and a total row."""
    if fmt not in MIME:
        abort(404)
    doc = _event(event_id)
    user = clerk()
    rows = _coverage(doc)
    names_of = {v.code: v.name for v in villages(user)}

    def table():
        for code, row in sorted(rows.items()):
            yield [names_of.get(code, code), row["households"], *(_value(row, k) for k, _ in ROLLUP_HEADERS[2:])]
        yield ["合计", sum(r["households"] for r in rows.values()),
               *(sum(_value(r, k) for r in rows.values()) for k, _ in ROLLUP_HEADERS[2:])]  # fmt: skip

    sheet = exports.Sheet("灾情汇总", [k for k, _ in ROLLUP_HEADERS], [h for _, h in ROLLUP_HEADERS], table)
    audit.record(couch(), user.name, "export.event_rollup", event_store.PREFIX + event_id, after={"format": fmt})
    body = exports.csv_stream(sheet) if fmt == "csv" else exports.xlsx_stream([sheet])
    response = Response(stream_with_context(body), content_type=MIME[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="rollup-{event_id}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _value(row: dict, key: str) -> float | int:
    return len(row["not_yet"]) if key == "not_yet" else row[key]
