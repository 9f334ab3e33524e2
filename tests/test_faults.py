"""Fault injection: the worker killed with SIGKILL at random points, CouchDB killed during a push,
a tablet whose clock is days off, a batch pushed twice, a push cut mid-request. Each test states
the invariants it checks and counts them; the suite prints the total.

Kill points follow progress (how many reviews exist), not timers, so the faults land mid-batch
whatever the machine's speed; the random thresholds come from a printed seed.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import uuid

import pytest
import records
import requests
from conftest import PASSWORD, PROJECT_ROOT, TABLET_JS, start_serve, wait_for
from test_household_worker import push, roster, survey

from sync import names
from sync.embedded import ADMIN_NAME, connect
from sync.settings import Settings

INVARIANTS: dict[str, int] = {}


def holds(name: str, condition: bool, detail: object = "") -> None:
    assert condition, f"invariant broken: {name} {detail}"
    INVARIANTS[name] = INVARIANTS.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(f"\nfault suite: {len(INVARIANTS)} invariants, {sum(INVARIANTS.values())} checks: {INVARIANTS}")


def exactly_once(conn, village: str) -> int:
    """Every submission revision has one review at that revision, checked once; every household
    record holds each (submission, revision) once with contiguous versions; no duplicated tier change."""
    db = names.village_db(village)
    subs = {s["_id"]: s for s in conn.admin.iter_prefix(db, "submission:")}
    reviews = {r["submission_id"]: r for r in conn.admin.iter_prefix(db, "review:")}
    holds("every submission has its review", set(reviews) == set(subs), set(subs) - set(reviews))
    for sid, sub in subs.items():
        review = reviews[sid]
        holds("review is at the submission's revision", review["submission_rev"] == sub["_rev"], sid)
        checks = [h for h in review["history"] if h["action"] == "checked" and h.get("submission_rev") == sub["_rev"]]
        holds("each revision checked exactly once", len(checks) == 1, (sid, len(checks)))
    records_ = [d for d in conn.admin.iter_prefix(names.CASES, "household:") if d["village_code"] == village]
    applied = []
    for record in records_:
        ids = [e["id"] for e in record["events"]]
        holds("no event applied twice", len(ids) == len(set(ids)), record["household_id"])
        own = sorted(e["version"] for e in record["events"] if e["origin"] == record["household_id"])
        holds("versions are contiguous", own == list(range(1, len(own) + 1)), (record["household_id"], own))
        history = [(t["tier"], t["rules"]) for t in record.get("tier_history", [])]
        holds("no tier change written twice", all(a != b for a, b in itertools.pairwise(history)))
        applied += [e["submission_id"] for e in record["events"] if e["kind"] == "submission"]
    holds("each submission feeds one household", sorted(applied) == sorted(set(applied)) and set(applied) == set(subs))
    return len(subs)


@pytest.mark.slow
def test_worker_killed_with_sigkill_at_random_points_has_exactly_once_effects(conn, township, spawn):
    seed = int(os.environ.get("FANGPIN_FAULT_SEED", str(random.randrange(10**6))))
    print(f"\nFANGPIN_FAULT_SEED={seed}")
    rng = random.Random(seed)
    a = township.a
    roster(conn, a, 60)
    docs = []
    for n in range(1, 61):
        hid = f"{a}-{n:04d}"
        docs.append(survey(a, hid, device=f"tab-{n % 3}", seq=n, head_id_number=records.make_id("19600101", 2 * n + 1)))
        damage = records.submission("damage_survey", uuid.uuid4().hex, village_code=a, household_id=hid)
        damage.pop("_rev")
        docs.append(damage)
    for start in range(0, len(docs), 40):
        push(conn, a, *docs[start : start + 40])
    db = names.village_db(a)
    thresholds = sorted(rng.sample(range(5, len(docs) - 5), 4))
    for kill_at in thresholds:
        worker = spawn("worker", "--batch-size", "25", name="worker")
        wait_for(lambda at=kill_at, w=worker: len(list(conn.admin.iter_prefix(db, "review:"))) >= at
                 or w.proc.poll() is not None, timeout=120, message=f"{kill_at} reviews")  # fmt: skip
        holds("the kill lands while the worker is busy", worker.proc.poll() is None)
        os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()
    spawn("worker", "--batch-size", "25", name="worker-last")
    wait_for(lambda: len(list(conn.admin.iter_prefix(db, "review:"))) == len(docs), timeout=180, message="all reviews")
    wait_for(lambda: len(conn.admin.get(names.CASES, f"household:{a}-0060")["events"]) == 2, timeout=60,
             message="the last household's two surveys applied")  # fmt: skip
    assert exactly_once(conn, a) == 120


def test_a_batch_pushed_twice_is_stored_and_reviewed_once(conn, township, spawn):
    from server.pipeline.worker import Worker

    a = township.a
    roster(conn, a, 3)
    batch = [survey(a, f"{a}-{n:04d}", seq=n) for n in range(1, 4)]
    revs = push(conn, a, *batch)
    # a tablet replicating again sends the same revisions with new_edits=false: CouchDB keeps one of each
    again = [
        dict(d, _rev=r, _revisions={"start": 1, "ids": [r.split("-", 1)[1]]}) for d, r in zip(batch, revs, strict=True)
    ]
    conn.gateway.bulk_docs(names.village_db(a), again, new_edits=False)
    Worker(conn.admin, today=records.TODAY).sweep()
    conn.gateway.bulk_docs(names.village_db(a), again, new_edits=False)
    Worker(conn.admin, today=records.TODAY).sweep()
    holds(
        "a second push adds no revision", [conn.admin.get(names.village_db(a), d["_id"])["_rev"] for d in batch] == revs
    )
    assert exactly_once(conn, a) == 3


def test_a_tablet_whose_clock_is_days_off_loses_nothing(conn, township):
    from server.pipeline.worker import Worker

    a = township.a
    roster(conn, a, 2)
    ahead = survey(a, f"{a}-0001", completed="2026-12-30T09:00:00+08:00", phone="13900139000")  # five weeks ahead
    behind = survey(a, f"{a}-0001", device="tab-2", completed="2026-11-02T09:00:00+08:00", phone="13700137000")
    push(conn, a, ahead, behind)
    Worker(conn.admin, today=records.TODAY).sweep()
    db = names.village_db(a)
    for doc in (ahead, behind):
        review = conn.admin.get(db, names.review_id(doc["_id"]))
        holds(
            "a skewed clock still gets its review", review is not None and review["state"] in ("received", "has_issues")
        )
    record = conn.admin.get(names.CASES, f"household:{a}-0001")
    holds("both surveys are in the history", {e["changed"].get("phone") for e in record["events"]} >= {"13900139000",
          "13700137000"})  # fmt: skip
    holds("concurrent edits are flagged, not silently ordered by the clock", record["conflict"] == "hard")
    assert exactly_once(conn, a) == 2


def test_a_push_cut_mid_request_stores_nothing_and_the_retry_stores_all(conn, township, web):
    a = township.a
    docs = [records.submission("damage_survey", uuid.uuid4().hex, village_code=a, household_id=f"{a}-0001",
                               submitted_by="gw_a") for _ in range(20)]  # fmt: skip
    for d in docs:
        d.pop("_rev")
    body = json.dumps({"docs": docs}).encode()
    host, port = web.url.split("//")[1].split(":")
    auth = "Basic " + __import__("base64").b64encode(f"gw_a:{PASSWORD}".encode()).decode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (f"POST /sync/{names.village_db(a)}/_bulk_docs HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
        sock.sendall(head.encode() + body[: len(body) // 2])  # the signal dies halfway
    db = names.village_db(a)
    wait_for(lambda: requests.get(web.url + "/api/v1/health", timeout=5).ok, message="web still up")
    holds("a cut request stores nothing", list(conn.admin.iter_prefix(db, "submission:")) == [])
    resp = requests.post(f"{web.url}/sync/{db}/_bulk_docs", json={"docs": docs}, auth=("gw_a", PASSWORD), timeout=30)
    holds("the retry stores every doc", resp.ok and len(list(conn.admin.iter_prefix(db, "submission:"))) == 20)


@pytest.mark.slow
def test_couchdb_killed_during_a_tablet_push_resumes_and_loses_nothing(serve, tablet):
    env, url, tmp_path = serve.env, serve.url, serve.data_dir.parent
    subprocess.run([sys.executable, "-m", "server.ops.cli", "demo"], env=env, check=True, capture_output=True,
                   cwd=PROJECT_ROOT, timeout=120)  # fmt: skip
    device = tablet("big")
    device.login(url, "gw_wang", "fangpin-demo")
    device.run("pull")
    created = device.run("create", "--count", "600")["created"]
    run_file = tmp_path / "var" / "run" / "couchdb.json"
    first = json.loads(run_file.read_text())
    pushing = subprocess.Popen(["node", str(TABLET_JS), "push", "--dir", str(device.dir)], cwd=PROJECT_ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    admin = requests.Session()
    admin.auth = (ADMIN_NAME, json.loads((tmp_path / "var" / "secrets.json").read_text())["admin_password"])
    db_url = f"{first['url']}/fp_v_500112104201"

    def arrived() -> int:
        try:
            return admin.get(db_url, timeout=2).json().get("doc_count", 0)
        except (requests.RequestException, ValueError):
            return 0

    wait_for(lambda: arrived() >= 50 or pushing.poll() is not None, timeout=120, message="the push under way")
    holds("the crash lands mid-push", arrived() < 600 and pushing.poll() is None)
    os.kill(first["server_pid"], signal.SIGKILL)  # CouchDB dies mid-push
    pushing.wait(120)
    wait_for(lambda: json.loads(run_file.read_text())["server_pid"] != first["server_pid"], timeout=60,
             message="CouchDB restarted by serve")  # fmt: skip
    wait_for(lambda: device.run("push", check=False).get("ok"), timeout=120, message="the tablet's push resumes")
    done = device.run("wait-reviews", "--timeout", "180")
    holds("every survey reached the server after the crash", done["submissions"] == len(created) == 600)
    holds("every survey was reviewed exactly once", done["reviewed"] == 600 and done["missing"] == [])
    assert serve.proc.stop(signal.SIGINT, timeout=60) == 0


@pytest.mark.slow
def test_a_full_disk_refuses_writes_clearly_loses_nothing_and_everything_completes_once_space_is_back(
    spawn, tmp_path, tablet
):
    """CouchDB's disk (a small tmpfs, as root) fills up first under a tablet's push, then under the
    worker's writes; each time the operator frees space and everything completes exactly once."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"a full disk is simulated on a small tmpfs, which needs mount (root): {mounted.stderr!r}")
    filler = disk / "filler"

    def fill(leave_kb: int) -> None:
        free = os.statvfs(disk)
        with open(filler, "wb") as fh:
            fh.write(b"\0" * max(0, free.f_bavail * free.f_frsize - leave_kb * 1024))

    try:
        serve = start_serve(spawn, disk / "var")
        subprocess.run([sys.executable, "-m", "server.ops.cli", "demo"], env=serve.env, check=True, capture_output=True,
                       cwd=PROJECT_ROOT, timeout=120)  # fmt: skip
        village = "500112104201"
        device = tablet("full")
        device.login(serve.url, "gw_wang", "fangpin-demo")
        device.run("pull")
        created = device.run("create", "--count", "400")["created"]
        worker = int(subprocess.run(["pgrep", "-P", str(serve.proc.proc.pid), "-f", "server.ops.cli worker"],
                                    capture_output=True, text=True).stdout.split()[0])  # fmt: skip
        os.kill(worker, signal.SIGSTOP)  # the worker waits until the second part

        # 1. the disk fills under a tablet's push
        fill(leave_kb=256)
        first = device.run("push", check=False)
        holds("a push onto a full disk is reported as failed", not first.get("ok"), first)
        one = {"docs": [survey(village, f"{village}-0001", user="gw_wang")]}
        demo_login = ("gw_wang", "fangpin-demo")
        direct = requests.post(f"{serve.url}/sync/fp_v_{village}/_bulk_docs", json=one, auth=demo_login, timeout=30)
        holds("a write onto a full disk is refused as such (507)", direct.status_code == 507, direct.text)
        holds(
            "the refusal is bilingual and names no server path",
            "存储空间已满" in direct.text and "storage is full" in direct.text and str(disk) not in direct.text,
            direct.text,
        )
        holds("the tablet keeps every survey", device.run("status")["submissions"] == len(created) == 400)
        holds("the server stays up on a full disk", serve.proc.proc.poll() is None)
        filler.unlink()  # the operator frees space
        wait_for(lambda: device.run("push", check=False).get("ok"), timeout=180, message="the push once space is back")

        # 2. the disk fills under the worker's writes
        fill(leave_kb=64)
        os.kill(worker, signal.SIGCONT)
        wait_for(lambda: "sweep failed (CouchDB's disk is full)" in serve.proc.output(), timeout=120, message="failing")
        holds("the worker keeps running while its writes fail", serve.proc.proc.poll() is None)
        filler.unlink()
        done = device.run("wait-reviews", "--timeout", "180")
        holds("every survey reached the server", done["submissions"] == 400)
        holds("every survey was reviewed once space was back", done["reviewed"] == 400 and done["missing"] == [])
        with connect(Settings.from_env(serve.env)) as conn:
            exactly_once(conn, village)
        assert serve.proc.stop(signal.SIGINT, timeout=60) == 0
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)  # lazily: a failed run may still hold it


@pytest.mark.couchdb_only
def test_couchdbs_disk_monitor_refusal_is_told_as_a_full_disk_to_tablets_and_the_worker(web, conn, township):
    """Apache CouchDB 3.4 refuses interactive writes once its disk is fuller than ``[disk_monitor]``'s
    threshold; a threshold of 0 makes the real server refuse exactly as it does on a full disk
    (measured on a full tmpfs). Replicated writes (``new_edits: false``) are not refused by it."""
    from test_boundaries import raw
    from test_household_worker import run

    from sync.couch import CouchError

    a = township.a
    roster(conn, a)
    push(conn, a, survey(a, f"{a}-0001"))  # stored before the disk "fills"; the worker will review it
    assert raw(web, "GET", f"/sync/{names.village_db(a)}")[0] == 200  # gw_a's credentials checked once
    config = "/_node/_local/_config/disk_monitor"
    try:
        conn.admin.call("PUT", f"{config}/interactive_database_writes_threshold", body="0")
        conn.admin.call("PUT", f"{config}/enable", body="true")
    except CouchError as exc:  # Cloudant: no node configuration to change
        pytest.skip(f"this CouchDB's disk monitor cannot be set: {exc}")
    try:
        status, body = raw(web, "POST", f"/sync/{names.village_db(a)}/_bulk_docs", {"docs": [survey(a, f"{a}-0002")]})
        text = json.dumps(body, ensure_ascii=False)
        assert status == 507 and body["error"] == "insufficient_storage", (status, body)
        assert "存储空间已满" in text and "storage is full" in text and "database_dir" not in text
        one = survey(a, f"{a}-0003")
        status, body = raw(web, "PUT", f"/sync/{names.village_db(a)}/{one['_id']}", one)
        assert status == 507, (status, body)
        with pytest.raises(CouchError) as caught:
            run(conn)
        assert caught.value.disk_full  # the worker's run loop logs "CouchDB's disk is full" and backs off
    finally:
        conn.admin.call("DELETE", f"{config}/enable")
        conn.admin.call("DELETE", f"{config}/interactive_database_writes_threshold")
    assert raw(web, "POST", f"/sync/{names.village_db(a)}/_bulk_docs", {"docs": [survey(a, f"{a}-0002")]})[0] == 201
    assert run(conn) >= 1  # the survey stored before is reviewed once space is back
