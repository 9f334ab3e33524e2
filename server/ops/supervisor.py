"""``fangpin serve``: one process tree running CouchDB (embedded unless configured), worker and web.

The supervisor owns the embedded server for the data directory, restarts any child that dies
(pouchdb-server on the same port, so nobody needs to re-discover it), and on Ctrl-C or SIGTERM
stops the web first, then the worker, then CouchDB. Children run in their own sessions so that a
terminal's Ctrl-C reaches only the supervisor, which keeps the shutdown order.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from sync.bootstrap import init
from sync.embedded import EmbeddedServer, Ownership, attach, stop_process_group
from sync.settings import Settings

log = logging.getLogger("fangpin.serve")


@dataclass
class Child:
    name: str
    args: list[str]
    proc: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff_s: float = field(default=0.5)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, start_new_session=True, stdin=subprocess.DEVNULL)
        self.started_at = time.monotonic()
        log.info("started %s (pid %d)", self.name, self.proc.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float = 15.0) -> None:
        if self.proc is not None:
            stop_process_group(self.proc, grace_s)


def wait_for_lock(ownership: Ownership, deadline_s: float = 60.0) -> None:
    """A short command may hold the embedded server for a moment; a second ``serve`` never lets go."""
    deadline = time.monotonic() + deadline_s
    while not ownership.try_acquire():
        if time.monotonic() > deadline:
            raise SystemExit(
                "另一个 fangpin serve 正在使用此数据目录 / another fangpin serve is running "
                "on this data directory (FANGPIN_DATA_DIR)"
            )
        time.sleep(0.2)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def serve(settings: Settings, host: str, port: int, web_workers: int, threads: int) -> int:
    stopping = False

    def on_signal(signum, _frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    if not port_free(host, port):  # else web exits at once, forever restarted under "is running"
        print(f"端口 {port} 已被占用，请用 --port 换一个 / port {port} is already in use; choose another with --port",
              file=sys.stderr, flush=True)  # fmt: skip
        return 2
    ownership: Ownership | None = None
    couch: EmbeddedServer | None = None
    if not settings.couchdb_url:
        ownership = Ownership(settings)
        wait_for_lock(ownership)
        couch = EmbeddedServer(settings)
        couch.start()
        ownership.publish(couch)
        log.info("embedded CouchDB (pouchdb-server) on %s, data in %s", couch.url, couch.dir)
    children: list[Child] = []
    try:
        summary = init(attach(settings))
        log.info(
            "init: %d village database(s), published %s",
            len(summary["villages"]),
            ", ".join(summary["published"]) or "nothing new",
        )
        for note in summary["notes"]:
            log.warning("%s", note)
        exe = [sys.executable, "-m", "server.ops.cli"]
        children = [
            Child("worker", [*exe, "worker"]),
            Child(
                "web",
                [
                    *exe,
                    "web",
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--workers",
                    str(web_workers),
                    "--threads",
                    str(threads),
                ],
            ),
        ]
        for child in children:
            child.start()
        print(f"Fangpin 已启动 / is running: http://{host}:{port}/api/v1/health  (Ctrl-C 停止 / to stop)", flush=True)
        while not stopping:
            time.sleep(0.5)
            if couch is not None and not couch.alive() and not stopping:
                log.error("embedded CouchDB died; restarting it on the same port")
                couch.stop()
                couch.start()
                assert ownership is not None
                ownership.publish(couch)
            for child in children:
                if not child.alive() and not stopping:
                    child.restarts += 1
                    code = child.proc.returncode if child.proc else None
                    log.error("%s exited with %s; restart #%d", child.name, code, child.restarts)
                    time.sleep(min(5.0, child.backoff_s * child.restarts))
                    child.start()
        return 0
    finally:
        print("正在停止 / stopping …", flush=True)
        for child in reversed(children):  # web first, then worker
            child.stop()
        if couch is not None:
            couch.stop()
        if ownership is not None:
            ownership.release()
        print("已停止 / stopped", flush=True)
