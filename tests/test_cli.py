"""The ``fangpin`` command as operators run it (a real subprocess against the real server)."""

from __future__ import annotations

from conftest import fangpin

from sync import names


def test_init_is_idempotent(conn, settings):
    out = fangpin(settings, "init").stdout
    assert "created: nothing (all present)" in out and "published: nothing new" in out


def test_villages_add_registers_once_and_creates_the_database(conn, settings):
    first = fangpin(settings, "villages", "add", "500112104201", "石坪村").stdout
    assert first.startswith("registered: 500112104201 石坪村 (township 500112104")
    assert conn.admin.db_info(names.village_db("500112104201")) is not None
    assert fangpin(settings, "villages", "add", "500112104201", "石坪村").stdout.startswith("unchanged")
    assert "500112104201\t石坪村\t500112104" in fangpin(settings, "villages", "list").stdout


def test_bad_village_code_is_refused_in_both_languages(conn, settings):
    proc = fangpin(settings, "villages", "add", "5001121", "短码村", check=False)
    assert proc.returncode != 0
    assert "村代码须为12位数字" in proc.stderr and "village code must be 12 digits" in proc.stderr


def test_areas_add_names_townships_and_counties_for_the_screens(conn, settings):
    assert fangpin(settings, "areas", "add", "500112104", "大盛镇").stdout == "registered: township 500112104 大盛镇\n"
    assert fangpin(settings, "areas", "add", "500112", "渝北区").stdout.startswith("registered: county")
    assert fangpin(settings, "areas", "add", "500112104", "大盛镇").stdout.startswith("unchanged")
    fangpin(settings, "areas", "add", "500112104", "大盛街道")  # renamed: the new name holds
    fangpin(settings, "villages", "add", "500112104201", "石坪村")
    assert fangpin(settings, "areas", "list").stdout == "500112\t渝北区\n500112104\t大盛街道\n"
    for bad in ("5001121", "50011210420x", "500112104201"):  # a village is named by `villages add`
        proc = fangpin(settings, "areas", "add", bad, "某地", check=False)
        assert proc.returncode != 0 and "乡镇代码须为9位" in proc.stderr and "a township code 9" in proc.stderr
    assert fangpin(settings, "areas", "add", "500113", " ", check=False).returncode != 0
    changes = [d for d in conn.admin.iter_prefix(names.CASES, "audit:") if d.get("action") == "area.upsert"]
    assert [(d["target"], d["after"]["name"]) for d in sorted(changes, key=lambda d: d["ts"])] == [
        ("area:500112104", "大盛镇"), ("area:500112", "渝北区"), ("area:500112104", "大盛街道")]  # fmt: skip


def test_users_add_hashes_the_password_and_checks_its_input(conn, settings):
    fangpin(settings, "villages", "add", "500112104201", "石坪村")
    out = fangpin(
        settings, "users", "add", "gw_wang", "--password", "s3cret-pass", "--role", "field", "--village", "500112104201"
    ).stdout
    assert out.startswith("created: gw_wang (field) villages=500112104201")
    doc = conn.admin.get(names.ACCOUNTS, "user:gw_wang")
    assert doc["password_hash"].startswith(("scrypt:", "pbkdf2:"))
    assert "s3cret-pass" not in str(doc)
    again = fangpin(
        settings, "users", "add", "gw_wang", "--password", "other-pass", "--role", "field", "--village", "500112104201"
    ).stdout
    assert again.startswith("updated")

    cases = [
        (["--password", "short", "--role", "field", "--village", "500112104201"], "at least 8"),
        (["--password", "long-enough", "--role", "field", "--village", "500112104299"], "unregistered village"),
        (["--password", "long-enough", "--role", "field"], "at least one --village"),
        (["--password", "long-enough", "--role", "clerk"], "a clerk needs --township"),
        (["--password", "long-enough", "--role", "clerk", "--township", "12"], "township code must be 9 digits"),
    ]
    for args, english in cases:
        proc = fangpin(settings, "users", "add", "someone", *args, check=False)
        assert proc.returncode != 0, args
        assert english in proc.stderr, proc.stderr
        assert any("\u4e00" <= ch <= "\u9fff" for ch in proc.stderr), "Chinese message missing"
    assert conn.admin.get(names.ACCOUNTS, "user:someone") is None
    listing = fangpin(settings, "users", "list").stdout
    assert "gw_wang\tfield\t500112104201" in listing


def test_account_changes_are_audited_without_secrets(conn, settings):
    from sync.audit import entries_for

    fangpin(settings, "villages", "add", "500112104201", "石坪村")
    fangpin(
        settings, "users", "add", "clerk_li", "--password", "clerk-pass-1", "--role", "clerk", "--township", "500112104"
    )
    [entry] = entries_for(conn.admin, "user:clerk_li")
    assert entry["action"] == "user.upsert" and entry["actor"] == "cli"
    assert entry["after"]["role"] == "clerk" and "password_hash" not in entry["after"]


def test_forms_build_check_passes_on_the_committed_forms(conn, settings):
    assert "checked: damage_survey" in fangpin(settings, "forms", "build", "--check").stdout


def test_users_add_never_changes_an_accounts_role_silently_and_enrol_shows_its_code(conn, settings):
    fangpin(settings, "villages", "add", "500112104201", "石坪村")
    args = ("--password", "clerk-pass-1", "--township", "500112104")
    fangpin(settings, "users", "add", "clerk_li", *args, "--role", "clerk")
    refused = fangpin(settings, "users", "add", "clerk_li", *args, "--role", "admin", check=False)
    assert refused.returncode != 0 and "--change-role" in refused.stderr and "角色" in refused.stderr
    assert conn.admin.get(names.ACCOUNTS, "user:clerk_li")["role"] == "clerk"
    assert fangpin(settings, "users", "add", "clerk_li", *args, "--role", "admin", "--change-role").stdout
    assert conn.admin.get(names.ACCOUNTS, "user:clerk_li")["role"] == "admin"
    fangpin(settings, "users", "add", "gw_li", "--password", "field-pass-1", "--role", "field", "--village",
            "500112104201")  # fmt: skip
    shown = fangpin(settings, "users", "enrol", "gw_li", "--server", "http://127.0.0.1:8080").stdout
    assert "█" in shown and "expires at" in shown  # the code is on the screen, not only in a file


def test_serve_on_a_port_in_use_says_so_and_stops(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    from sync.embedded import PROJECT_ROOT

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("FANGPIN_")}
        env["FANGPIN_DATA_DIR"] = str(tmp_path / "var")
        proc = subprocess.run([sys.executable, "-m", "server.ops.cli", "serve", "--port", str(port)], env=env,
                              capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)  # fmt: skip
    assert proc.returncode == 2 and "already in use" in proc.stderr and "已被占用" in proc.stderr
    assert "is running" not in proc.stdout


def test_a_command_run_outside_the_project_creates_nothing_and_says_where_it_looked(tmp_path):
    import os
    import subprocess
    import sys

    from sync.embedded import PROJECT_ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("FANGPIN_")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    for args in (["users", "list"], ["villages", "add", "500112104201", "石坪村"], ["worker", "--once"]):
        proc = subprocess.run([sys.executable, "-m", "server.ops.cli", *args], env=env, capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        assert "没有 Fangpin 数据目录" in proc.stderr and str(tmp_path / "var") in proc.stderr
        assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # no ./var left behind


def test_a_command_on_an_uninitialised_couchdb_says_to_run_init(conn, settings):
    proc = fangpin(settings, "users", "list", check=False, FANGPIN_DB_PREFIX=settings.db_prefix + "none_")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "系统尚未初始化" in proc.stderr and "fangpin init" in proc.stderr


def test_events_open_close_and_list_as_an_operator_runs_them(conn, settings):
    """A disaster event: opened once however often it is asked for, refused with reasons in both
    languages, closed, listed; every change audited."""
    fangpin(settings, "villages", "add", "500112104201", "石坪村")
    fangpin(settings, "villages", "add", "500112104202", "龙井村")
    fangpin(settings, "villages", "add", "500112105301", "外乡村")
    first = fangpin(settings, "events", "open", "--township", "500112104", "--type", "flood", "--start", "2026-11-18",
                    "--name", "11·18 暴雨", "--by", "clerk").stdout  # fmt: skip
    assert first.strip() == "opened: 500112104-2026-11-flood (500112104201, 500112104202)"  # all its villages
    again = fangpin(settings, "events", "open", "--township", "500112104", "--type", "flood", "--start", "2026-11-18")
    assert again.stdout.startswith("already open: 500112104-2026-11-flood")
    second = fangpin(settings, "events", "open", "--township", "500112104", "--type", "flood", "--start", "2026-11-25",
                     "--village", "500112104202").stdout  # fmt: skip
    assert second.strip() == "opened: 500112104-2026-11-flood-2 (500112104202)"  # another flood that month
    for args, zh in ((("--village", "500112105301"), "不是乡镇 500112104 已登记的村"),
                     (("--start", "2099-01-01"), "不能晚于今天")):  # fmt: skip
        start = () if "--start" in args else ("--start", "2026-11-18")
        refused = fangpin(settings, "events", "open", "--township", "500112104", "--type", "drought", *start, *args,
                          check=False)  # fmt: skip
        assert refused.returncode == 1 and zh in refused.stderr and "Traceback" not in refused.stderr
    assert fangpin(settings, "events", "close", "500112104-2026-11-flood").stdout.strip() == (
        "closed: 500112104-2026-11-flood"
    )
    listed = fangpin(settings, "events", "list").stdout.splitlines()
    assert listed == ["500112104-2026-11-flood\tclosed\t2026-11-18\t500112104201,500112104202\t11·18 暴雨",
                      "500112104-2026-11-flood-2\topen\t2026-11-25\t500112104202\t"]  # fmt: skip
    missing = fangpin(settings, "events", "close", "500112104-2026-12-flood", check=False)
    assert (
        missing.returncode == 1 and "没有这个灾害事件" in missing.stderr and "no such disaster event" in missing.stderr
    )
    actions = [d["action"] for d in conn.admin.iter_prefix(names.CASES, "audit:") if d["action"].startswith("event.")]
    assert sorted(actions) == ["event.close", "event.open", "event.open"]
