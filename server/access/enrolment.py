"""Setting up tablets in bulk without handing out passwords: enrolment tokens and device credentials.

A clerk (or ``fangpin users enrol``) makes a short-lived, single-use token for a grid worker and
shows it as a QR code with the sync URL, the user and the databases (:mod:`server.web.qr`). The
tablet exchanges it once (``POST /api/v1/enrol``) for a credential of its own — the user name and
a password ``device.<device id>.<secret>`` — which the gateway accepts like the account password
and which can be revoked for that one device. Only digests of tokens and secrets are stored
(``enrol:<digest>``, ``device:<user>:<device id>`` in ``fp_accounts``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from server.access.accounts import DEVICE_ID, DEVICE_PREFIX, User, get_user
from server.access.accounts import secret_digest as digest
from server.refusals import BilingualError
from sync import audit, names
from sync.couch import Couch, CouchError

DEFAULT_TTL_MIN = 15


class EnrolmentError(BilingualError):
    def __init__(self, status: int, zh: str, en: str) -> None:
        super().__init__(zh, en)
        self.status = status


@dataclass(frozen=True)
class Enrolment:
    token: str
    user: User
    expires_at: str


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create(admin: Couch, name: str, by: str, now: dt.datetime, ttl_min: int = DEFAULT_TTL_MIN) -> Enrolment:
    user = get_user(admin, name)
    if user is None or user.role != "field" or user.disabled:
        raise EnrolmentError(404, f"没有可用的网格员账号 {name}", f"no active field account {name}")
    if not 1 <= ttl_min <= 7 * 24 * 60:
        raise EnrolmentError(400, "有效期须为1分钟到7天", "the lifetime must be 1 minute to 7 days")
    token = secrets.token_urlsafe(24)
    expires = _iso(now + dt.timedelta(minutes=ttl_min))
    admin.put(
        names.ACCOUNTS,
        {"_id": f"enrol:{digest(token)}", "type": "enrolment", "user": name, "by": by, "created_at": _iso(now),
         "expires_at": expires, "used_at": None},
    )  # fmt: skip
    audit.record(admin, by, "device.enrolment", f"user:{name}", after={"expires_at": expires})
    return Enrolment(token, user, expires)


def redeem(admin: Couch, token: str, device_id: str, label: str, now: dt.datetime) -> tuple[User, str]:
    """Exchange a token (once, before it expires) for this device's password."""
    if not DEVICE_ID.match(device_id or ""):
        raise EnrolmentError(
            400, "device_id 须为1-40位字母、数字、_ 或 -", "device_id must be 1-40 letters, digits, _ or -"
        )
    doc = admin.get(names.ACCOUNTS, f"enrol:{digest(token or '')}")
    if doc is None:
        raise EnrolmentError(404, "入网码无效", "unknown enrolment code")
    if doc.get("used_at"):
        raise EnrolmentError(409, "入网码已使用过，请重新生成", "this enrolment code was used already; make a new one")
    if _iso(now) >= doc["expires_at"]:
        raise EnrolmentError(410, "入网码已过期，请重新生成", "this enrolment code has expired; make a new one")
    try:  # single use even when two tablets race: the second write conflicts
        admin.put(names.ACCOUNTS, {**doc, "used_at": _iso(now), "device_id": device_id})
    except CouchError as exc:
        if exc.status == 409:
            raise EnrolmentError(409, "入网码已使用过，请重新生成", "this enrolment code was used already") from None
        raise
    user = get_user(admin, doc["user"])
    if user is None or user.disabled:
        raise EnrolmentError(404, "账号已停用", "the account is disabled")
    secret = secrets.token_urlsafe(32)
    device_doc_id = f"device:{user.name}:{device_id}"
    current = admin.get(names.ACCOUNTS, device_doc_id)
    device = {"_id": device_doc_id, "type": "device", "user": user.name, "device_id": device_id, "label": label[:100],
              "secret_sha256": digest(secret), "enrolled_at": _iso(now), "revoked_at": None}  # fmt: skip
    if current:
        device["_rev"] = current["_rev"]
    admin.put(names.ACCOUNTS, device)
    audit.record(admin, user.name, "device.enrolled", device_doc_id, after={"label": device["label"]})
    return user, f"{DEVICE_PREFIX}{device_id}.{secret}"


def sign_in(admin: Couch, user: User, device_id: str, label: str, now: dt.datetime) -> str:
    """A grid worker who signed in on the field app with their password: the device gets its own
    credential at once (a token made and redeemed in one step, both audited), so the app never has
    to keep the password."""
    if user.role != "field" or user.disabled:
        raise EnrolmentError(
            403, "只有网格员账号可以登录平板应用", "only grid worker (field) accounts use the field app"
        )
    return redeem(admin, create(admin, user.name, user.name, now, ttl_min=1).token, device_id, label, now)[1]


TELEMETRY = {"app_version": str, "last_sync": str, "pending": int, "storage_bytes": int, "last_error": str}


def report(admin: Couch, name: str, device_id: str, telemetry: dict, now: dt.datetime) -> dict:
    """A device's own report (app version, last sync, pending count, storage used, last error): kept on
    its ``device:`` doc for the clerk's 平板 page. Answers the clerk's resync flag; a report that says
    the device resynced since the flag was set clears it."""
    doc_id = f"device:{name}:{device_id}"
    for _ in range(5):
        doc = admin.get(names.ACCOUNTS, doc_id)
        if doc is None or doc.get("revoked_at"):
            raise EnrolmentError(404, f"没有设备 {device_id}", f"no device {device_id}")
        kept = {k: telemetry[k] for k, kind in TELEMETRY.items() if isinstance(telemetry.get(k), kind)}
        kept = {k: v[:300] if isinstance(v, str) else v for k, v in kept.items()}
        flag = doc.get("resync_requested_at")
        resynced = telemetry.get("resynced_at")
        if flag and isinstance(resynced, str) and resynced >= flag:
            flag = None
        try:
            admin.put(names.ACCOUNTS, {**doc, "telemetry": kept, "seen_at": _iso(now), "resync_requested_at": flag})
        except CouchError as exc:
            if exc.status == 409:
                continue
            raise
        return {"resync": bool(flag), "resync_requested_at": flag}
    raise EnrolmentError(409, "设备记录正被修改，请重试", "the device record kept changing; try again")


def request_resync(admin: Couch, name: str, device_id: str, by: str, now: dt.datetime) -> None:
    """A clerk asks one tablet to drop its local copy of the village data and pull it again (after
    pushing everything it holds: nothing unsent is dropped)."""
    doc = admin.get(names.ACCOUNTS, f"device:{name}:{device_id}")
    if doc is None or doc.get("revoked_at"):
        raise EnrolmentError(404, f"没有设备 {device_id}", f"no device {device_id}")
    admin.put(names.ACCOUNTS, {**doc, "resync_requested_at": _iso(now)})
    audit.record(admin, by, "device.resync", doc["_id"])


def devices(admin: Couch, name: str) -> list[dict]:
    return [
        {
            k: d.get(k)
            for k in ("device_id", "label", "enrolled_at", "revoked_at", "telemetry", "seen_at", "resync_requested_at")
        }
        for d in admin.iter_prefix(names.ACCOUNTS, f"device:{name}:")
    ]


def revoke(admin: Couch, name: str, device_id: str, by: str, now: dt.datetime) -> bool:
    doc = admin.get(names.ACCOUNTS, f"device:{name}:{device_id}")
    if doc is None:
        raise EnrolmentError(404, f"没有设备 {device_id}", f"no device {device_id}")
    if doc.get("revoked_at"):
        return False
    admin.put(names.ACCOUNTS, {**doc, "revoked_at": _iso(now)})
    audit.record(admin, by, "device.revoked", doc["_id"])
    return True
