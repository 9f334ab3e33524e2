"""End to end, as users drive it: PouchDB tablets through the gateway, ``fangpin serve`` as operators run it."""

from __future__ import annotations

import json
import os
import signal

import pytest
import requests
from conftest import PROJECT_ROOT, env_for, wait_for

from sync import names


def reviews(conn, village):
    return {d["_id"]: d for d in conn.admin.iter_prefix(names.village_db(village), "review:")}


def health_ok(url: str) -> bool:
    try:
        return requests.get(url + "/api/v1/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.slow
def test_offline_submissions_from_two_tablets_each_get_exactly_one_review(conn, settings, township, web, tablet, spawn):
    wang, li = tablet("wang"), tablet("li")
    for device, user, village in ((wang, "gw_a", township.a), (li, "gw_b", township.b)):
        assert device.login(web.url, user)["databases"] == ["fp_forms", f"fp_v_{village}"]
        pulled = device.run("pull")["pulled"]
        assert pulled["fp_forms"]["docs_written"] >= 2

    # Offline: the server is down while the surveys are filled in.
    port = web.url.rsplit(":", 1)[1]
    web.proc.stop()
    assert not health_ok(web.url)
    created = wang.run("create", "--village", township.a, "--count", "6")["created"]
    created += wang.run("create", "--village", township.a, "--count", "4", "--form", "household_survey")["created"]
    created += li.run("create", "--village", township.b, "--count", "10")["created"]
    assert len(set(created)) == 20

    # Back online: the web service returns, both tablets push through the gateway.
    spawn("web", "--port", port, "--workers", "1", "--threads", "16", name="web-again")
    wait_for(lambda: health_ok(web.url), timeout=60, message="web to come back")
    for device, village in ((wang, township.a), (li, township.b)):
        pushed = device.run("push")["pushed"][f"fp_v_{village}"]
        assert pushed["docs_written"] == 10 and pushed["doc_write_failures"] == 0

    # The worker dies after its first batch of reviews, before its checkpoint, and is restarted.
    crashing = spawn("worker", "--batch-size", "4", env=env_for(settings, FANGPIN_WORKER_CRASH_AFTER_WRITES="1"))
    assert crashing.proc.wait(60) == 70, crashing.output()
    assert 0 < len(reviews(conn, township.a)) + len(reviews(conn, township.b)) < 20
    spawn("worker", "--batch-size", "4", name="worker-again")

    for device in (wang, li):
        done = device.run("wait-reviews", "--timeout", "60")
        assert done["submissions"] == 10 and done["reviewed"] == 10 and done["missing"] == []
        assert done["states"] == {"received": 10}

    server_reviews = {**reviews(conn, township.a), **reviews(conn, township.b)}
    assert sorted(server_reviews) == sorted("review:" + c.split(":", 1)[1] for c in created)
    assert all(r["_rev"].startswith("1-") for r in server_reviews.values()), "a review was written twice"

    status = li.run("status")
    assert len(status["reviews"]) == 10 and f"fp_v_{township.a}" not in status["databases"]
    on_tablet = wang.run("status")
    village_a = {k for k, v in server_reviews.items() if v["village_code"] == township.a}
    assert {r["id"] for r in on_tablet["reviews"]} == village_a


@pytest.mark.slow
def test_serve_runs_everything_on_the_embedded_default_and_stops_cleanly(serve, tablet):
    env, url, tmp_path = serve.env, serve.url, serve.data_dir.parent
    assert requests.get(url + "/api/v1/health", timeout=5).json()["couchdb"] == "ok"

    # Operators' commands attach to the running embedded server instead of starting another.
    import subprocess
    import sys

    demo = subprocess.run(
        [sys.executable, "-m", "server.ops.cli", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )
    assert demo.returncode == 0, demo.stderr
    run_file = tmp_path / "var" / "run" / "couchdb.json"
    published = json.loads(run_file.read_text())

    device = tablet("demo")
    device.run("login", "--server", url, "--user", "gw_wang", "--password", "fangpin-demo")
    device.run("pull")
    device.run("create", "--count", "3")
    device.run("push")
    assert device.run("wait-reviews", "--timeout", "60")["reviewed"] == 3

    # pouchdb-server dies: serve restarts it on the same port, and sync carries on.
    os.kill(published["server_pid"], signal.SIGKILL)
    wait_for(
        lambda: (
            json.loads(run_file.read_text())["server_pid"] != published["server_pid"] if run_file.exists() else False
        ),
        timeout=60,
        message="embedded CouchDB restart",
    )
    wait_for(lambda: health_ok(url), timeout=60, message="health after restart")
    device.run("create", "--count", "2")
    wait_for(lambda: device.run("push", check=False).get("ok"), timeout=60, message="push after restart")
    assert device.run("wait-reviews", "--timeout", "60")["reviewed"] == 5

    # Ctrl-C stops the whole tree.
    restarted = json.loads(run_file.read_text())["server_pid"]
    assert serve.proc.stop(signal.SIGINT, timeout=60) == 0, serve.proc.output()
    assert not run_file.exists()
    with pytest.raises(OSError):
        os.kill(restarted, 0)
    assert not health_ok(url)
