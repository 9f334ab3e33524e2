"""The ``fangpin`` command for operators.

Every command that needs CouchDB gets it through :func:`sync.embedded.connect`: it uses
``FANGPIN_COUCHDB_URL`` when set, attaches to the embedded server of a running ``serve``, or
starts the embedded server just for the command and stops it afterwards.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click

from forms import XForm, build, build_all, current_forms, shipped_forms
from server.access.accounts import (
    ROLES,
    AccountError,
    add_area,
    add_user,
    add_village,
    get_user,
    list_users,
    list_villages,
    place_names,
)
from server.casework import events as disaster_events
from server.pipeline import event_store
from server.pipeline.worker import Worker, parse_shard
from server.validation.submission import local_today
from sync import bootstrap
from sync.couch import CouchError
from sync.embedded import EmbeddedError, connect
from sync.settings import Settings


def settings() -> Settings:
    return Settings.from_env()


def fail(exc: Exception) -> None:
    raise click.ClickException(str(exc))


class Commands(click.Group):
    """The command group; storage failures become one clear line, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except EmbeddedError as exc:
            raise click.ClickException(str(exc)) from None
        except CouchError as exc:
            if exc.missing_db:
                message = "系统尚未初始化 / not initialised here: run `fangpin init` (or `fangpin serve`) first"
            elif exc.disk_full:
                message = "CouchDB 磁盘已满 / CouchDB's disk is full: nothing more was written"
            else:
                message = f"CouchDB 出错 / CouchDB answered {exc.status} {exc.error}"
            raise click.ClickException(message) from None


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="More log output.")
def main(verbose: bool) -> None:
    """Fangpin 防贫: offline-first field-survey backend for disaster response."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Never the HTTP bodies, even with -v: the Cloudant SDK's debug logging prints every request and
    # response (ID numbers, phones, health) through its "ibm-cloud-sdk-core" logger.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("ibm-cloud-sdk-core").setLevel(logging.WARNING)


@main.command("init")
def init_cmd() -> None:
    """Create databases, security, design docs and indexes; publish the forms (idempotent)."""
    with connect(settings(), create=True) as conn:
        summary = bootstrap.init(conn)
    click.echo(f"created: {', '.join(summary['created']) or 'nothing (all present)'}")
    click.echo(f"village databases: {len(summary['villages'])}")
    click.echo(f"published: {', '.join(summary['published']) or 'nothing new'}")
    for note in summary["notes"]:
        click.echo(note)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", "web_workers", default=2, show_default=True, help="gunicorn worker processes")
@click.option("--threads", default=256, show_default=True, help="threads per web worker (each live tablet holds one)")
def serve(host: str, port: int, web_workers: int, threads: int) -> None:
    """Run everything: CouchDB (embedded unless configured), init, worker and web."""
    from server.ops.supervisor import serve as run

    sys.exit(run(settings(), host, port, web_workers, threads))


@main.command()
@click.option("--shard", default="0/1", show_default=True, help="follow villages i of n (code mod n)")
@click.option("--batch-size", default=500, show_default=True)
@click.option("--once", is_flag=True, help="one sweep over all villages, then exit")
@click.option("--threads", default=3, show_default=True, help="villages processed side by side")
def worker(shard: str, batch_size: int, once: bool, threads: int) -> None:
    """Follow every village database: review, merge into households, settle revision conflicts."""
    try:
        shard_spec = parse_shard(shard)
    except ValueError as exc:
        fail(exc)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with connect(settings()) as conn:
        w = Worker(conn.admin, batch_size=batch_size, shard=shard_spec, threads=max(1, threads))
        if once:
            click.echo(f"reviews written: {w.sweep()}")
            return
        logging.getLogger("fangpin.worker").info("worker following villages (shard %s)", shard)
        w.run(stop)


@main.command()
@click.option("--village", "village_codes", multiple=True, help="only this village (repeatable)")
def revalidate(village_codes: tuple[str, ...]) -> None:
    """Check every stored submission again (after a rule or form change) and update its review."""
    with connect(settings()) as conn:
        worker = Worker(conn.admin)
        unknown = sorted(set(village_codes) - set(worker.villages()))
        if unknown:
            fail(ValueError(f"未登记的村 / unregistered village(s): {', '.join(unknown)}"))
        counts = worker.revalidate(list(village_codes) or None)
    click.echo(f"checked {counts['checked']} submissions, {counts['changed']} reviews updated")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", "web_workers", default=2, show_default=True)
@click.option("--threads", default=256, show_default=True, help="threads per web worker (each live tablet holds one)")
def web(host: str, port: int, web_workers: int, threads: int) -> None:
    """Run the web service (API, sync gateway) under gunicorn."""
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--no-control-socket",
        "--worker-class",
        "server.web.gthread_worker.ThreadWorker",  # gunicorn's gthread, closing without lingering
        "--workers",
        str(web_workers),
        "--threads",
        str(threads),
        "--bind",
        f"{host}:{port}",
        "--graceful-timeout",
        "10",
        # A tablet's idle connection is kept 30 s, not gunicorn's 2 s: closed while a client reuses
        # it, its next request fails ("socket hang up"), which browsers retry and PouchDB in Node
        # does not; an idle connection costs a descriptor, not a thread.
        "--keep-alive",
        "30",
        "--access-logfile",
        "-",
        # the path without its query string: a clerk's search may hold a name or a number (PIPL)
        "--access-logformat",
        '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss %(p)s',  # %(p)s: which web process
        "--logger-class",
        "server.web.access_log.MaskingLogger",
        "server.web.wsgi:app",
    ]
    with connect(settings()):
        proc = subprocess.Popen(args)
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            code = proc.wait()
    sys.exit(code)


@main.group()
def villages() -> None:
    """Register and list villages."""


@villages.command("add")
@click.argument("code")
@click.argument("name")
def villages_add(code: str, name: str) -> None:
    """Register village CODE (12 digits) called NAME and create its database (idempotent)."""
    with connect(settings()) as conn:
        bootstrap.init(conn)
        try:
            village, changed = add_village(conn.admin, code, name)
        except AccountError as exc:
            fail(exc)
        bootstrap.ensure_village_db(conn, village.code)
    click.echo(
        f"{'registered' if changed else 'unchanged'}: {village.code} {village.name} "
        f"(township {village.township}, database fp_v_{village.code})"
    )


@villages.command("list")
def villages_list() -> None:
    with connect(settings()) as conn:
        for v in list_villages(conn.admin):
            click.echo(f"{v.code}\t{v.name}\t{v.township}")


@main.group()
def areas() -> None:
    """Name townships and counties (villages: ``fangpin villages add``)."""


@areas.command("add")
@click.argument("code")
@click.argument("name")
def areas_add(code: str, name: str) -> None:
    """Name township CODE (9 digits) or county CODE (6 digits) NAME (idempotent)."""
    with connect(settings()) as conn:
        bootstrap.init(conn)
        try:
            level, changed = add_area(conn.admin, code, name)
        except AccountError as exc:
            fail(exc)
    click.echo(f"{'registered' if changed else 'unchanged'}: {level} {code} {name.strip()}")


@areas.command("list")
def areas_list() -> None:
    with connect(settings()) as conn:
        for code, name in sorted(place_names(conn.admin).items()):
            if len(code) < 12:
                click.echo(f"{code}\t{name}")


@main.group()
def users() -> None:
    """Create and list accounts."""


@users.command("add")
@click.argument("name")
@click.option("--password", required=True, help="at least 8 characters")
@click.option("--role", required=True, type=click.Choice(list(ROLES)))
@click.option("--village", "village_codes", multiple=True, help="assigned village (repeatable; field and village)")
@click.option("--township", default=None, help="9-digit township code (clerks)")
@click.option("--county", default=None, help="6-digit county code (county accounts)")
@click.option("--change-role", is_flag=True, help="allow an existing account to get another role")
def users_add(
    name: str,
    password: str,
    role: str,
    village_codes: tuple[str, ...],
    township: str | None,
    county: str | None,
    change_role: bool,
) -> None:
    """Create or update account NAME (a new role for an existing account needs --change-role)."""
    with connect(settings()) as conn:
        bootstrap.init(conn)
        try:
            current = get_user(conn.admin, name)
            if current is not None and current.role != role and not change_role:
                raise AccountError(
                    f"账号 {name} 已存在，角色为 {current.role}；要改为 {role} 请加 --change-role",
                    f"account {name} exists with role {current.role}; add --change-role to make it {role}",
                )
            user, created = add_user(conn.admin, name, password, role, list(village_codes), township, county=county)
        except AccountError as exc:
            fail(exc)
    click.echo(
        f"{'created' if created else 'updated'}: {user.name} ({user.role}) "
        f"villages={','.join(user.villages) or '-'} township={user.township or '-'} county={user.county or '-'}"
    )


@users.command("list")
def users_list() -> None:
    with connect(settings()) as conn:
        for u in list_users(conn.admin):
            click.echo(f"{u.name}\t{u.role}\t{','.join(u.villages) or '-'}\t{u.township or '-'}\t{u.county or '-'}")


@main.group()
def events() -> None:
    """Open, close and list disaster events (灾害事件): damage surveys pick an open one."""


@events.command("open")
@click.option("--township", required=True, help="9-digit township code")
@click.option("--type", "disaster_type", required=True, type=click.Choice(sorted(disaster_events.disaster_types())))
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="the day it began (YYYY-MM-DD)")
@click.option("--village", "village_codes", multiple=True, help="affected village (repeatable; default: all)")
@click.option("--name", default="", help="a name people know it by, e.g. 7·18 暴雨")
@click.option("--by", "actor", default="cli", show_default=True, help="who opens it (for the audit log)")
def events_open(
    township: str, disaster_type: str, start, village_codes: tuple[str, ...], name: str, actor: str
) -> None:
    """Open an event; prints its id. The same open event asked for again is not made twice."""
    with connect(settings()) as conn:
        bootstrap.init(conn)
        try:
            doc, opened = event_store.open_event(
                conn.admin, township, disaster_type, start.date(), village_codes, actor, local_today(), name
            )
        except disaster_events.EventError as exc:
            fail(exc)
    click.echo(f"{'opened' if opened else 'already open'}: {doc['event_id']} ({', '.join(doc['villages'])})")


@events.command("close")
@click.argument("event_id")
@click.option("--by", "actor", default="cli", show_default=True, help="who closes it (for the audit log)")
def events_close(event_id: str, actor: str) -> None:
    """Close EVENT_ID: surveys no longer offer it (those made under it keep it)."""
    with connect(settings()) as conn:
        try:
            doc, closed = event_store.close_event(conn.admin, event_id, actor)
        except disaster_events.EventError as exc:
            fail(exc)
    click.echo(f"{'closed' if closed else 'already closed'}: {doc['event_id']}")


@events.command("list")
def events_list() -> None:
    with connect(settings()) as conn:
        for e in event_store.all_events(conn.admin):
            click.echo(f"{e['event_id']}\t{e['status']}\t{e['start_date']}\t{','.join(e['villages'])}\t{e['name']}")


@main.group()
def forms() -> None:
    """Build and publish the survey forms."""


@forms.command("build")
@click.option("--check", is_flag=True, help="write nothing; fail if a built XForm is out of date")
@click.option("--validate", is_flag=True, help="also run ODK Validate (needs Java)")
def forms_build(check: bool, validate: bool) -> None:
    """Build forms/*.xml from the XLSForm sources forms/*.xlsx with pyxform."""
    try:
        stale = build_all(check=check, validate=validate)
    except ValueError as exc:
        fail(exc)
    if check and stale:
        raise click.ClickException(f"out of date: {', '.join(stale)} (run fangpin forms build)")
    click.echo(f"{'checked' if check else 'built'}: " + ", ".join(f"{f.form_id} v{f.version}" for f in current_forms()))


@forms.command("publish")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
def forms_publish(files: tuple[str, ...]) -> None:
    """Publish forms to fp_forms: the built forms of this release, or FILES (a built XForm .xml, or an
    XLSForm .xlsx/.md built here). A new version must come after the published ones; a published
    version is never overwritten, and older versions stay published."""
    try:
        chosen = [
            XForm.parse(Path(f).read_bytes() if f.endswith(".xml") else build(Path(f), file_type=Path(f).suffix))
            for f in files
        ] or shipped_forms()
    except ValueError as exc:
        fail(exc)
    with connect(settings()) as conn:
        bootstrap.init(conn, forms=[])
        for form in chosen:
            try:
                new = bootstrap.publish_form(conn.admin, form)
            except ValueError as exc:
                fail(exc)
            click.echo(f"{'published' if new else 'already published'}: {form.doc_id} {form.md5}")


@main.group()
def policy() -> None:
    """Check, compare and switch the risk-tier policy (server/casework/policy/default.toml is the default)."""


def _load_policy(path: str):
    from server.casework.policy import PolicyError, load

    try:
        return load(path)
    except PolicyError as exc:
        for problem in exc.problems:
            where = f"{path}:{problem.line}" if problem.line else path
            click.echo(f"{where}: {problem.key}: {problem.zh} / {problem.en}", err=True)
        raise click.ClickException(f"{len(exc.problems)} problem(s) in {path}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None


@policy.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
def policy_check(file: str) -> None:
    """Validate a policy file; errors name the line and key, in Chinese and English."""
    checked = _load_policy(file)
    counties = sorted(checked.data.get("counties", {}))
    click.echo(
        f"ok: {checked.name} {checked.version}, {len(checked.data['income_lines'])} income lines, "
        f"{len(checked.data['rules'])} rules" + (f", county overrides: {', '.join(counties)}" if counties else "")
    )


@policy.command("diff")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--households", "each", is_flag=True, help="list every household that moves, with its reasons")
def policy_diff(files: tuple[str, ...], each: bool) -> None:
    """What switching to NEW would change on today's data, village by village: `diff NEW` compares
    the policy in force with NEW, `diff OLD NEW` two files. Nothing is written."""
    from server.pipeline import policy_store
    from server.validation.submission import local_today

    if len(files) > 2:
        raise click.UsageError("give NEW, or OLD NEW")
    with connect(settings()) as conn:
        before = _load_policy(files[0]) if len(files) == 2 else policy_store.active(conn.admin)
        after = _load_policy(files[-1])
        rows, moves = policy_store.diff(conn.admin, before, after, local_today())
    click.echo(f"{before.version} → {after.version}" + ("" if len(files) == 2 else " (在用 / in force → file)"))
    total = changed = reasons = 0
    for village, row in sorted(rows.items()):
        shifts = ", ".join(f"{k} {v}" for k, v in sorted(row.items()) if "→" in k)
        click.echo(
            f"{village}: {row['households']} 户 / households, 分级变化 / tier changes {row['changed']}"
            + (f" ({shifts})" if shifts else "")
            + f", 仅理由变化 / other reasons only {row['reasons']}"
        )
        total, changed, reasons = total + row["households"], changed + row["changed"], reasons + row["reasons"]
    click.echo(f"合计 / in all: {changed} of {total} households change tier, {reasons} keep it for other reasons")
    if each:
        for m in moves:
            click.echo(
                f"  {m['household']}: {m['before'] or 'none'} {' '.join(m['rules_before']) or '-'}"
                f" → {m['after'] or 'none'} {' '.join(m['rules_after']) or '-'}"
            )


@policy.command("activate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--reason", required=True, help="why the policy changes (kept with every tier it changes)")
@click.option("--by", "actor", default="cli", show_default=True, help="who switches it (for the audit log)")
def policy_activate(file: str, reason: str, actor: str) -> None:
    """Put a policy in force and recompute every household's tier, recording why."""
    from server.pipeline import policy_store
    from server.validation.submission import local_today

    new = _load_policy(file)
    with connect(settings()) as conn:
        bootstrap.init(conn, forms=[])
        doc = policy_store.activate(conn.admin, new, actor, reason)
        cause = {"kind": "policy", "policy_version": new.version, "previous": doc["previous"], "reason": reason}
        counts = policy_store.recompute_all(conn.admin, new, cause, local_today(), progress=_progress)
        click.echo("", err=True)
    click.echo(
        f"policy {new.version} in force (was {doc['previous']}); "
        f"{counts['changed']} of {counts['households']} households changed tier"
    )


def _progress(done: int) -> None:
    click.echo(f"\rrecomputed {done} households", nl=False, err=True)


@main.command()
def demo() -> None:
    """Load a demo township: villages, a grid worker per village, a clerk, an admin and a roster."""
    from server.ops.demo import load_demo

    with connect(settings(), create=True) as conn:
        bootstrap.init(conn)
        for line in load_demo(conn):
            click.echo(line)


@main.group()
def roster() -> None:
    """Import the township's household roster (the national system's Excel or CSV export)."""


@roster.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--village", help="12-digit village code, for files whose 户编号 is a short number")
@click.option("--dry-run", is_flag=True, help="check every row and report; write nothing")
@click.option("--report", type=click.Path(dir_okay=False), help="where to write the error report (.xlsx)")
@click.option("--by", default="operator", show_default=True, help="who imports (for the audit log)")
def roster_import(file: str, village: str | None, dry_run: bool, report: str | None, by: str) -> None:
    """Create and update households from FILE (.xlsx or .csv); all or nothing.

    Every row is checked with the survey's rules first (ID check digits, one head, duplicate IDs,
    …). If any row is wrong nothing is written and the file comes back as FILE.errors.xlsx with an
    error column. Importing the same file again changes nothing; a newer roster updates households.
    """
    from server.casework.roster import RosterError
    from server.pipeline import roster_import as importer
    from server.validation.submission import local_today

    path = Path(file)
    with connect(settings()) as conn:
        try:
            with click.progressbar(length=1, label="写入 / writing", show_pos=True) as bar:

                def advance(done: int, total: int) -> None:
                    bar.length = total
                    bar.update(done)

                outcome = importer.run(
                    conn.admin, path.name, path.read_bytes(), village, by, local_today(),
                    dry_run=dry_run, progress=advance,
                )  # fmt: skip
        except RosterError as exc:
            fail(exc)
    r = outcome.roster
    click.echo(
        f"行 rows: {len(r.rows)}  户 households: {len({row.household for row in r.rows if row.household})}  "
        f"错误 errors: {r.errors}  提醒 warnings: {r.warnings}"
    )
    if r.errors or r.warnings:
        target = Path(report) if report else path.with_name(path.stem + ".errors.xlsx")
        target.write_bytes(outcome.report_xlsx())
        click.echo(f"报告 report: {target}")
    if r.errors:
        raise click.ClickException("有错误，未导入任何数据 / there are errors; nothing was imported")
    if outcome.written:
        c = outcome.counts
        click.echo(f"新建 created: {c['created']}  更新 updated: {c['updated']}  未变 unchanged: {c['unchanged']}")
    else:
        click.echo("试运行，未写入 / dry run: nothing written")


@users.command("enrol")
@click.argument("name")
@click.option(
    "--server", "server_url", required=True, help="the address tablets reach, e.g. https://fangpin.example.cn"
)
@click.option("--ttl", default=15, show_default=True, help="minutes the code stays valid")
@click.option("--png", "png_path", type=click.Path(dir_okay=False), help="write the QR code as PNG")
@click.option("--svg", "svg_path", type=click.Path(dir_okay=False), help="write the QR code as SVG")
def users_enrol(name: str, server_url: str, ttl: int, png_path: str | None, svg_path: str | None) -> None:
    """A single-use enrolment QR code for a grid worker's tablet (no password in it)."""
    import datetime as dt

    from server.access import enrolment
    from server.web import qr
    from server.web.gateway import sync_databases

    with connect(settings()) as conn:
        try:
            made = enrolment.create(conn.admin, name, "cli", dt.datetime.now(dt.UTC), ttl)
        except enrolment.EnrolmentError as exc:
            fail(exc)
    payload = qr.enrolment(server_url, name, sync_databases(made.user), made.token, made.expires_at)
    for path, render in ((png_path, qr.png), (svg_path, qr.svg)):
        if path:
            Path(path).write_bytes(render(payload))
            click.echo(f"QR: {path}")
    if not png_path and not svg_path:  # shown here, to scan from the screen (it was made and never shown)
        click.echo(qr.terminal(payload))
    click.echo(f"有效至 expires at {made.expires_at}")


@users.command("odk-qr")
@click.argument("name")
@click.option("--server", "server_url", required=True, help="the address ODK Collect reaches")
@click.option("--png", "png_path", type=click.Path(dir_okay=False), required=True)
@click.option("--insecure", is_flag=True, help="allow an http:// address (test networks only)")
def users_odk_qr(name: str, server_url: str, png_path: str, insecure: bool) -> None:
    """ODK Collect's settings QR for a grid worker (server, user name; Collect asks the password).

    Collect sends Basic auth only over https, so an http:// address is refused unless --insecure.
    """
    from server.web import qr

    try:
        payload = qr.odk_settings(server_url, name, insecure=insecure)
    except qr.InsecureServer as exc:
        raise click.ClickException(f"{exc} (--insecure)") from None
    Path(png_path).write_bytes(qr.png(payload))
    click.echo(f"QR: {png_path}")


@users.command("devices")
@click.argument("name")
def users_devices(name: str) -> None:
    """A grid worker's enrolled tablets."""
    from server.access import enrolment

    with connect(settings()) as conn:
        for d in enrolment.devices(conn.admin, name):
            state = f"revoked {d['revoked_at']}" if d["revoked_at"] else "active"
            click.echo(f"{d['device_id']}\t{d['label'] or ''}\tenrolled {d['enrolled_at']}\t{state}")


@users.command("revoke")
@click.argument("name")
@click.argument("device_id")
def users_revoke(name: str, device_id: str) -> None:
    """Revoke one tablet's credential (the account and its other tablets keep working)."""
    import datetime as dt

    from server.access import enrolment

    with connect(settings()) as conn:
        try:
            changed = enrolment.revoke(conn.admin, name, device_id, "cli", dt.datetime.now(dt.UTC))
        except enrolment.EnrolmentError as exc:
            fail(exc)
    click.echo("revoked" if changed else "already revoked")


if __name__ == "__main__":
    main()
