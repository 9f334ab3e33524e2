"""Households: the list, one household (tier with reasons and measures, properties, version
timeline, audit), the conflict resolution screen (base / server / submitted side by side, as ODK
Central shows them) and the duplicate merge screen. Changes go through the same functions as the
JSON API (:mod:`server.web.household_api`)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

from flask import abort, current_app, flash, g, redirect, request, url_for

from forms.spec import Field
from server.casework import identification, tiers
from server.households import model as households
from server.pipeline import household_store
from server.web.clerk import bp, stats
from server.web.clerk.answers import display
from server.web.clerk.common import clerk, couch, form_key, model, paginate, render, today, villages
from server.web.clerk.i18n import gettext, loc
from server.web.errors import ApiError
from server.web.household_api import dismiss_pair, merge_records, other_record, resolve_record, visible_record
from sync import audit, names
from sync.clock import utc_now

FILTERS = ("village", "tier", "conflict", "duplicates", "overdue", "q")


def filters() -> dict[str, str]:
    return {k: request.args.get(k, "").strip() for k in FILTERS}


def select(rows: list[dict], f: dict[str, str], day: dt.date) -> list[dict]:
    """Household rows matching the list's filters (the page and its exports use the same)."""
    return [
        h
        for h in rows
        if (not f["village"] or h["village_code"] == f["village"])
        and (not f["tier"] or (h.get("tier") or "none") == f["tier"])
        and (not f["conflict"] or (h.get("conflict") and f["conflict"] in ("any", h["conflict"])))
        and (not f["duplicates"] or h.get("duplicates"))
        and (not f["overdue"] or stats.overdue(h, day))
        and (not f["q"] or f["q"] in h["id"] or f["q"] in (h.get("head_name") or ""))
    ]


@bp.get("/households")
def household_list():
    user = clerk()
    visible = villages(user)
    f = filters()
    day = today()
    rows = select(model().household_rows(v.code for v in visible), f, day)
    rank = {"high": 0, "medium": 1, "low": 2}
    rows.sort(key=lambda h: (rank.get(h.get("tier") or "", 3), h.get("deadline") or "9999", h["id"]))
    return render(
        "households.html",
        **paginate(rows, "clerk.household_list", {k: v for k, v in f.items() if v}),
        f=f,
        villages=visible,
        today=day.isoformat(),
        overdue=lambda h: stats.overdue(h, day),
    )


def _record(household_id: str) -> dict:
    try:
        return visible_record(clerk(), household_id)
    except ApiError:
        abort(404)


@bp.get("/households/<household_id>")
def household(household_id: str):
    record = _record(household_id)
    if record["household_id"] != household_id:  # an alias or a merged id: show the household it stands for
        return redirect(url_for("clerk.household", household_id=record["household_id"]))
    ident = identification.current(record)
    active = {e["id"] for e in households.active_events(record["events"], record.get("rejected"))}
    timeline = [
        {**e, "active": e["id"] in active, "rejected": record.get("rejected", {}).get(e.get("submission_id", "")) ==
         e.get("submission_rev")}
        for e in sorted(record["events"], key=lambda e: (e["origin"] != record["household_id"], e["version"]))
    ]  # fmt: skip
    return render(
        "household.html",
        record=record,
        tier=record.get("tier") or {},
        label=label,
        props=[(k, v) for k, v in record["properties"].items() if k != "members"],
        members=record["properties"].get("members") if isinstance(record["properties"].get("members"), list) else [],
        timeline=timeline,
        hard=conflict_table(record),
        soft=[c for c in record.get("conflicts", []) if c["kind"] == "soft"],
        duplicates=[d for d in record.get("duplicates", []) if d.get("status") == "open"],
        audit_entries=audit.entries_for(couch(), record["household_id"]),
        action_key=secrets.token_hex(12),
        show=show,
        ident=ident,
        ident_due=identification.due(ident) if ident else None,
        ident_overdue=identification.overdue(ident, today()),
        steps=identification.STEP_NAMES,
        today=today().isoformat(),
    )


@bp.post("/households/<household_id>/override")
def override_tier(household_id: str):
    """A township clerk raises or lowers the tier with a reason (or removes the override): shown
    beside the computed tier, audited, kept until removed or outgrown by new facts."""
    user = clerk()
    record = _record(household_id)
    hid = record["household_id"]
    key = form_key("action_key")
    wanted = request.form.get("tier") or None
    reason = request.form.get("reason", "")
    before = (record.get("tier") or {}).get("override")

    def change(records: dict[str, dict]) -> dict | None:
        current = records[hid]
        if (current.get("tier_override") or {}).get("key") == key:
            return None  # this form was applied already
        chosen = tiers.override(current, wanted, reason, user.name, utc_now())
        current["tier_override"] = {**chosen, "key": key} if chosen else None
        policy = current_app.extensions["fangpin.policies"].get()
        tiers.retier(current, policy, today(), utc_now(), {"kind": "override", "key": key, "by": user.name})
        return current["tier"]

    try:
        after = household_store.update(couch(), [hid], change, only_changed=True)
    except tiers.OverrideRefused as exc:
        flash(loc({"zh": exc.zh, "en": exc.en}), "error")
    else:
        if after is not None:
            audit.record(couch(), user.name, "household.override", hid, before={"override": before},
                         after={"override": after.get("override"), "tier": after["tier"]})  # fmt: skip
            model().note_households(household_store.load(couch(), [hid]).values())
        flash(gettext("已保存"), "done")
    return redirect(url_for("clerk.household", household_id=hid))


@bp.post("/households/<household_id>/resolve")
def resolve(household_id: str):
    user = clerk()
    record = _record(household_id)
    values: dict[str, Any] = {}
    for prop in record.get("conflicting_properties", []):
        choice = request.form.get(f"choice:{prop}", "current")
        if choice != "current":
            try:
                values[prop] = json.loads(choice)
            except ValueError:
                abort(400)
    version = request.form.get("version", "")
    try:
        updated = resolve_record(
            user, record, values, int(version) if version.isdigit() else None, form_key("action_key")
        )
    except ApiError as exc:
        flash(loc({"zh": exc.zh, "en": exc.en}), "error")
    else:
        flash(gettext("已处理：第 {n} 版", n=updated["version"]), "done")
    return redirect(url_for("clerk.household", household_id=record["household_id"]))


@bp.get("/households/<household_id>/compare/<other_id>")
def compare(household_id: str, other_id: str):
    """Two households side by side, the one that survives a merge on the left: the roster's, when
    one of them is provisional (opened from the provisional household, the sides are swapped). For
    each property that differs the kept value defaults to the survivor's, or to the other's where
    the survivor has none: a blank never replaces what the roster knows."""
    record = _record(household_id)
    other = _record(other_id)
    if names.ROSTER_HOUSEHOLD.match(other["household_id"]) and not names.ROSTER_HOUSEHOLD.match(household_id):
        return redirect(url_for("clerk.compare", household_id=other["household_id"], other_id=household_id))
    keys = [k for k in dict.fromkeys([*record["properties"], *other["properties"]]) if k != "members"]
    rows = []
    for k in keys:
        mine, theirs = record["properties"].get(k), other["properties"].get(k)
        blank = mine in (None, "", []) and theirs not in (None, "", [])
        rows.append({"key": k, "mine": mine, "theirs": theirs, "differ": mine != theirs,
                     "keep": "theirs" if blank else "mine"})  # fmt: skip
    return render(
        "compare.html",
        record=record,
        other=other,
        rows=rows,
        label=label,
        show=show,
        reason=next((d["reason"] for d in record.get("duplicates", []) if d["id"] == other["household_id"]), None),
        action_key=secrets.token_hex(12),
    )


@bp.post("/households/<household_id>/merge")
def merge(household_id: str):
    user = clerk()
    record = _record(household_id)
    other_id = request.form.get("other", "")
    try:
        other = other_record(user, other_id, record)
        values = {}
        # every choice the page offered is explicit: the other household's later surveys must not
        # overwrite a value the clerk chose to keep
        for key in set(record["properties"]) | set(other["properties"]):
            side = {"mine": record, "theirs": other}.get(request.form.get(f"keep:{key}", ""))
            if side is not None:
                values[key] = side["properties"].get(key)
        merge_records(user, record, other, values, form_key("action_key"))
    except ApiError as exc:
        flash(loc({"zh": exc.zh, "en": exc.en}), "error")
        return redirect(url_for("clerk.compare", household_id=household_id, other_id=other_id))
    flash(gettext("已合并"), "done")
    return redirect(url_for("clerk.household", household_id=record["household_id"]))


@bp.post("/households/<household_id>/dismiss")
def dismiss(household_id: str):
    user = clerk()
    record = _record(household_id)
    try:
        dismiss_pair(user, record, other_record(user, request.form.get("other", ""), record))
    except ApiError as exc:
        flash(loc({"zh": exc.zh, "en": exc.en}), "error")
    else:
        flash(gettext("已标记为不是重复"), "done")
    return redirect(url_for("clerk.household", household_id=record["household_id"]))


# -- helpers ---------------------------------------------------------------------------------------
def conflict_table(record: dict) -> list[dict]:
    """Per hard-conflicting property: the base value, the server's current value, and each
    concurrent submission's value with who and when (pure over the record)."""
    by_id = {e["id"]: e for e in record["events"]}
    out = []
    for prop in record.get("conflicting_properties", []):
        events = []
        for c in record.get("conflicts", []):
            if c["kind"] == "hard" and prop in c["properties"]:
                events += [by_id[i] for i in c["events"] if i in by_id and by_id[i] not in events]
        events.sort(key=lambda e: e["version"])
        out.append(
            {
                "property": prop,
                "base": events[0].get("previous", {}).get(prop) if events else None,
                "current": record["properties"].get(prop),
                "candidates": [
                    {
                        "value": e["changed"].get(prop),
                        "json": json.dumps(e["changed"].get(prop), ensure_ascii=False),
                        "by": e.get("by"),
                        "device": e.get("device_id"),
                        "completed_at": e.get("completed_at"),
                        "version": e["version"],
                    }
                    for e in events
                ],
            }
        )
    return out


def property_fields() -> dict[str, Field]:
    """Property name (and ``members/<field>``) -> its field in the newest published form that asks it."""
    if "property_fields" in g:
        return g.property_fields
    out: dict[str, Field] = {}
    g.property_fields = out
    catalog = current_app.extensions["fangpin.forms"]
    for form_id in catalog.get():
        spec = catalog.newest(form_id)
        for path, f in spec.fields.items() if spec else ():
            if f.kind != "group":
                out.setdefault(path, f)
    return out


def show(value: Any, key: str | None = None) -> str:
    """A property value for a page: choice values as their labels, lists as text, nothing as —."""
    if value is None or value == "":
        return "—"
    if key == "members" and isinstance(value, list):
        return gettext("{n} 人", n=len(value))
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        # a repeat kept whole (the casualties): each entry's answers in words, entries apart
        return "；".join(
            "，".join(show(v, f"{key}/{k}") for k, v in item.items() if v not in (None, "")) for item in value
        )
    shown = display(value, property_fields().get(key or ""))
    if isinstance(shown, dict) and set(shown) == {"zh", "en"}:
        return loc(shown)
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else str(value)


# What the tier engine may report missing that is not one question of a form.
DERIVED = {
    "income": {
        "zh": "收入（工资性、生产经营性、财产性、转移性）",
        "en": "incomes (wages, business, property, transfers)",
    },
    "income_line": {"zh": "本地监测收入线", "en": "the local income line"},
    "members": {"zh": "家庭成员", "en": "household members"},
}


def label(key: str) -> str:
    f = property_fields().get(key)
    if f and f.label:
        return loc(f.label)
    return loc(DERIVED[key]) if key in DERIVED else key
