"""Runtime settings, read once from the environment.

Everything an operator can change is an environment variable so that the same code runs on a
laptop with the embedded server and on a production cluster; nothing else reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit


@dataclass(frozen=True)
class Credential:
    name: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    couchdb_url: str | None = None  # external CouchDB/Cloudant; None = embedded pouchdb-server
    couchdb_admin: Credential | None = None  # from the URL's user info when external
    db_prefix: str = ""  # prepended to every database name (tests use one per test)
    gateway_password: str | None = None  # the gateway's own CouchDB account, shared by all web hosts
    in_memory: bool = False  # embedded server keeps nothing on disk (tests)
    max_doc_bytes: int = 1024 * 1024  # one submission, attachments aside
    proxies: int = 0  # reverse proxies in front of the web service whose X-Forwarded-* are trusted

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        data_dir = Path(env.get("FANGPIN_DATA_DIR") or "./var").resolve()
        url = env.get("FANGPIN_COUCHDB_URL") or None
        admin = None
        if url:
            url, admin = split_credentials(url)
            if admin is None and env.get("FANGPIN_COUCHDB_USER"):
                admin = Credential(env["FANGPIN_COUCHDB_USER"], env.get("FANGPIN_COUCHDB_PASSWORD", ""))
        return cls(
            data_dir=data_dir,
            couchdb_url=url,
            couchdb_admin=admin,
            db_prefix=env.get("FANGPIN_DB_PREFIX", ""),
            gateway_password=env.get("FANGPIN_GATEWAY_PASSWORD") or None,
            in_memory=env.get("FANGPIN_IN_MEMORY", "") in ("1", "true", "yes"),
            max_doc_bytes=int(env.get("FANGPIN_MAX_DOC_BYTES") or 1024 * 1024),
            proxies=int(env.get("FANGPIN_PROXIES") or 0),
        )

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    def secrets(self) -> dict[str, str]:
        """Secrets generated on first use and kept (mode 0600) in the data directory."""
        return load_or_create_secrets(self.data_dir / "secrets.json")


def split_credentials(url: str) -> tuple[str, Credential | None]:
    """Take ``user:password@`` out of a URL so it never ends up in a log line."""
    parts = urlsplit(url)
    if not parts.username:
        return url.rstrip("/"), None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)).rstrip("/")
    return clean, Credential(unquote(parts.username), unquote(parts.password or ""))


_SECRET_KEYS = ("admin_password", "gateway_password", "session_key")


def load_or_create_secrets(path: Path) -> dict[str, str]:
    """Read the secrets file, adding any missing secret; safe to call from several processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    current: dict[str, str] = {}
    if path.exists():
        current = json.loads(path.read_text())
    missing = [k for k in _SECRET_KEYS if k not in current]
    if not missing:
        return current
    import fcntl

    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            current = json.loads(path.read_text())
        for key in _SECRET_KEYS:
            current.setdefault(key, secrets.token_urlsafe(32))
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(current, fh, indent=2)
        os.replace(tmp, path)
    return current
