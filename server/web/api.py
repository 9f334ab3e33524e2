"""JSON API, ``/api/v1``: health, session login, the caller's profile, submissions.

Submission listings read the server-written ``review:`` docs of the villages the caller may see;
a review carries everything the listing needs, so the tablet-owned submission is not touched.
Issue values (which may contain an ID number) are not part of these responses.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import time
import uuid

from flask import Blueprint, current_app, g, jsonify, request, session

from server.access import enrolment
from server.access.accounts import DEVICE_PREFIX, User, list_villages
from server.casework.review import STATES, ActionRefused
from server.pipeline import review_actions
from server.pipeline.worker import lag
from server.web import csrf
from server.web.auth import end_session, login, require_record_reader, require_user, start_session
from server.web.errors import ApiError, bad_request, forbidden, not_found
from server.web.gateway import sync_databases
from sync import names
from sync.couch import Couch, CouchError

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def require_csrf_for_cookies() -> None:
    """A browser session (cookie) changing something must send the session's CSRF token in
    ``X-CSRF-Token`` (from ``/api/v1/me``); Basic-auth clients (tablets, scripts) need none."""
    if g.get("auth_via") != "session" or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.path == "/api/v1/session":
        return
    sent, expected = request.headers.get(csrf.HEADER, ""), session.get(csrf.FIELD, "")
    if not expected or not hmac.compare_digest(sent, expected):
        raise forbidden(
            "缺少或错误的 X-CSRF-Token（见 /api/v1/me 的 csrf_token）",
            "missing or wrong X-CSRF-Token header (csrf_token of /api/v1/me)",
        )


bp.before_request(require_csrf_for_cookies)


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
    # a tablet's own credential: the session ends with it
    device = body["password"].split(".", 2)[1] if body["password"].startswith(DEVICE_PREFIX) else None
    start_session(user, device)
    g.auth_via = "session"
    return jsonify(profile(user))


@bp.delete("/session")
def delete_session():
    end_session()
    return jsonify({"ok": True})


@bp.get("/me")
def me():
    return jsonify(profile(require_user()))


def profile(user: User) -> dict:
    extra = {"csrf_token": csrf.token()} if g.get("auth_via") == "session" or "sid" in session else {}
    return {
        **extra,
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


def asked_villages(user: User) -> list[str]:
    """The villages a listing covers: the one ``?village=`` names, which the user must see, or all
    the user sees."""
    villages = visible_villages(user)
    village = request.args.get("village")
    if village:
        if not names.is_village_code(village):
            raise bad_request("village 须为12位村代码", "village must be a 12-digit village code")
        if village not in villages:
            raise forbidden(f"无权查看村 {village}", f"you may not see village {village}")
        villages = [village]
    return villages


@bp.get("/submissions")
def list_submissions():
    user = require_record_reader()
    villages = asked_villages(user)
    state = request.args.get("state")
    if state and state not in STATES:
        raise bad_request(f"state 须为 {', '.join(STATES)} 之一", f"state must be one of {', '.join(STATES)}")
    selector: dict = {"type": "review"}
    if state:
        selector["state"] = state
    if user.role == "field":  # a grid worker sees their own surveys, never a colleague's
        selector["submitted_by"] = user.name
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
    user = require_record_reader()
    doc_id = f"review:{uuid}"
    for code in visible_villages(user):
        try:
            review = couch().get(names.village_db(code), doc_id)
        except CouchError as exc:
            if exc.status == 404:
                continue
            raise
        if review and (user.role != "field" or review.get("submitted_by") == user.name):
            return jsonify(submission_view(review))
    raise not_found(f"没有找到提交记录 {uuid}（或尚未处理）", f"submission {uuid} not found (or not processed yet)")


def _device_answer(user: User, device_id: str, password: str):
    """What a tablet keeps after enrolment or sign-in: its own credential and where to sync."""
    return jsonify(
        {
            "user": user.name,
            "device_id": device_id,
            "password": password,
            "sync": {"url": request.host_url + "sync/", "databases": sync_databases(user)},
        }
    )


@bp.post("/enrol")
def enrol():
    """A tablet exchanges its enrolment code (from the QR) once for a credential of its own:
    ``{"token", "device_id", "label"}`` → ``{"user", "device_id", "password", "sync"}``."""
    body = request.get_json(silent=True)
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("token"), str)
        or not isinstance(body.get("device_id"), str)
    ):
        raise bad_request(
            '请求体须为 {"token": "...", "device_id": "..."}', 'the body must be {"token": "...", "device_id": "..."}'
        )
    try:
        user, password = enrolment.redeem(
            couch(), body["token"], body["device_id"], str(body.get("label") or ""), dt.datetime.now(dt.UTC)
        )
    except enrolment.EnrolmentError as exc:
        raise ApiError(exc.status, "enrolment", exc.zh, exc.en) from None
    return _device_answer(user, body["device_id"], password)


@bp.post("/devices")
def sign_in_device():
    """The field app's sign-in: ``{"name", "password", "device_id", "label"}`` → the same answer as
    ``/enrol``. The password is checked (lock-out included) and exchanged for this device's own
    credential; a device credential cannot make another one."""
    body = request.get_json(silent=True)
    fields = ("name", "password", "device_id")
    if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in fields):
        raise bad_request(
            '请求体须为 {"name": "...", "password": "...", "device_id": "..."}',
            'the body must be {"name": "...", "password": "...", "device_id": "..."}',
        )
    if body["password"].startswith(DEVICE_PREFIX):
        raise forbidden(
            "请用账号密码登录，设备凭据不能登记新设备",
            "sign in with the password; a device credential cannot enrol another device",
        )
    user = login(body["name"], body["password"])
    try:
        password = enrolment.sign_in(
            couch(), user, body["device_id"], str(body.get("label") or ""), dt.datetime.now(dt.UTC)
        )
    except enrolment.EnrolmentError as exc:
        raise ApiError(exc.status, "enrolment", exc.zh, exc.en) from None
    return _device_answer(user, body["device_id"], password)


@bp.put("/devices/<device_id>/telemetry")
def device_telemetry(device_id: str):
    """A tablet's report, sent with its own device credential: ``{"app_version", "last_sync",
    "pending", "storage_bytes", "last_error", "resynced_at"}`` → ``{"resync": bool}``."""
    user = require_user()
    auth = request.authorization
    credential = auth.password if auth and auth.type == "basic" else ""
    if user.role != "field" or not (credential or "").startswith(f"{DEVICE_PREFIX}{device_id}."):
        raise forbidden("只有该设备本身可以报告其状态", "only the device itself reports its state")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad_request("请求体须为 JSON 对象", "the body must be a JSON object")
    try:
        answer = enrolment.report(couch(), user.name, device_id, body, dt.datetime.now(dt.UTC))
    except enrolment.EnrolmentError as exc:
        raise ApiError(exc.status, "device", exc.zh, exc.en) from None
    return jsonify(answer)


@bp.post("/submissions/review")
def review_submissions():
    """A clerk's decision on one or many submissions: ``{"ids": [...], "action": "approve|reject|return",
    "comment": "...", "revisions": {"<uuid>": "<submission rev seen>"}}`` (a revision that moved since
    is refused, 409 when nothing was done); an ``Idempotency-Key`` header (8–64 letters or digits) makes a retry a no-op
    and names the action for ``/submissions/undo``. Answers one result per id."""
    user = require_user()
    body = request.get_json(silent=True)
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise bad_request(
            '请求体须为 {"ids": ["<uuid>", ...], "action": "approve|reject|return", "comment": "..."}',
            'the body must be {"ids": ["<uuid>", ...], "action": "approve|reject|return", "comment": "..."}',
        )
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise bad_request("comment 须为文字", "comment must be a string")
    seen = body.get("revisions", {})
    if not isinstance(seen, dict) or not all(isinstance(v, str) for v in seen.values()):
        raise bad_request(
            'revisions 须为 {"<uuid>": "<看到的提交版本>"}', 'revisions must be {"<uuid>": "<the submission rev seen>"}'
        )
    key = _action_key()
    outcomes = _decide(
        lambda model, policy: review_actions.act(
            couch(), model, policy, user, visible_villages(user), ids, str(body.get("action")), comment, key, seen
        )
    )
    moved = [o for o in outcomes if not o.ok and o.error == "moved"]
    status = 409 if moved and not any(o.ok for o in outcomes) else 200
    return jsonify({"key": key, "results": [o.json() for o in outcomes]}), status


@bp.post("/submissions/undo")
def undo_review():
    """Take back the action ``{"key": "..."}`` (the caller's own) where nothing happened since."""
    user = require_user()
    body = request.get_json(silent=True)
    key = body.get("key") if isinstance(body, dict) else None
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise bad_request('请求体须为 {"key": "<操作的键>"}', 'the body must be {"key": "<the action key>"}')
    outcomes = _decide(
        lambda model, policy: review_actions.undo_action(couch(), model, policy, user, visible_villages(user), key)
    )
    return jsonify({"key": key, "results": [o.json() for o in outcomes]})


_KEY = re.compile(r"[A-Za-z0-9]{8,64}")


def _action_key() -> str:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return uuid.uuid4().hex
    if not _KEY.fullmatch(key):
        raise bad_request(
            "Idempotency-Key 须为 8 到 64 个字母或数字", "Idempotency-Key must be 8 to 64 letters or digits"
        )
    return key


def _decide(run):
    try:
        return run(current_app.extensions["fangpin.readmodel"], current_app.extensions["fangpin.policies"].get())
    except ActionRefused as exc:
        if exc.code == "forbidden":
            raise forbidden(exc.zh, exc.en) from None
        raise ApiError(404 if exc.code == "not_found" else 400, exc.code, exc.zh, exc.en) from None
