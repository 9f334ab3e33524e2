"""Household records in the JSON API: list, read, resolve a conflict, merge or dismiss duplicates.

Reads come from ``fp_cases``. Clerks and admins see ID and phone numbers whole: comparing them is
their work here (choosing between two phones, merging two households with one head). A field
user, whose tablet already holds the village, gets them masked from the API. Every change goes through
:func:`server.pipeline.household_store.update` (reload and redo on a concurrent write), publishes the
village ``household:`` docs so tablets see it at their next pull, and is audited.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from server.access.accounts import User, list_villages
from server.casework.privacy import masked
from server.casework.tiers import retier
from server.households import model as households
from server.pipeline import household_store
from server.validation.submission import local_today
from server.web.api import asked_villages, require_csrf_for_cookies
from server.web.auth import require_record_reader, require_user
from server.web.errors import ApiError, bad_request, forbidden, not_found
from sync import audit, names
from sync.clock import utc_now
from sync.couch import Couch

bp = Blueprint("households", __name__, url_prefix="/api/v1/households")
summary_bp = Blueprint("summary", __name__, url_prefix="/api/v1")
bp.before_request(require_csrf_for_cookies)
summary_bp.before_request(require_csrf_for_cookies)

CONFLICT_FILTERS = {"hard": "hard", "soft": "soft", "any": {"$ne": None}, "none": None}
SUMMARY_FIELDS = [
    "household_id",
    "village_code",
    "version",
    "conflict",
    "conflicting_properties",
    "duplicates",
    "tier.tier",
    "tier.deadline",
    "tier.provisional",
]
TIER_FILTERS = {"high": "high", "medium": "medium", "low": "low", "none": None}


def couch() -> Couch:
    return current_app.extensions["fangpin.couch"].admin


@bp.get("")
def list_households():
    user = require_record_reader()
    villages = asked_villages(user)
    selector: dict[str, Any] = {"type": "household", "village_code": {"$in": villages}, "merged_into": None}
    conflict = request.args.get("conflict")
    if conflict is not None:
        if conflict not in CONFLICT_FILTERS:
            raise bad_request("conflict 须为 hard、soft、any 或 none", "conflict must be one of hard, soft, any, none")
        selector["conflict"] = CONFLICT_FILTERS[conflict]
    tier = request.args.get("tier")
    if tier is not None:
        if tier not in TIER_FILTERS:
            raise bad_request("tier 须为 high、medium、low 或 none", "tier must be one of high, medium, low, none")
        if tier == "none":  # never assessed (a roster household nobody surveyed) or no damage survey
            selector["$or"] = [{"tier.tier": None}, {"tier": {"$exists": False}}]
        else:
            selector["tier.tier"] = tier
    limit, skip = _int_arg("limit", 1000, 1, 10_000), _int_arg("skip", 0, 0, 10_000_000)
    docs = couch().find(
        names.CASES,
        selector,
        limit=limit,
        skip=skip,
        fields=[*SUMMARY_FIELDS, "properties.head_name", "properties.category"],
    )
    items = [
        {
            "id": d["household_id"],
            "village_code": d["village_code"],
            "version": d["version"],
            "head_name": d.get("properties", {}).get("head_name"),
            "category": d.get("properties", {}).get("category"),
            "conflict": d.get("conflict"),
            "conflicting_properties": d.get("conflicting_properties", []),
            "duplicates": [x for x in d.get("duplicates", []) if x.get("status") == "open"],
            "tier": (d.get("tier") or {}).get("tier"),
            "deadline": (d.get("tier") or {}).get("deadline"),
            "provisional": (d.get("tier") or {}).get("provisional", True),
        }
        for d in docs
    ]
    items.sort(key=lambda h: h["id"])
    return jsonify({"households": items, "total": len(items), "limit": limit, "skip": skip})


@summary_bp.get("/summary")
def summary():
    """Per village: households by tier, overdue deadlines, provisional tiers, conflicts, duplicates."""
    user = require_user()
    if user.role not in ("clerk", "admin"):
        raise forbidden("只有乡镇工作人员可以查看汇总", "only township clerks can see the summary")
    township = request.args.get("township") or user.township
    if not township or not re.fullmatch(r"\d{9}", township):
        raise bad_request("township 须为9位乡镇代码", "township must be a 9-digit township code")
    villages = [v for v in list_villages(couch()) if v.code.startswith(township) and user.sees_village(v.code)]
    if not villages and user.role == "clerk" and township != user.township:
        raise forbidden(f"无权查看乡镇 {township}", f"you may not see township {township}")
    today = local_today().isoformat()
    docs = couch().find(
        names.CASES,
        {"type": "household", "village_code": {"$in": [v.code for v in villages]}, "merged_into": None},
        limit=10_000_000,
        fields=["village_code", "tier.tier", "tier.deadline", "tier.provisional", "conflict", "duplicates"],
    )
    rows = {v.code: _summary_row(v.code, v.name) for v in villages}
    for d in docs:
        row = rows[d["village_code"]]
        tier = (d.get("tier") or {}).get("tier")
        row["households"] += 1
        row["tiers"][tier or "none"] += 1
        deadline = (d.get("tier") or {}).get("deadline")
        if tier in ("high", "medium") and deadline and deadline < today:
            row["overdue"] += 1
        if tier and (d.get("tier") or {}).get("provisional", True):
            row["provisional"] += 1
        if d.get("conflict"):
            row["conflicts"][d["conflict"]] += 1
        row["duplicates"] += sum(1 for x in d.get("duplicates", []) if x.get("status") == "open")
    totals = _summary_row(township, None)
    for row in rows.values():
        for key in ("households", "overdue", "provisional", "duplicates"):
            totals[key] += row[key]
        for group in ("tiers", "conflicts"):
            for key, value in row[group].items():
                totals[group][key] += value
    del totals["village_code"], totals["name"]
    return jsonify({"township": township, "date": today, "villages": list(rows.values()), "totals": totals})


def _summary_row(code: str, name: str | None) -> dict:
    return {
        "village_code": code,
        "name": name,
        "households": 0,
        "tiers": {"high": 0, "medium": 0, "low": 0, "none": 0},
        "overdue": 0,
        "provisional": 0,
        "conflicts": {"hard": 0, "soft": 0},
        "duplicates": 0,
    }


@bp.get("/<household_id>")
def get_household(household_id: str):
    user = require_record_reader()
    return jsonify(view(visible_record(user, household_id), _may_see_numbers(user)))


@bp.post("/<household_id>/resolve")
def resolve(household_id: str):
    user = _clerk()
    body = _body()
    record = visible_record(user, household_id)
    values = body.get("values", {})
    if not isinstance(values, dict):
        raise bad_request("values 须为对象 {属性: 值}", "values must be an object {property: value}")
    expected = body.get("version")
    if expected is not None and (not isinstance(expected, int) or isinstance(expected, bool)):
        raise bad_request("version 须为整数", "version must be an integer")
    return jsonify(view(resolve_record(user, record, values, expected, _key()), True))


def resolve_record(user: User, record: dict, values: dict, expected: int | None, key: str) -> dict:
    """A clerk settles a household's conflicts, choosing ``values``; the API and the clerk app both call this."""
    unknown = sorted(set(values) - known_properties(record))
    if unknown:
        raise bad_request(
            f"该户没有这些属性：{', '.join(unknown)}",
            f"the household has no such properties: {', '.join(unknown)}",
            properties=unknown,
        )
    event_id = f"resolution:{key}"
    hid = record["household_id"]
    before = {"conflict": record["conflict"], "conflicting_properties": record["conflicting_properties"]}

    def change(records: dict[str, dict]) -> dict:
        current = records[hid]
        if households.has_applied(current, event_id):
            return current
        if expected is not None and current["version"] != expected:
            raise ApiError(
                409,
                "conflict",
                f"该户已更新到第 {current['version']} 版（您看到的是第 {expected} 版），请刷新后再处理",
                f"the household is at version {current['version']} now (you saw {expected}); reload and try again",
                version=current["version"],
            )
        households.resolve(current, values, user.name, utc_now(), event_id)
        _retier(current, event_id, "resolution")
        return current

    updated = household_store.update(couch(), [hid], change)
    after = {"conflict": updated["conflict"], "version": updated["version"], "values": masked(values)}
    audit.record(couch(), user.name, "household.resolve", hid, before=before, after=after, key=event_id)
    _noted([updated])
    return updated


@bp.post("/<household_id>/merge")
def merge(household_id: str):
    user = _clerk()
    body = _body()
    record = visible_record(user, household_id)
    other = other_record(user, body.get("other"), record)
    values = body.get("values", {})
    if not isinstance(values, dict):
        raise bad_request("values 须为两户已有属性的 {属性: 值}", "values must map properties of the two households")
    return jsonify(view(merge_records(user, record, other, values, _key()), True))


def merge_records(user: User, record: dict, other: dict, values: dict, key: str) -> dict:
    """Fold ``other`` into ``record`` (one village), keeping both histories; API and clerk app."""
    if set(values) - known_properties(record) - known_properties(other):
        raise bad_request("values 须为两户已有属性的 {属性: 值}", "values must map properties of the two households")
    if other["village_code"] != record["village_code"]:
        raise ApiError(
            409,
            "conflict",
            "只能合并同一村的两户；跨村的重复户请先核实户籍",
            "only households of one village can be merged; check the registration of a cross-village duplicate",
        )
    hid, oid = record["household_id"], other["household_id"]
    if names.ROSTER_HOUSEHOLD.match(oid) and not names.ROSTER_HOUSEHOLD.match(hid):
        # the roster's number is the household's official one: a provisional id never replaces it
        raise ApiError(
            409,
            "conflict",
            f"花名册上的户 {oid} 不能并入临时编号的户：请把 {hid} 合并到 {oid}",
            f"the roster household {oid} cannot be merged into a provisional one: merge {hid} into {oid}",
        )
    event_id = f"merge:{key}"

    def change(records: dict[str, dict]) -> dict:
        survivor, gone = records[hid], records[oid]
        if households.has_applied(survivor, event_id):
            return survivor
        if gone.get("merged_into") or survivor.get("merged_into"):
            raise ApiError(409, "conflict", "其中一户已被合并", "one of the households was merged meanwhile")
        households.merge(survivor, gone, user.name, utc_now(), event_id, values)
        _retier(survivor, event_id, "merge")
        return survivor

    updated = household_store.update(couch(), [hid, oid], change)
    audit.record(
        couch(),
        user.name,
        "household.merge",
        hid,
        before={"other": oid},
        after={"version": updated["version"]},
        key=event_id,
    )
    audit.record(couch(), user.name, "household.merged_into", oid, after={"into": hid}, key=event_id)
    current_app.extensions["fangpin.readmodel"].note_households(household_store.load(couch(), [hid, oid]).values())
    return updated


@bp.post("/<household_id>/dismiss")
def dismiss(household_id: str):
    """Not a duplicate: the pair stays dismissed on both households (extends the issue's contract)."""
    user = _clerk()
    record = visible_record(user, household_id)
    other = other_record(user, _body().get("other"), record)
    return jsonify(view(dismiss_pair(user, record, other), True))


def dismiss_pair(user: User, record: dict, other: dict) -> dict:
    hid, oid = record["household_id"], other["household_id"]
    at = utc_now()

    def change(records: dict[str, dict]) -> bool:
        first = households.dismiss_duplicate(records[hid], oid, user.name, at)
        second = households.dismiss_duplicate(records[oid], hid, user.name, at)
        return first or second

    if not household_store.update(couch(), [hid, oid], change):
        raise ApiError(
            409, "conflict", f"{hid} 与 {oid} 不是待处理的疑似重复户", f"{hid} and {oid} are not an open duplicate pair"
        )
    audit.record(couch(), user.name, "household.dismiss_duplicate", hid, after={"other": oid})
    loaded = household_store.load(couch(), [hid, oid])
    _noted(loaded.values())
    return loaded[hid]


# -- views --------------------------------------------------------------------------------------
def view(record: dict, whole_numbers: bool) -> dict:
    """The API shape of a household record; ID and phone numbers masked unless ``whole_numbers``."""
    active = {e["id"] for e in households.active_events(record["events"], record.get("rejected"))}
    body = {
        "id": record["household_id"],
        "village_code": record["village_code"],
        "version": record["version"],
        "source": record.get("source"),
        "properties": record["properties"],
        "conflict": record["conflict"],
        "conflicting_properties": record["conflicting_properties"],
        "conflicts": record.get("conflicts", []),
        "history": [_history_entry(e, e["id"] in active) for e in record["events"]],
        "duplicates": record.get("duplicates", []),
        "aliases": record.get("aliases", []),
        "base_properties": record["bases"].get(record["household_id"], {}),
        **household_store.tier_fields(record.get("tier")),
        "flagged_on": (record.get("tier") or {}).get("flagged_on"),
        "missing": (record.get("tier") or {}).get("missing", []),
        "tier_history": record.get("tier_history", []),
        "masked": not whole_numbers,
    }
    return body if whole_numbers else masked(body)


def _history_entry(event: dict, active: bool) -> dict:
    entry = {
        k: event.get(k)
        for k in (
            "version",
            "kind",
            "origin",
            "submission_id",
            "submission_rev",
            "form_id",
            "base_household",
            "base_version",
            "by",
            "device_id",
            "device_seq",
            "completed_at",
            "received_at",
            "changed",
            "previous",
            "merged",
        )
        if k in event
    }
    entry["id"] = event["id"]
    entry["active"] = active  # False: an older revision of a submission, kept for the record
    return entry


def known_properties(record: dict) -> set[str]:
    names_: set[str] = set(record["properties"])
    for base in record["bases"].values():
        names_ |= set(base)
    for event in record["events"]:
        names_ |= set(event.get("changed", {}))
    return names_


# -- request helpers ----------------------------------------------------------------------------
def _noted(records: Iterable[dict]) -> None:
    """This process's clerk screens see the change at once (others within a second)."""
    current_app.extensions["fangpin.readmodel"].note_households(records)


def visible_record(user: User, household_id: str) -> dict:
    """The current record of a household (following aliases and merges) the user may see; 404 else."""
    missing = not_found(f"没有找到户 {household_id}", f"household {household_id} not found")
    if not names.is_household_id(household_id):
        raise missing
    canonical = household_store.resolve_id(couch(), household_id)
    record = household_store.load(couch(), [canonical]).get(canonical) if canonical else None
    if record is None or not user.sees_village(record["village_code"]):
        raise missing  # another township's household is not even confirmed to exist
    return record


def other_record(user: User, other_id: Any, record: dict) -> dict:
    if not isinstance(other_id, str):
        raise bad_request('请求体须包含 "other"：另一户的户编号', 'the body must name the other household as "other"')
    other = visible_record(user, other_id)
    if other["household_id"] == record["household_id"]:
        raise bad_request("不能与自身合并", "a household cannot be merged with itself")
    return other


def _retier(record: dict, event_id: str, kind: str) -> None:
    """A clerk's change of properties changes the tier at once, with the change as its cause."""
    policy = current_app.extensions["fangpin.policies"].get()
    retier(record, policy, local_today(), utc_now(), {"event": event_id, "kind": kind})


def _clerk() -> User:
    user = require_user()
    if user.role not in ("clerk", "admin"):
        raise forbidden("只有乡镇工作人员可以处理户记录", "only township clerks can change household records")
    return user


def _may_see_numbers(user: User) -> bool:
    return user.role in ("clerk", "admin")


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("请求体须为 JSON 对象", "the body must be a JSON object")
    return body


def _key() -> str:
    """A client-chosen ``Idempotency-Key`` makes a retried request a no-op; else a fresh id."""
    key = request.headers.get("Idempotency-Key", "")
    return key if key and len(key) <= 100 and key.isprintable() else uuid.uuid4().hex


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise bad_request(f"{name} 须为 {low} 到 {high} 的整数", f"{name} must be an integer from {low} to {high}")
    return int(raw)
