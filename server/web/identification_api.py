"""The identification workflow as JSON (``/api/v1/identification``), and the one place that records
a step or a measure — the clerk app's screens call the same functions, so they cannot disagree.

Scoped as the clerk app is: a township clerk sees the township, a village committee its villages,
the county its county; :mod:`server.casework.identification` decides who may record which step.

    GET  /api/v1/identification[?village=&step=&mine=1]   households in identification, with the next step
    GET  /api/v1/identification/<household id>            one household's identification, checklist included
    POST /api/v1/identification/<household id>            {"to": step, …the step's fields}   (Idempotency-Key)
    POST /api/v1/identification/<household id>/measures   {"type", "unit", "official", "date", "amount", "first_relief"}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from server.access.accounts import User, list_villages
from server.casework import identification as ident
from server.casework import tiers
from server.casework.policy import Policy
from server.households import model as households
from server.pipeline import household_store
from server.validation.submission import local_today
from server.web.auth import require_user
from server.web.errors import ApiError, bad_request, forbidden, not_found
from server.web.household_api import visible_record
from sync import audit
from sync.clock import utc_now
from sync.couch import Couch

bp = Blueprint("identification", __name__, url_prefix="/api/v1/identification")
WORKERS = ("clerk", "village", "county", "admin")  # who works on identification (admins read only)


def couch() -> Couch:
    return current_app.extensions["fangpin.couch"].admin


def policy() -> Policy:
    return current_app.extensions["fangpin.policies"].get()


def deadlines(village: str) -> dict:
    return dict(policy().for_county(village[:6])["deadlines"])


def facts(record: dict) -> dict:
    """What elimination checks on the household's current data (its latest surveys)."""
    day = households.facts_day(record)
    on = dt.date.fromisoformat(day) if day else local_today()
    return tiers.guarantees(record.get("properties") or {}, policy(), record["village_code"], on)


def checklist(record: dict, form: dict) -> list[dict] | None:
    current = ident.current(record)
    if current is None or current["step"] not in ("monitored", "elimination_reviewed"):
        return None
    return ident.elimination_checklist(current, local_today(), facts(record), form, deadlines(record["village_code"]))


def change(user: User, record: dict, what: str, apply: Callable[[dict], dict | None]) -> dict | None:
    """Change one household's identification with ``apply(record) -> ident | None`` (None: the
    action was applied already), save it, audit it. GuardRefused says why a step cannot be."""
    hid = record["household_id"]
    before = (ident.current(record) or {}).get("step")

    def edit(records: dict[str, dict]) -> dict | None:
        updated = apply(records[hid])
        if updated is not None:
            records[hid]["identification"] = updated
        return updated

    updated = household_store.update(couch(), [hid], edit, only_changed=True)
    if updated is not None:
        audit.record(couch(), user.name, what, hid, before={"step": before}, after={"step": updated["step"]})
        current_app.extensions["fangpin.readmodel"].note_households(household_store.load(couch(), [hid]).values())
    return updated


def record_step(user: User, record: dict, to: str, form: dict, key: str) -> dict | None:
    def apply(current: dict) -> dict | None:
        limits = deadlines(current["village_code"])
        listed = checklist(current, form) if to == "eliminated" else None
        return ident.advance(current, to, user.role, user.name, utc_now(), local_today(), form, key, limits, listed)

    return change(user, record, "household.identification", apply)


def record_measure(user: User, record: dict, form: dict, key: str) -> dict | None:
    def apply(current: dict) -> dict | None:
        catalogue = policy().for_county(current["village_code"][:6])["measures"]
        return ident.add_measure(current, user.role, form, catalogue, user.name, utc_now(), local_today(), key)

    return change(user, record, "household.measure", apply)


def summary(record: dict, user: User) -> dict[str, Any]:
    """A household's identification as its roles need it: no ID number, phone or health."""
    current = ident.current(record)
    upcoming = ident.next_step(current) if current else None
    props = record.get("properties") or {}
    tier = record.get("tier") or {}
    return {
        "household_id": record["household_id"],
        "village_code": record["village_code"],
        "head_name": props.get("head_name"),
        "size": len(props["members"]) if isinstance(props.get("members"), list) else None,
        "tier": tier.get("tier"),
        "rules": [r["id"] for r in tier.get("rules") or []],
        "identification": None if current is None else {
            k: current.get(k) for k in ("kind", "cycle", "step", "flagged_on", "due", "provisional", "category",
                                        "publicity_start", "announced_on", "monitored_on", "measures", "history")
        },
        "overdue": ident.overdue(current, local_today()),
        "owed": ident.owed(current) if current else [],
        "next_step": upcoming,
        "next_recorded_by": ident.WHO.get(upcoming) if upcoming else None,
        "mine": bool(upcoming) and ident.WHO.get(upcoming) == user.role,
    }  # fmt: skip


def next_of(row: dict) -> str | None:
    """The next step of a household row of the read model (its ``identification`` step and kind)."""
    step = row.get("identification")
    return ident.next_step({"kind": row.get("ident_kind") or "identification", "step": step}) if step else None


def _worker() -> User:
    user = require_user()
    if user.role not in WORKERS:
        raise forbidden("网格员账号不办理监测识别", "grid worker accounts do not record identification steps")
    return user


def _record(user: User, household_id: str) -> dict:
    try:
        return visible_record(user, household_id)
    except ApiError:
        raise not_found(f"没有找到农户 {household_id}", f"household {household_id} not found") from None


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not all(isinstance(v, str | int | float | bool) for v in body.values()):
        raise bad_request(
            "请求体须为只含文字、数字的 JSON 对象", "the body must be a JSON object of strings and numbers"
        )
    return {k: str(v) if not isinstance(v, bool) else ("1" if v else "") for k, v in body.items()}


def _key() -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not (8 <= len(key) <= 64 and key.isalnum()):
        raise bad_request(
            "请提供 Idempotency-Key（8-64位字母或数字）", "give an Idempotency-Key (8-64 letters or digits)"
        )
    return key


@bp.get("")
def list_identification():
    user = _worker()
    village, step, mine = request.args.get("village"), request.args.get("step"), bool(request.args.get("mine"))
    codes = [v.code for v in list_villages(couch()) if user.sees_village(v.code) and (not village or v.code == village)]
    model = current_app.extensions["fangpin.readmodel"]
    found = []
    for row in model.household_rows(codes):
        if not row.get("identification") or (step and row["identification"] != step):
            continue
        upcoming = next_of(row)
        if mine and ident.WHO.get(upcoming or "") != user.role:
            continue
        found.append({"household_id": row["id"], "village_code": row["village_code"], "head_name": row.get("head_name"),
                      "tier": row.get("tier"), "step": row["identification"], "due": row.get("ident_due"),
                      "next_step": upcoming, "next_recorded_by": ident.WHO.get(upcoming or "")})  # fmt: skip
    found.sort(key=lambda r: (r["due"] or "", r["household_id"]))
    return jsonify({"households": found, "total": len(found)})


@bp.get("/<household_id>")
def get_identification(household_id: str):
    user = _worker()
    record = _record(user, household_id)
    body = summary(record, user)
    body["elimination_checklist"] = checklist(record, {})
    return jsonify(body)


@bp.post("/<household_id>")
def post_step(household_id: str):
    return _post(household_id, lambda user, record, form, key: record_step(user, record, form.get("to", ""), form, key))


@bp.post("/<household_id>/measures")
def post_measure(household_id: str):
    return _post(household_id, record_measure)


def _post(household_id: str, save: Callable[[User, dict, dict, str], dict | None]):
    """Record with ``save``; a refusal is 409 with its reason; the answer is the household's summary."""
    user = _worker()
    record = _record(user, household_id)
    form, key = _body(), _key()
    try:
        save(user, record, form, key)
    except ident.GuardRefused as exc:
        raise ApiError(409, "refused", exc.zh, exc.en) from None
    hid = record["household_id"]
    return jsonify(summary(household_store.load(couch(), [hid])[hid], user))
