"""JSON API, ``/api/v1``: health, session login, the caller's profile, submissions.

Submission listings read the server-written ``review:`` docs of the villages the caller may see;
a review carries everything the listing needs, so the tablet-owned submission is not touched.
Issue values (which may contain an ID number) are not part of these responses.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request, session

from sync import names
from sync.couch import Couch, CouchError
from sync.worker import lag

from .accounts import User, list_villages
from .auth import login, require_user
from .errors import bad_request, forbidden, not_found
from .gateway import sync_databases
from .review import STATES

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def couch() -> Couch:
    return current_app.extensions["fangpin.couch"].admin


def visible_villages(user: User) -> list[str]:
    if user.role == "field":
        return list(user.villages)
    return [v.code for v in list_villages(couch()) if user.sees_village(v.code)]


@bp.get("/health")
def health():
    cache = current_app.extensions["fangpin.health"]
    if time.monotonic() - cache.get("at", 0) > 2.0:  # many probes must not mean many sweeps
        try:
            couch().server_info()
            cache.update(body={"status": "ok", "couchdb": "ok", "worker": {"lag": lag(couch())}}, code=200)
        except CouchError as exc:
            cache.update(
                body={
                    "status": "degraded",
                    "couchdb": "unavailable",
                    "worker": {"lag": None},
                    "reason": exc.reason[:200],
                },
                code=503,
            )
        cache["at"] = time.monotonic()
    return jsonify(cache["body"]), cache["code"]


@bp.post("/session")
def create_session():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not isinstance(body.get("password"), str):
        raise bad_request(
            '请求体须为 {"name": "...", "password": "..."}', 'the body must be {"name": "...", "password": "..."}'
        )
    user = login(body["name"], body["password"])
    session.clear()
    session["user"] = user.name
    session.permanent = True
    return jsonify(profile(user))


@bp.delete("/session")
def delete_session():
    session.clear()
    return jsonify({"ok": True})


@bp.get("/me")
def me():
    return jsonify(profile(require_user()))


def profile(user: User) -> dict:
    return {
        "name": user.name,
        "role": user.role,
        "villages": visible_villages(user),
        "township": user.township,
        "sync": {"url": request.host_url + "sync/", "databases": sync_databases(user)},
    }


def submission_view(review: dict) -> dict:
    return {
        "id": names.doc_id_suffix(review["submission_id"]),
        "form_id": review.get("form_id"),
        "form_version": review.get("form_version"),
        "village_code": review.get("village_code"),
        "household_id": review.get("household_id"),
        "submitted_by": review.get("submitted_by"),
        "state": review.get("state"),
        "completed_at": review.get("completed_at"),
        "received_at": review.get("received_at"),
        "issues": [{k: i.get(k) for k in ("path", "code", "severity", "message")} for i in review.get("issues", [])],
    }


@bp.get("/submissions")
def list_submissions():
    user = require_user()
    villages = visible_villages(user)
    village, state = request.args.get("village"), request.args.get("state")
    if village:
        if not names.is_village_code(village):
            raise bad_request("village 须为12位村代码", "village must be a 12-digit village code")
        if village not in villages:
            raise forbidden(f"无权查看村 {village}", f"you may not see village {village}")
        villages = [village]
    if state and state not in STATES:
        raise bad_request(f"state 须为 {', '.join(STATES)} 之一", f"state must be one of {', '.join(STATES)}")
    selector: dict = {"type": "review"}
    if state:
        selector["state"] = state
    items = []
    for code in villages:
        try:
            reviews = couch().find(names.village_db(code), selector, limit=100_000)
        except CouchError as exc:
            if exc.status == 404:
                continue
            raise
        items.extend(submission_view(r) for r in reviews)
    items.sort(key=lambda s: (s.get("received_at") or "", s["id"]))
    return jsonify({"submissions": items, "total": len(items)})


@bp.get("/submissions/<uuid>")
def get_submission(uuid: str):
    user = require_user()
    doc_id = f"review:{uuid}"
    for code in visible_villages(user):
        try:
            review = couch().get(names.village_db(code), doc_id)
        except CouchError as exc:
            if exc.status == 404:
                continue
            raise
        if review:
            return jsonify(submission_view(review))
    raise not_found(f"没有找到提交记录 {uuid}（或尚未处理）", f"submission {uuid} not found (or not processed yet)")
