"""The embedded CouchDB default (pouchdb-server from npm) and how every command finds CouchDB.

Rules, so that any ``fangpin`` command works whether or not ``serve`` is running:

* ``FANGPIN_COUCHDB_URL`` set: that server is used and nothing is started.
* otherwise one process at a time *owns* the embedded server of a data directory. Ownership is an
  exclusive ``flock`` on ``<data>/run/couchdb.lock`` held for the owner's whole life; the owner
  writes ``<data>/run/couchdb.json`` with the URL. Anyone who cannot take the lock attaches to
  the owner's server (waiting while the owner restarts it); anyone who can take it starts its
  own server and stops it when done. A stale run file from a crashed owner is therefore harmless.

The server listens on 127.0.0.1 only. Its admin password is generated on first start and kept in
``<data>/secrets.json``; pouchdb-server stores only its PBKDF2 hash in its config file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from sync.couch import Couch
from sync.names import GATEWAY_USER
from sync.settings import Credential, Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ADMIN_NAME = "fpadmin"


class EmbeddedError(RuntimeError):
    pass


def pouchdb_server_bin() -> Path:
    path = PROJECT_ROOT / "node_modules" / ".bin" / "pouchdb-server"
    if not path.exists():
        raise EmbeddedError(
            "pouchdb-server is not installed; run `npm ci` in the project root "
            "(scripts/run and scripts/test do it for you)"
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, deadline_s: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise EmbeddedError(f"pouchdb-server exited with code {proc.returncode} while starting")
        try:
            if requests.get(url + "/", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise EmbeddedError(f"CouchDB at {url} did not answer within {deadline_s:.0f} s")


def stop_process_group(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM a child started in its own session, and SIGKILL it if it is still there after grace_s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class EmbeddedServer:
    """One pouchdb-server child process bound to 127.0.0.1, data under ``<data>/couchdb``."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.settings = settings
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.dir = settings.data_dir / "couchdb"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "config.json"
        current = json.loads(config.read_text()) if config.exists() else {}
        current.setdefault("admins", {})
        if ADMIN_NAME not in current["admins"]:
            # pouchdb-server replaces the clear password by its PBKDF2 hash on start.
            current["admins"][ADMIN_NAME] = self.settings.secrets()["admin_password"]
        current["log"] = {"file": str(self.dir / "log.txt"), "level": "error"}
        current.setdefault("couch_httpd_auth", {})["require_valid_user"] = False
        config.write_text(json.dumps(current, indent=2))
        os.chmod(config, 0o600)
        return config

    def start(self, deadline_s: float = 60.0) -> None:
        config = self._write_config()
        args = [
            str(pouchdb_server_bin()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.dir),
            "--config",
            str(config),
            "--no-stdout-logs",
            "--no-color",
        ]
        if self.settings.in_memory:
            args.append("--in-memory")
        log = open(self.dir / "stdout.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir, start_new_session=True
        )
        log.close()
        try:
            wait_until_up(self.url, deadline_s, self.proc)
        except EmbeddedError:
            self.stop()
            raise

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 10.0) -> None:
        if self.proc is not None:
            stop_process_group(self.proc, grace_s)
        self.proc = None


@dataclass
class Connection:
    """CouchDB as the rest of Fangpin sees it: the server's admin view and the gateway's view."""

    url: str
    admin: Couch
    gateway: Couch

    @classmethod
    def make(cls, settings: Settings, url: str, admin: Credential) -> Connection:
        gateway_pw = settings.gateway_password or settings.secrets()["gateway_password"]
        return cls(
            url=url,
            admin=Couch(url, admin, settings.db_prefix),
            gateway=Couch(url, Credential(settings.db_prefix + GATEWAY_USER, gateway_pw), settings.db_prefix),
        )


def admin_credential(settings: Settings) -> Credential:
    if settings.couchdb_url:
        if settings.couchdb_admin is None:
            raise EmbeddedError(
                "FANGPIN_COUCHDB_URL needs an admin credential: "
                "http://USER:PASSWORD@host:5984 or FANGPIN_COUCHDB_USER/PASSWORD"
            )
        return settings.couchdb_admin
    return Credential(ADMIN_NAME, settings.secrets()["admin_password"])


class Ownership:
    """The exclusive right to run the embedded server of one data directory."""

    def __init__(self, settings: Settings) -> None:
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_file = settings.run_dir / "couchdb.json"
        self._fh = open(settings.run_dir / "couchdb.lock", "a+")  # noqa: SIM115 - held for life

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def publish(self, server: EmbeddedServer) -> None:
        tmp = self.run_file.with_suffix(".tmp")
        server_pid = server.proc.pid if server.proc else None
        info = {"url": server.url, "port": server.port, "pid": os.getpid(), "server_pid": server_pid}
        tmp.write_text(json.dumps(info))
        os.replace(tmp, self.run_file)

    def release(self) -> None:
        """Give up ownership: the run file goes first so nobody attaches to a dying server."""
        with contextlib.suppress(FileNotFoundError):
            self.run_file.unlink()
        self.close()

    def close(self) -> None:
        self._fh.close()


def attach_url(settings: Settings, deadline_s: float = 60.0) -> str:
    """URL of the embedded server another process owns, waiting while it (re)starts."""
    run_file = settings.run_dir / "couchdb.json"
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if run_file.exists():
            url = json.loads(run_file.read_text())["url"]
            wait_until_up(url, max(1.0, deadline - time.monotonic()))
            return url
        time.sleep(0.1)
    raise EmbeddedError(f"no embedded CouchDB published in {run_file} within {deadline_s:.0f} s")


def require_data_dir(settings: Settings) -> None:
    """Refuse to make a new embedded system as a side effect of a command run in the wrong folder.

    Only ``init``, ``serve`` and ``demo`` create a data directory; any other command run where none
    exists (another working directory, a mistyped ``FANGPIN_DATA_DIR``) would otherwise leave an
    empty ``./var`` behind and fail on a missing database.
    """
    if not (settings.data_dir / "secrets.json").exists():
        raise EmbeddedError(
            f"这里没有 Fangpin 数据目录 / no Fangpin data directory at {settings.data_dir}: "
            "run the command from the project folder, set FANGPIN_DATA_DIR (or FANGPIN_COUCHDB_URL), "
            "or create one with `fangpin init`"
        )


@contextlib.contextmanager
def connect(settings: Settings, create: bool = False) -> Iterator[Connection]:
    """CouchDB for one command: external, attached to a running owner, or started just for it.

    ``create`` lets the command make the embedded data directory when there is none yet.
    """
    if not settings.couchdb_url and not create:
        require_data_dir(settings)
    admin = admin_credential(settings)
    if settings.couchdb_url:
        yield Connection.make(settings, settings.couchdb_url, admin)
        return
    ownership = Ownership(settings)
    if not ownership.try_acquire():
        ownership.close()
        yield Connection.make(settings, attach_url(settings), admin)
        return
    server = EmbeddedServer(settings)
    try:
        server.start()
        ownership.publish(server)
        yield Connection.make(settings, server.url, admin)
    finally:
        server.stop()
        ownership.release()


def attach(settings: Settings, deadline_s: float = 60.0) -> Connection:
    """CouchDB for a long-running child (web, worker under ``serve``): never starts a server."""
    admin = admin_credential(settings)
    url = settings.couchdb_url or attach_url(settings, deadline_s)
    return Connection.make(settings, url, admin)
