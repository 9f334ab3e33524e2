"""Fangpin accounts and villages, kept in the server-only ``fp_accounts`` database.

CouchDB itself knows only the server's admin and the gateway account; grid workers, clerks and
admins are Fangpin accounts. Passwords are stored as scrypt hashes (werkzeug's default, stronger
than PBKDF2). Checking scrypt costs tens of milliseconds, and a syncing tablet sends many
requests, so successful checks are remembered briefly under a keyed digest of the password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

from werkzeug.security import check_password_hash, generate_password_hash

from server.access.lockout import Lockout
from server.refusals import BilingualError
from sync import names
from sync.audit import record
from sync.clock import utc_now
from sync.couch import Couch
from sync.fresh_reads import FreshReads

# field: a grid worker (tablet); clerk: a township clerk; village: a village committee (村两委);
# county: the county's rural revitalisation bureau (乡村振兴局); admin: the operator.
ROLES = ("field", "clerk", "village", "county", "admin")
COUNTY_CODE = re.compile(r"^[0-9]{6}\Z")
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}\Z")
TOWNSHIP_CODE = re.compile(r"^[0-9]{9}\Z")
MIN_PASSWORD = 8
DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}\Z")
DEVICE_PREFIX = "device."  # a tablet's own credential: device.<device id>.<secret> (server.access.enrolment)


class AccountError(BilingualError):
    """A bad account request."""


class Busy(BilingualError):
    """Too many password checks at once in this process."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    villages: tuple[str, ...] = ()
    township: str | None = None
    disabled: bool = False
    county: str | None = None

    def sees_village(self, code: str) -> bool:
        if self.role == "admin":
            return True
        if self.role == "clerk":
            return bool(self.township) and code.startswith(self.township or "-")
        if self.role == "county":
            return bool(self.county) and code.startswith(self.county or "-")
        return code in self.villages

    @classmethod
    def from_doc(cls, doc: dict) -> User:
        return cls(
            name=doc["name"],
            role=doc["role"],
            villages=tuple(doc.get("villages", [])),
            township=doc.get("township"),
            disabled=bool(doc.get("disabled")),
            county=doc.get("county"),
        )


@dataclass(frozen=True)
class Village:
    code: str
    name: str

    @property
    def township(self) -> str:
        return names.township_of(self.code)


def list_villages(admin: Couch) -> list[Village]:
    return [Village(d["code"], d["name"]) for d in admin.iter_prefix(names.ACCOUNTS, "village:")]


def add_village(admin: Couch, code: str, name: str, actor: str = "cli") -> tuple[Village, bool]:
    """Register a village; idempotent. Returns (village, changed)."""
    if not names.is_village_code(code):
        raise AccountError(f"村代码须为12位数字：{code!r}", f"village code must be 12 digits: {code!r}")
    if not name.strip():
        raise AccountError("村名不能为空", "village name must not be empty")
    doc = {"_id": f"village:{code}", "type": "village", "code": code, "name": name.strip(),
           "township": names.township_of(code)}  # fmt: skip
    return Village(code, name.strip()), _upsert(admin, doc, actor, "village.upsert")


def _upsert(admin: Couch, doc: dict, actor: str, action: str) -> bool:
    """Write a registry doc (a village, an area) unless it is there as it is; audited. Changed?"""
    current = admin.get(names.ACCOUNTS, doc["_id"])
    if current and {k: current.get(k) for k in doc} == doc:
        return False
    if current:
        doc = {**doc, "_rev": current["_rev"]}
    admin.put(names.ACCOUNTS, doc)
    record(admin, actor, action, doc["_id"], before=_public(current), after=_public(doc))
    return True


AREA_LEVELS = {6: "county", 9: "township"}  # code length -> level


def add_area(admin: Couch, code: str, name: str, actor: str = "cli") -> tuple[str, bool]:
    """Name a county (6 digits) or township (9 digits), so screens and lists say 大盛镇, not
    500112104; idempotent. Returns (level, changed)."""
    level = AREA_LEVELS.get(len(code)) if code.isdigit() else None
    if level is None:
        raise AccountError(f"县代码须为6位、乡镇代码须为9位数字：{code!r}",
                           f"a county code has 6 digits, a township code 9: {code!r}")  # fmt: skip
    if not name.strip():
        raise AccountError("名称不能为空", "the name must not be empty")
    doc = {"_id": f"area:{code}", "type": "area", "level": level, "code": code, "name": name.strip()}
    return level, _upsert(admin, doc, actor, "area.upsert")


def place_names(admin: Couch) -> dict[str, str]:
    """Every registered code's name: villages, townships and counties."""
    found = {d["code"]: d["name"] for d in admin.iter_prefix(names.ACCOUNTS, "area:")}
    return found | {v.code: v.name for v in list_villages(admin)}


def get_user(admin: Couch, name: str) -> User | None:
    doc = admin.get(names.ACCOUNTS, f"user:{name}")
    return User.from_doc(doc) if doc else None


def list_users(admin: Couch) -> list[User]:
    return [User.from_doc(d) for d in admin.iter_prefix(names.ACCOUNTS, "user:")]


def add_user(
    admin: Couch,
    name: str,
    password: str | None,
    role: str,
    villages: list[str] | None = None,
    township: str | None = None,
    actor: str = "cli",
    password_hash: str | None = None,
    county: str | None = None,
) -> tuple[User, bool]:
    """Create or update an account. Returns (user, created).

    ``password_hash`` takes an existing werkzeug hash instead of a password (accounts moved from
    another Fangpin server keep their passwords).
    """
    villages = sorted(set(villages or []))
    if not USER_NAME.match(name):
        raise AccountError(
            "用户名须为2-64位字母、数字、点、下划线或连字符", "user name must be 2-64 letters, digits, '.', '_' or '-'"
        )
    if role not in ROLES:
        raise AccountError(f"角色须为 {'/'.join(ROLES)}", f"role must be one of {', '.join(ROLES)}")
    if password_hash is None and (password is None or len(password) < MIN_PASSWORD):
        raise AccountError(f"密码至少{MIN_PASSWORD}位", f"password must have at least {MIN_PASSWORD} characters")
    known = {v.code for v in list_villages(admin)}
    unknown = [v for v in villages if v not in known]
    if unknown:
        raise AccountError(
            f"未登记的村：{', '.join(unknown)}（先运行 fangpin villages add）",
            f"unregistered village(s): {', '.join(unknown)} (run fangpin villages add first)",
        )
    if role in ("field", "village") and not villages:
        raise AccountError(
            "网格员和村两委账号至少要分配一个村（--village）", "a field or village account needs at least one --village"
        )
    if county is not None and not COUNTY_CODE.match(county):
        raise AccountError("县代码须为6位数字", "county code must be 6 digits")
    if role == "county" and not county:
        raise AccountError("县级账号需要 --county（6位县代码）", "a county account needs --county (6 digits)")
    if township is not None and not TOWNSHIP_CODE.match(township):
        raise AccountError("乡镇代码须为9位数字", "township code must be 9 digits")
    if role == "clerk" and not township:
        if len({names.township_of(v) for v in villages}) == 1:
            township = names.township_of(villages[0])
        else:
            raise AccountError("乡镇文员需要 --township", "a clerk needs --township")
    doc_id = f"user:{name}"
    current = admin.get(names.ACCOUNTS, doc_id)
    doc = {
        "_id": doc_id,
        "type": "user",
        "name": name,
        "role": role,
        "villages": villages,
        "township": township,
        "county": county if role == "county" else None,
        "password_hash": password_hash or generate_password_hash(password or ""),
        "disabled": False,
        "created_at": (current or {}).get("created_at") or utc_now(),
    }
    if current:
        doc["_rev"] = current["_rev"]
    admin.put(names.ACCOUNTS, doc)
    record(admin, actor, "user.upsert", doc_id, before=_public(current), after=_public(doc))
    return User.from_doc(doc), current is None


def secret_digest(secret: str) -> str:
    """Digest of a random secret (enrolment tokens, device secrets): high entropy needs no slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _public(doc: dict | None) -> dict | None:
    """An account doc as it may appear in the audit log: no hashes, no CouchDB metadata."""
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if k not in ("password_hash", "_rev", "_id")}


@dataclass
class Authenticator:
    """Checks name + password against ``fp_accounts`` with a short-lived cache of successes.

    Tablets send Basic auth on every replication request, and a password check is a deliberately
    slow scrypt hash (~50-100 ms of CPU). Measured under 200 live tablets, the gateway spent most
    of its CPU re-hashing: every cached success expired at once each minute, and a tablet's
    parallel requests all missed together. So: concurrent checks of one credential wait for the
    first (striped locks), and when a success expires the account is read again (a disabled
    account or a new password still bites within ``ttl_s``) but not re-hashed while its stored
    hash is the one this password was verified against.
    """

    admin: Couch
    ttl_s: float = 60.0
    lockout: Lockout | None = None  # counts failures across processes (None: not counted, e.g. the CLI)
    hashing: int = 2  # scrypt checks at once per process: 128 parallel guesses took 2.7 GB and both cores
    wait_s: float = 20.0  # how long a check waits for a free slot before the caller hears "busy"
    _pepper: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # (name, keyed digest of the password) -> (fresh until, the verified stored hash, account)
    _ok: dict[tuple[str, bytes], tuple[float, str, User]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stripes: tuple[threading.Lock, ...] = field(default_factory=lambda: tuple(threading.Lock() for _ in range(64)))
    _slots: threading.BoundedSemaphore = field(init=False)
    _reads: FreshReads = field(init=False)
    _dummy: str | None = None

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(self.hashing)
        self._reads = FreshReads(self.admin, names.ACCOUNTS)

    def _key(self, name: str, password: str) -> tuple[str, bytes]:
        """What a success is cached under: never the password itself, a keyed digest of it."""
        return name, hmac.new(self._pepper, password.encode("utf-8", "replace"), hashlib.sha256).digest()

    def check(self, name: str, password: str, address: str = "") -> User | None:
        """The account if ``password`` is its password or a live device credential of it.

        Device credentials are checked on every request (a digest and a read, no slow hash), so a
        revoked tablet is refused at once; passwords are scrypt, so their successes are cached.
        Every password check costs one scrypt, for unknown and disabled names too (an unknown name
        answered in 6 ms against 120 ms, which told which names exist), and is counted by the
        lock-out before it runs (raises :class:`Locked`).
        """
        if password.startswith(DEVICE_PREFIX):
            return self._device_user(name, password)
        key = self._key(name, password)
        fresh = self._cached(key)
        if fresh is not None:
            return fresh
        with self._stripes[hash(key) % len(self._stripes)]:
            fresh = self._cached(key)  # the request this one waited for may have checked it
            if fresh is not None:
                return fresh
            doc = self.admin.get(names.ACCOUNTS, f"user:{name}") if USER_NAME.match(name or "") else None
            usable = bool(doc) and not doc.get("disabled")
            stored = str(doc.get("password_hash", "")) if doc else ""
            with self._lock:
                verified = usable and self._ok.get(key, (0.0, None, None))[1] == stored
            if not verified and not self._judged(name, address, stored or self._dummy_hash(), password, usable):
                return None
            user = User.from_doc(doc)  # type: ignore[arg-type]
            with self._lock:
                if len(self._ok) > 10_000:
                    self._ok.clear()
                self._ok[key] = (time.monotonic() + self.ttl_s, stored, user)
            return user

    def still_valid(self, name: str, password: str) -> bool:
        """Whether credentials checked earlier in this request still hold, without hashing: a device
        credential is looked up again, a password is compared with the hash it was verified against."""
        if password.startswith(DEVICE_PREFIX):
            return self.check(name, password) is not None
        doc = self.admin.get(names.ACCOUNTS, f"user:{name}") if USER_NAME.match(name or "") else None
        key = self._key(name, password)
        with self._lock:
            verified = self._ok.get(key, (0.0, None, None))[1]
        return bool(doc) and not doc.get("disabled") and verified == doc.get("password_hash")

    def _judged(self, name: str, address: str, stored: str, password: str, usable: bool) -> bool:
        """One scrypt check, counted by the lock-out: right password of a usable account.

        The attempt is counted once a hashing slot is free, just before the hash, not while it
        queues for one: counted on arrival, 200 tablets signing in at once from one address were
        200 attempts in flight and locked the address out. In flight there are now at most the
        slots, and every guess is still counted before it is judged.
        """
        if not self._slots.acquire(timeout=self.wait_s):
            raise Busy("服务器正忙，请稍后再试", "the server is busy checking passwords; try again shortly")
        try:
            attempt = self.lockout.reserve(name, address) if self.lockout else None
            try:
                right = check_password_hash(stored, password)
            except ValueError:  # a stored hash of an unknown method
                right = False
        finally:
            self._slots.release()
        if right and usable and attempt is not None and self.lockout is not None:
            self.lockout.succeeded(attempt, name)
        return right and usable

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = generate_password_hash(secrets.token_hex(16))
        return self._dummy

    def _cached(self, key: tuple[str, bytes]) -> User | None:
        with self._lock:
            hit = self._ok.get(key)
        return hit[2] if hit and hit[0] > time.monotonic() else None

    def _device_user(self, name: str, password: str) -> User | None:
        """The account if ``password`` is a live (not revoked) device credential of a usable account.

        The account and the device are read fresh (a revocation bites at once), in one request
        shared with the checks arriving meanwhile (:class:`FreshReads`): every sync request of every
        tablet comes here. With two reads each the fleet benchmark's median gateway request took
        1.5-2 s on the embedded server, with one 0.35-1 s; shared, the embedded server's CPU per
        gateway request fell from 10.2 to 8.0 ms.
        """
        parts = password.split(".", 2)
        if not USER_NAME.match(name or "") or len(parts) != 3 or parts[0] + "." != DEVICE_PREFIX:
            return None
        if not DEVICE_ID.match(parts[1]):
            return None
        docs = self._reads.get_many([f"user:{name}", f"device:{name}:{parts[1]}"])
        account, device = docs.get(f"user:{name}"), docs.get(f"device:{name}:{parts[1]}")
        ok = (
            account is not None
            and not account.get("disabled")
            and device is not None
            and not device.get("revoked_at")
            and hmac.compare_digest(str(device.get("secret_sha256", "")), secret_digest(parts[2]))
        )
        return User.from_doc(account) if ok else None  # type: ignore[arg-type]
