"""Test harness: one real embedded CouchDB (pouchdb-server, in memory) per session, a fresh
database prefix per test, real processes for the web service, the worker and PouchDB tablets.

Nothing is mocked. Waiting is always polling with a deadline (:func:`wait_for`), never a sleep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from sync import bootstrap
from sync.embedded import PROJECT_ROOT, Connection, EmbeddedServer, admin_credential, free_port
from sync.settings import Credential, Settings, split_credentials

TABLET_JS = PROJECT_ROOT / "scripts" / "tablet.js"
PASSWORD = "test-password-1"


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, message: str = "condition"
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


# FANGPIN_TEST_COUCHDB_URL=http://admin:password@127.0.0.1:5984 runs the suite against that server
# (Apache CouchDB 3, Cloudant) instead of the embedded one; tests marked embedded_only are skipped
# there, tests marked couchdb_only run only there.
EXTERNAL_COUCHDB = os.environ.get("FANGPIN_TEST_COUCHDB_URL") or None


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if "serve" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.embedded_only)  # fangpin serve runs its own embedded server
        if EXTERNAL_COUCHDB and item.get_closest_marker("embedded_only"):
            item.add_marker(pytest.mark.skip(reason="about the embedded server; FANGPIN_TEST_COUCHDB_URL is set"))
        if not EXTERNAL_COUCHDB and item.get_closest_marker("couchdb_only"):
            item.add_marker(pytest.mark.skip(reason="needs Apache CouchDB or Cloudant (FANGPIN_TEST_COUCHDB_URL)"))


@dataclass
class CouchServer:
    """The CouchDB every test of a session uses: embedded (started here) or external."""

    url: str
    admin: Credential


@pytest.fixture(scope="session")
def couch_server(tmp_path_factory) -> Iterator[CouchServer]:
    if EXTERNAL_COUCHDB:
        url, admin = split_credentials(EXTERNAL_COUCHDB)
        assert admin is not None, "FANGPIN_TEST_COUCHDB_URL needs the admin's user:password@"
        yield CouchServer(url, admin)
        return
    data_dir = tmp_path_factory.mktemp("couch")
    server = EmbeddedServer(Settings(data_dir=data_dir, in_memory=True))
    server.start()
    yield CouchServer(server.url, admin_credential(Settings(data_dir=data_dir)))
    server.stop()


@pytest.fixture
def settings(couch_server: CouchServer, tmp_path: Path) -> Settings:
    """Settings of one test: the session server used as an external CouchDB, its own prefix."""
    return Settings(
        data_dir=tmp_path / "data",
        couchdb_url=couch_server.url,
        couchdb_admin=couch_server.admin,
        db_prefix=f"t{uuid.uuid4().hex[:10]}_",
    )


@pytest.fixture
def conn(settings: Settings) -> Iterator[Connection]:
    connection = Connection.make(settings, settings.couchdb_url or "", settings.couchdb_admin)  # type: ignore[arg-type]
    bootstrap.init(connection)
    yield connection
    for db in connection.admin.all_dbs():
        if db.startswith(settings.db_prefix):
            connection.admin.call("DELETE", f"/{db}")
    gateway = connection.admin.call("GET", f"/_users/org.couchdb.user:{connection.gateway.credential.name}",
                                    ok_missing=True)  # fmt: skip
    if gateway:  # the test's own gateway account: a shared CouchDB is left as it was found
        connection.admin.call("DELETE", f"/_users/{gateway['_id']}", params={"rev": gateway["_rev"]})


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment that points a ``fangpin`` process at this test's databases."""
    assert settings.couchdb_admin is not None
    url = settings.couchdb_url or ""
    scheme, rest = url.split("://", 1)
    cred = settings.couchdb_admin
    env = dict(os.environ)
    env.update(
        {
            "FANGPIN_DATA_DIR": str(settings.data_dir),
            "FANGPIN_COUCHDB_URL": f"{scheme}://{cred.name}:{cred.password}@{rest}",
            "FANGPIN_DB_PREFIX": settings.db_prefix,
            "FANGPIN_GATEWAY_PASSWORD": settings.secrets()["gateway_password"],
        }
    )
    env.pop("FANGPIN_WORKER_CRASH_AFTER_WRITES", None)
    env.update(extra)
    return env


def fangpin(settings: Settings, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    """Run the real ``fangpin`` command against this test's databases."""
    proc = subprocess.run(
        [sys.executable, "-m", "server.ops.cli", *args],
        env=env_for(settings, **env),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"fangpin {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass
class Proc:
    """A long-running child process of a test (web, worker, serve)."""

    proc: subprocess.Popen
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def spawn(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    procs: list[Proc] = []

    def start(*args: str, env: dict[str, str] | None = None, name: str = "proc") -> Proc:
        log = tmp_path / f"{name}-{len(procs)}.log"
        fh = open(log, "wb")  # noqa: SIM115 - handed to the child
        p = subprocess.Popen(
            [sys.executable, "-m", "server.ops.cli", *args],
            env=env or env_for(settings),
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
        fh.close()
        procs.append(Proc(p, log))
        return procs[-1]

    yield start
    for p in procs:
        p.stop(signal.SIGKILL)


@dataclass
class Web:
    url: str
    proc: Proc


@pytest.fixture
def web(conn: Connection, settings: Settings, spawn) -> Web:
    """The real web service under gunicorn, on this test's databases."""
    port = free_port()
    proc = spawn("web", "--port", str(port), "--workers", "1", "--threads", "16", name="web")
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.proc.poll() is not None:
            raise AssertionError("web exited:\n" + proc.output())
        try:
            return requests.get(url + "/api/v1/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout=60, message="web service to answer")
    return Web(url, proc)


@dataclass
class Serve:
    url: str
    proc: Proc
    env: dict[str, str]
    data_dir: Path


@pytest.fixture
def serve(spawn, tmp_path: Path) -> Serve:
    """``fangpin serve`` as an operator runs it: its own embedded CouchDB on disk (no test prefix)."""
    return start_serve(spawn, tmp_path / "var")


def start_serve(spawn, data_dir: Path) -> Serve:
    from sync.embedded import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("FANGPIN_")}
    env["FANGPIN_DATA_DIR"] = str(data_dir)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn("serve", "--port", str(port), "--workers", "1", "--threads", "8", env=env, name="serve")

    def up() -> bool:
        try:
            return requests.get(url + "/api/v1/health", timeout=2).status_code == 200
        except requests.RequestException:
            return proc.proc.poll() is not None

    wait_for(up, timeout=90, message="serve to come up")
    assert proc.proc.poll() is None, proc.output()
    return Serve(url, proc, env, data_dir)


class Tablet:
    """A grid worker's tablet: ``scripts/tablet.js`` on the real PouchDB client, state in ``dir``."""

    def __init__(self, dir: Path) -> None:
        self.dir = dir

    def run(self, command: str, *args: str, check: bool = True) -> dict:
        proc = subprocess.run(
            ["node", str(TABLET_JS), command, "--dir", str(self.dir), *args],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=PROJECT_ROOT,
        )
        try:
            result = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise AssertionError(f"tablet {command} printed no JSON:\n{proc.stdout}\n{proc.stderr}") from None
        if check and not result.get("ok"):
            raise AssertionError(f"tablet {command} failed: {result}\n{proc.stderr}")
        return result

    def login(self, server: str, user: str, password: str = PASSWORD, device: str | None = None) -> dict:
        device = device or f"tab-{user}"
        return self.run("login", "--server", server, "--user", user, "--password", password, "--device", device)


@pytest.fixture
def tablet(tmp_path: Path) -> Callable[[str], Tablet]:
    return lambda name: Tablet(tmp_path / f"tablet-{name}")


VILLAGE_A = "500112104201"
VILLAGE_B = "500112104202"
OTHER_TOWNSHIP_VILLAGE = "500112105301"


@dataclass
class Township:
    """Two villages of one township, one of another, and an account of every kind."""

    a: str = VILLAGE_A
    b: str = VILLAGE_B
    other: str = OTHER_TOWNSHIP_VILLAGE


@pytest.fixture(scope="session")
def password_hash() -> str:
    """Hashing is deliberately slow (scrypt); the test accounts share one hash of PASSWORD."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(PASSWORD)


@pytest.fixture
def township(conn: Connection, password_hash: str) -> Township:
    from functools import partial

    from server.access.accounts import add_user as add
    from server.access.accounts import add_village

    add_user = partial(add, password_hash=password_hash)

    for code, name in ((VILLAGE_A, "石坪村"), (VILLAGE_B, "龙井村"), (OTHER_TOWNSHIP_VILLAGE, "外乡村")):
        add_village(conn.admin, code, name)
        bootstrap.ensure_village_db(conn, code)
    add_user(conn.admin, "gw_a", PASSWORD, "field", [VILLAGE_A])
    add_user(conn.admin, "gw_b", PASSWORD, "field", [VILLAGE_B])
    add_user(conn.admin, "gw_other", PASSWORD, "field", [OTHER_TOWNSHIP_VILLAGE])
    add_user(conn.admin, "clerk", PASSWORD, "clerk", township=VILLAGE_A[:9])
    add_user(conn.admin, "clerk_other", PASSWORD, "clerk", township=OTHER_TOWNSHIP_VILLAGE[:9])
    add_user(conn.admin, "boss", PASSWORD, "admin")
    add_user(conn.admin, "village_a", PASSWORD, "village", [VILLAGE_A])  # 石坪村's committee (村两委)
    add_user(conn.admin, "county", PASSWORD, "county", county=VILLAGE_A[:6])  # both townships' county
    add_user(conn.admin, "county_other", PASSWORD, "county", county="500113")  # a county of no village here
    return Township()


@pytest.fixture
def app(conn: Connection, settings: Settings):
    from server.web.app import create_app

    return create_app(settings, conn)


@pytest.fixture
def client(app):
    return app.test_client()


def pytest_terminal_summary(terminalreporter) -> None:
    """The attack suites' own counts, in every run's summary (CI's too, without -s)."""
    import sys as _sys

    fuzz = _sys.modules.get("test_fuzz")
    if fuzz is not None and fuzz.SENT:
        ok = sum(1 for s in fuzz.SENT if s < 300)
        terminalreporter.write_line(f"fuzz: {len(fuzz.SENT)} generated requests, {ok} answered 2xx")
    security = _sys.modules.get("test_security")
    if security is not None and security.CHECKS:
        checks = security.CHECKS
        terminalreporter.write_line(f"security probes: {len(checks)} probes, {sum(checks.values())} checks")


@pytest.fixture(scope="module")
def chromium():
    """One headless Debian Chromium (Selenium) per browser test module."""
    import shutil

    from browser import start

    driver, profile = start()
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
