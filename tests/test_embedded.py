"""The embedded server launcher and how commands find CouchDB."""

from __future__ import annotations

import json
import stat
import sys

import pytest
import requests

from sync.embedded import EmbeddedError, Ownership, attach_url, connect
from sync.settings import Settings, split_credentials

pytestmark = pytest.mark.embedded_only  # the embedded server itself


def test_connect_starts_a_server_for_the_command_and_stops_it_after(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", in_memory=True)
    with pytest.raises(EmbeddedError, match="no Fangpin data directory"), connect(settings):
        pass  # only init, serve and demo make a data directory
    assert not (tmp_path / "data").exists()
    with connect(settings, create=True) as conn:
        url = conn.url
        assert url.startswith("http://127.0.0.1:")
        assert conn.admin.server_info()["version"]
        published = json.loads((tmp_path / "data" / "run" / "couchdb.json").read_text())
        assert published["url"] == url
        # a second command on the same data directory attaches instead of starting another server
        with connect(settings) as second:
            assert second.url == url
        assert requests.get(url, timeout=2).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=2)
    assert not (tmp_path / "data" / "run" / "couchdb.json").exists()


def test_admin_password_is_generated_once_and_kept_private(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", in_memory=True)
    first = settings.secrets()
    assert settings.secrets() == first
    mode = (tmp_path / "data" / "secrets.json").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    with connect(settings) as conn:
        config = (tmp_path / "data" / "couchdb" / "config.json").read_text()
        assert first["admin_password"] not in config  # only the hash is kept by pouchdb-server
        assert requests.get(conn.url + "/_all_dbs", timeout=2, auth=("fpadmin", "wrong")).status_code == 401


def test_a_stale_run_file_is_ignored(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", in_memory=True)
    run = tmp_path / "data" / "run"
    run.mkdir(parents=True)
    (run / "couchdb.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 1}))
    with connect(settings, create=True) as conn:
        assert conn.url != "http://127.0.0.1:9"
        assert conn.admin.server_info()


def test_attach_waits_for_an_owner_and_gives_up_clearly(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    owner = Ownership(settings)
    assert owner.try_acquire()
    with pytest.raises(EmbeddedError, match="no embedded CouchDB"):
        attach_url(settings, deadline_s=0.3)
    owner.release()


def test_credentials_never_stay_in_the_url():
    url, cred = split_credentials("https://ops:p%40ss@couch.example.org:6984/")
    assert url == "https://couch.example.org:6984"
    assert (cred.name, cred.password) == ("ops", "p@ss")
    assert "p@ss" not in repr(cred)


def test_a_feed_watch_outlives_a_restart_of_its_server(tmp_path):
    """A watch whose long-poll is cut mid-answer (the server stops) keeps watching: once the server
    is back, a write wakes its waiters. (The cut used to end the watch thread, leaving its seq stale
    for good: no long-poll of that database woke again.)"""
    from conftest import wait_for

    from sync.embedded import EmbeddedServer, attach
    from sync.watch import FeedWatch

    settings = Settings(data_dir=tmp_path / "data")
    ownership = Ownership(settings)
    assert ownership.try_acquire()
    server = EmbeddedServer(settings)
    server.start()
    ownership.publish(server)
    try:
        admin = attach(settings).admin
        admin.create_db("watched")
        watch = FeedWatch(admin, poll_s=30.0, retry_s=0.2)
        before = watch.seq("watched")

        def in_long_poll() -> bool:  # the watch thread is reading a long-poll's answer
            frame, names = sys._current_frames().get(watch._threads["watched"].ident), set()
            while frame is not None:
                names.add(frame.f_code.co_name)
                frame = frame.f_back
            return {"wait_for_change", "read_chunked"} <= names

        wait_for(in_long_poll, message="the watch's long-poll under way")
        server.stop()  # cuts the watch's long-poll mid-answer
        server = EmbeddedServer(settings, port=server.port)
        server.start()
        admin.put("watched", {"_id": "after-the-restart"})
        assert watch.wait_any({"watched": before}, 30.0) == {"watched"}
        assert watch._threads["watched"].is_alive()
    finally:
        server.stop()
        ownership.release()
