"""backup-headless: the engine for cron and systemd timers.

Exit codes: 0 done, 1 the operation failed, 2 usage or configuration error,
3 lock held by another run, 4 verification failed. Errors are one line on
stderr; on success nothing is printed unless a terminal is attached.
"""

from __future__ import annotations

import argparse
import errno
import functools
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from backup_tui import __version__
from backup_tui.engine.config import DatabaseConfig, Settings, exposed_password, load_settings, redacted
from backup_tui.engine.core import names
from backup_tui.engine.core.encryption import identity_path
from backup_tui.engine.core.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    EXIT_VERIFY,
    BackupToolError,
    ConfirmationRequired,
    NotFoundError,
    VerificationError,
)
from backup_tui.engine.core.models import BackupRecord, VerifyLevel, utc_iso
from backup_tui.engine.core.runs import outcome
from backup_tui.engine.ops import pins, swap
from backup_tui.engine.ops.after_run import notices_at_the_end
from backup_tui.engine.ops.backup import plan_backup, run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.keys import encryption_said, exposed_identity
from backup_tui.engine.postgres import pg
from backup_tui.engine.storage import files, legacy
from backup_tui.engine.storage.local import check_repository, require_repository
from backup_tui.engine.storage.paths import log_folder
from backup_tui.engine.storage.s3 import probe as s3_probe
from backup_tui.engine.storage.space import DISK_FULL, free_bytes, human_bytes
from headless import delete_cli, monitor, output, report_cli, runlog, schedule_cli
from headless.output import Output
from headless.runlog import log


class UsageError(BackupToolError):
    exit_code = EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")  # main() says it, in JSON too under --json


def _parse(parser: argparse.ArgumentParser, words: list[str]) -> argparse.Namespace:
    """The arguments; a flag the command does not take points at that command's help, where its flags are
    (argparse's own error pointed at the top-level help, which lists none of them)."""
    args, extras = parser.parse_known_args(words)
    if extras:
        where = f"{parser.prog} {args.command}" if getattr(args, "command", None) else parser.prog
        raise UsageError(f"unrecognized arguments: {' '.join(extras)} (see '{where} --help')")
    for option in NOT_EMPTY:
        value = getattr(args, option, None)
        if value is not None and not value.strip():
            raise UsageError(f"--{option} is empty: give its value, or leave the option out "
                             f"(see '{parser.prog} {args.command} --help')")
    return args


# Options given empty ("--database $DB" with DB unset in a cron line) that read as left out, or as more: a prune
# or a verify --all of every database, kept --drop listing and exiting 0, schedule install --user running the jobs
# as root and --root writing below the current folder, monitor --serve --bind serving every interface.
NOT_EMPTY = ("database", "drop", "host", "user", "root", "bind")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="backup-headless", description="PostgreSQL backups for cron and systemd timers.")
    parser.add_argument("--config", metavar="FILE", help="TOML config file (default: $BACKUP_TUI_CONFIG)")
    parser.add_argument("--version", action="version", version=f"backup-headless {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="machine-readable output on stdout")

    def identity_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--identity", metavar="FILE",
                       help="age identity file (age-keygen's) that opens encrypted backups; overrides "
                            "[encryption] identity_file and BACKUP_ENCRYPTION_IDENTITY_FILE")

    p = sub.add_parser("backup", help="take a backup (of every configured database without --database)")
    p.add_argument("--database", metavar="NAME")
    p.add_argument("--dry-run", action="store_true", help="show the plan, touch nothing")
    p.add_argument("--no-upload", action="store_true", help="keep the backup local only (no upload to S3 this time)")
    json_flag(p)

    p = sub.add_parser("list", help="list the catalog, newest first")
    p.add_argument("--database", metavar="NAME")
    p.add_argument("--location", choices=["local", "s3", "all"], default="all",
                   help="only the backups with a copy there (default: all)")
    p.add_argument("--host", metavar="NAME", help="only the backups this host made (a bucket serves a fleet)")
    json_flag(p)

    p = sub.add_parser("upload", help="send a backup's local copy to S3 (the old scripts' backups too)")
    p.add_argument("backup_id", metavar="BACKUP_ID")
    json_flag(p)

    p = sub.add_parser("locations", help="where each backup's copies are: local, s3 or both")
    p.add_argument("--database", metavar="NAME")
    json_flag(p)

    p = sub.add_parser("show", help="one backup: manifest, row counts, verification history")
    p.add_argument("backup_id", metavar="BACKUP_ID")
    json_flag(p)

    p = sub.add_parser("verify", help="verify backups (full test restore unless --quick)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("backup_id", nargs="?", metavar="BACKUP_ID")
    target.add_argument("--all", action="store_true", help="every backup in the catalog")
    p.add_argument("--database", metavar="NAME", help="with --all: only this database")
    p.add_argument("--quick", action="store_true", help="checksums, decoding and archive listing only")
    p.add_argument("--parallel", type=int, default=1, metavar="N")
    p.add_argument("--dry-run", action="store_true", help="say what each check would do; read nothing")
    identity_flag(p)
    json_flag(p)

    p = sub.add_parser("restore", help="restore into a new database, or replace the original")
    p.add_argument("backup_id", metavar="BACKUP_ID")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--target-db", metavar="NAME", help="restore into this new database")
    where.add_argument("--replace", action="store_true", help="replace the original (kept aside for rollback)")
    p.add_argument("--no-safety-backup", action="store_true", help="with --replace: skip the backup taken first")
    p.add_argument("--no-owner", action="store_true",
                   help="for a server without the backup's roles: objects belong to the user we connect as, "
                        "privileges and per-role settings are left out")
    p.add_argument("--no-tablespaces", action="store_true",
                   help="for a server without the backup's tablespaces: every table and index goes to the new "
                        "database's default tablespace")
    p.add_argument("--dry-run", action="store_true", help="print the flight plan, change nothing")
    p.add_argument("--yes", action="store_true", help="confirm destructive steps without a terminal")
    identity_flag(p)
    json_flag(p)

    p = sub.add_parser("prune", help="apply daily/weekly/monthly retention")
    p.add_argument("--database", metavar="NAME")
    p.add_argument("--dry-run", action="store_true", help="list what would go and why")
    json_flag(p)

    delete_cli.add_parser(sub)

    for name, text in (("pin", "keep a backup whatever retention says"), ("unpin", "let retention decide again")):
        p = sub.add_parser(name, help=text)
        p.add_argument("backup_id", metavar="BACKUP_ID")
        json_flag(p)

    p = sub.add_parser("repair", help="finish or roll back a restore --replace or rollback that was killed mid-swap")
    p.add_argument("--database", metavar="NAME", help="only this database (default: every unfinished swap)")
    json_flag(p)

    p = sub.add_parser("kept", help="list the databases a replace or rollback kept aside, or drop one")
    p.add_argument("--database", metavar="NAME", help="only this database's (default: every configured one)")
    p.add_argument("--drop", metavar="NAME", help="drop this kept copy (sessions on it are ended)")
    p.add_argument("--yes", action="store_true", help="with --drop: confirm without a terminal")
    json_flag(p)

    p = sub.add_parser("rollback", help="undo a restore --replace: the copy it kept becomes the database again")
    p.add_argument("target", metavar="DATABASE")
    p.add_argument("--to", metavar="NAME", help="the kept copy to return to (default: the newest a replace kept)")
    p.add_argument("--yes", action="store_true", help="confirm without a terminal")
    json_flag(p)

    p = sub.add_parser("s3", help="set up the bucket: create it, versioning, default object lock")
    p.add_argument("action", choices=["init"])
    p.add_argument("--object-lock-days", type=int, metavar="N", help="default retention: no deletion for N days")
    p.add_argument("--object-lock-mode", choices=["governance", "compliance"],
                   help="with --object-lock-days (default governance)")
    p.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    json_flag(p)
    monitor.add_parser(sub)
    monitor.add_notify_parser(sub)
    report_cli.add_parser(sub)
    schedule_cli.add_parser(sub)

    p = sub.add_parser("config", help="show the merged settings or check them")
    p.add_argument("action", choices=["show", "check"])
    json_flag(p)
    return parser


# A read-only mount (a disaster-recovery copy, a full-disk remount) or a folder of another user: the run
# says where, in one line, instead of "unexpected OSError".
NOT_ALLOWED = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (systemd, timeout, a dropped SSH session), handled as Ctrl+C is: every
    cleanup that undoes a half-done step on KeyboardInterrupt runs for these too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)  # its number, where ``outcome`` reads it


def _stop(signum: int, frame: object) -> None:
    raise Stopped(signum)


def main(argv: Sequence[str] | None = None) -> int:
    files.make_private()  # before anything is written: dumps, manifests, logs are the owner's alone
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parse(build_parser(), words)
    except UsageError as exc:
        return Output(as_json="--json" in words, interactive=False).fail(exc.message, exc.exit_code)
    out = Output(as_json=getattr(args, "json", False), interactive=sys.stdout.isatty())
    out.unknown_on_failure = monitor.judges(args)
    handler: runlog.RunLog | None = None
    for stopping in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stopping, _stop)
    try:
        settings = load_settings(args.config)
        if getattr(args, "identity", None):  # flags over the environment over the file, as for every setting
            given = identity_path(args.identity, "--identity")
            settings = replace(settings, encryption=replace(settings.encryption, identity_file=given))
        if args.command != "config":  # config check names it among its other findings
            check_repository(settings.repository)  # a file in the way: exit 2 before anything writes there
        if args.command not in CREATES_REPOSITORY:
            require_repository(settings.repository)
        ctx = Context(settings, reporter=out)  # one per command: its catalog, its reporter
        if getattr(args, "database", None) and args.command != "backup":  # backup: settings.database() says it
            _known_database(ctx, args.database)
            args.database = _as_backed_up(settings, args.database)
        if args.command == "rollback":
            _known_database(ctx, args.target)
            args.target = _as_backed_up(settings, args.target)
        if not _read_only(args):
            handler = runlog.open_run_log(settings, args.command)
            _close_to_others(settings, out)
        log.info("backup-headless %s %s", __version__, " ".join(sys.argv[1:]))
        with notices_at_the_end(settings):
            code = COMMANDS[args.command](ctx, args, out)
        sys.stdout.flush()  # here, where a reader that went away is handled, not at interpreter exit
        if code == EXIT_OK:  # a command that reported its failure itself said its one line
            out.said_at_end()
        log.info("exit %d", code)
        return code
    except (BackupToolError, KeyboardInterrupt) as exc:  # said and coded as the journal records the run
        _, code, said = outcome(exc)
        return out.fail(said, code)
    except BrokenPipeError:  # the reader stopped reading (| head): what it read is what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return EXIT_OK
    except Exception as exc:  # the last line of defence: one line for people, the trace for the log
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:  # a full disk is no bug: no trace
            return out.fail(f"disk full: cannot write {exc.filename or 'a file'} ({exc.strerror})", EXIT_FAILED)
        if isinstance(exc, OSError) and exc.errno in NOT_ALLOWED and exc.filename:  # the setup's, not a bug
            log.error("%s", traceback.format_exc())
            return out.fail(f"{exc.strerror}: {exc.filename} (a read-only mount, or another user's folder: "
                            "'config check' tests the repository)", EXIT_FAILED)
        log.error("unexpected error\n%s", traceback.format_exc())
        return out.fail(f"unexpected {type(exc).__name__}: {exc} ({_where_details_are(handler)})", EXIT_FAILED)
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()


def _where_details_are(handler: runlog.RunLog | None) -> str:
    """Point to the run log only when it exists and took the trace: never to a log that was not written."""
    if handler is not None and not handler.failed:
        try:
            handler.flush()
        except OSError:  # a full disk took the trace: no file to point to
            return "no run log holds the details"
        if not handler.failed:
            return f"details in {handler.path}"
    return "no run log holds the details"


def _close_to_others(settings: Settings, out: Output) -> None:
    """What an earlier run (or an older version) left readable by others is closed before this run writes."""
    closed = files.tighten(settings.repository, settings.log_dir)
    if closed:
        out.line(f"note: closed to group and others (made under a wider umask): {', '.join(map(str, closed))}")


# Commands that only read print what they find and leave no run log (dry runs neither); a run log is for
# what changes things.
READ_ONLY = frozenset({"list", "show", "config", "locations", "monitor", "notify", "report"})


def _read_only(args: argparse.Namespace) -> bool:
    return args.command in READ_ONLY or getattr(args, "dry_run", False) or (
        args.command == "kept" and not args.drop) or (args.command == "schedule" and (
            args.action != "install" or args.no_test_backup))
# Commands that may start from nothing; every other one needs an existing repository (a typo in
# BACKUP_DIR must not look like an empty catalog).
CREATES_REPOSITORY = frozenset({"backup", "config", "s3", "schedule"})


def now() -> datetime:
    return datetime.now(UTC)


def _known_database(ctx: Context, name: str) -> None:
    """A mistyped --database must fail loudly: a cron'd verify or prune of no backups at all never alerts.

    A database no longer configured is fine while the catalog still has backups of it.
    """
    configured = [db.name for db in ctx.settings.databases]
    if name in configured or name in (db.database for db in ctx.settings.databases):
        return
    if any(r.database == name for r in ctx.catalog.list()):
        return
    known = ", ".join(configured) or "none"
    raise UsageError(f"database {name!r} is not configured (configured: {known}) and has no backups")


def _as_backed_up(settings: Settings, name: str) -> str:
    """A configured database named by its ``name`` as the server and the catalog know it (its ``dbname``):
    ``repair --database prod`` of ``dbname = "app_production"`` said "nothing to repair" with its swap unfinished,
    and kept and rollback found none of its copies."""
    try:
        return settings.database(name).database
    except BackupToolError:  # not configured: a database the catalog still has backups of, named as backed up
        return name


# -- commands ------------------------------------------------------------------


def cmd_backup(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    settings = ctx.settings
    targets = [settings.database(args.database)] if args.database or len(settings.databases) <= 1 \
        else list(settings.databases)
    results: list[dict[str, object]] = []
    worst = EXIT_OK
    for db in targets:
        try:
            if args.dry_run:
                plan = plan_backup(ctx, db)
                results.append(plan.to_json())
                out.line(f"backup plan for {plan.database} (PostgreSQL {plan.server_version}):", always=True)
                out.line(f"  command: {' '.join(plan.command)} | zstd | sha256 > {plan.destination}/<id>/",
                         always=True)
                out.line(f"  expected size: {human_bytes(plan.expected_bytes)} ({plan.estimate_basis}); "
                         f"free: {human_bytes(plan.free_bytes)}", always=True)
                if not plan.space_ok:
                    out.line(f"  would refuse: {plan.space_refusal}", always=True)
                if plan.incomplete_to_clean:
                    out.line(f"  would clean incomplete: {', '.join(plan.incomplete_to_clean)}", always=True)
                for leftover in plan.scratch_to_remove:
                    out.line(f"  would remove the {leftover}", always=True)
                if plan.unfinished_swap:
                    out.line("  would first settle the swap a killed restore --replace or rollback left "
                             "(backup-headless repair does only that)", always=True)
                if plan.locked_by_other_run:
                    out.line(f"  note: another run holds the lock right now: {plan.lock_holder or 'another process'}",
                             always=True)
                worst = max(worst, plan.exit_code)
                continue
            record = run_backup(ctx, db, reason="scheduled", upload=not args.no_upload)
            results.append(record.to_json())
            out.line(f"backup {record.id}: {human_bytes(record.stored_bytes)} "
                     f"({human_bytes(record.raw_bytes)} raw) in {record.duration_s:.1f} s -> {record.path}")
            if ctx.catalog.s3 is not None and not args.no_upload:
                worst = max(worst, _upload_missing(ctx, db.database, results[-1], out))
        except BackupToolError as exc:
            if len(targets) == 1:
                raise
            out.error(f"{db.name}: {exc.message}")  # one database failing does not stop the rest
            results.append({"database": db.name, "error": exc.message, "exit_code": exc.exit_code})
            worst = max(worst, exc.exit_code)
    if out.as_json:
        out.json(results[0] if len(targets) == 1 and results else results)
    return worst


def _upload_missing(ctx: Context, database: str, result: dict[str, object], out: Output) -> int:
    """After a backup: send it, and whatever earlier runs could not, to S3. S3 staying down costs the upload,
    not the backup: the local copy stays, the run exits 1 with the reason, and the next run sends it."""
    from backup_tui.engine.ops.upload import missing_from_bucket, run_upload

    sent: list[str] = []
    refused: VerificationError | None = None
    try:
        for record in missing_from_bucket(ctx, database):
            try:
                sent.append(run_upload(ctx, record).id)
            except VerificationError as exc:  # this backup's own trouble (the bucket holds another under its id, its
                # file changed): said, and the later ones still go up; an old one stopped every upload for good
                refused = exc
                out.error(f"not uploaded, the local copy is kept: {exc.message}")  # the message names the backup
                continue
            out.line(f"uploaded {record.id} to {ctx.catalog.s3.where if ctx.catalog.s3 else 's3'}")
    except BackupToolError as exc:
        result.update(uploaded=sent, upload_error=exc.message)
        out.error(f"upload to S3 failed, the local copy is kept and the next run sends it: {exc.message}")
        return max(EXIT_FAILED, exc.exit_code)  # wrong credentials stay a 2, as config check says them
    result["uploaded"] = sent
    if refused is not None:
        result["upload_error"] = refused.message
    locations = result.get("locations")
    if result.get("id") in sent and isinstance(locations, list):  # where the backup is now
        result["locations"] = [*locations, "s3"]
    return refused.exit_code if refused is not None else EXIT_OK


def cmd_upload(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    from backup_tui.engine.ops.upload import bucket_of, plan_upload, run_upload

    record = ctx.catalog.get(args.backup_id)
    if ctx.catalog.s3 is None:
        bucket_of(ctx)  # says how to configure it
    plan = plan_upload(ctx, record)
    if plan.refusal:
        raise UsageError(plan.refusal)
    uploaded = run_upload(ctx, record)
    if out.as_json:
        out.json({**plan.to_json(), "uploaded": uploaded.to_json()})
    out.line(f"uploaded {record.id}: {human_bytes(uploaded.stored_bytes)} -> {uploaded.path}")
    return EXIT_OK


def _listed(ctx: Context, args: argparse.Namespace, out: Output) -> list[BackupRecord]:
    """The catalog, and a warning for a repository that could not be read (the others are still shown).
    When it is the one ``--location`` asks for, nothing could be shown: a failure, not an empty list."""
    records = ctx.catalog.list(args.database)
    wanted = getattr(args, "location", "all")
    if wanted in ctx.catalog.unreachable:
        raise BackupToolError(f"the {wanted} repository could not be listed: {ctx.catalog.unreachable[wanted]}")
    for name, why in ctx.catalog.unreachable.items():  # a warning, not "error: warning: ..."
        out.warning(f"the {name} repository was not listed: {why}")
    return records


def cmd_list(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    from backup_tui.engine.ops.upload import bucket_of

    settings = ctx.settings
    if args.location == "s3":
        bucket_of(ctx)  # no bucket configured: say how, rather than "no backups" with exit 0
    records = _listed(ctx, args, out)
    if args.location != "all":
        records = [r for r in records if args.location in r.locations]
    hosts = sorted({r.host for r in records if r.host})
    if args.host:
        records = [r for r in records if r.host == args.host]
    if out.as_json:
        out.json([r.to_json() for r in records])
    elif not records:
        where = f"{settings.repository}" + (f" or {ctx.catalog.s3.where}" if ctx.catalog.s3 else "")
        if args.host and hosts:  # backups there, none by that host: say whose there are, not "no backups"
            out.line(f"no backups made on host '{args.host}' in {where} (their hosts: {', '.join(hosts)})",
                     always=True)
        else:
            out.line(f"no backups in {where}", always=True)
    else:
        for row in output.backup_table(records, now(), locations=ctx.catalog.s3 is not None):
            out.line(row, always=True)
    return EXIT_OK


def cmd_locations(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    records = _listed(ctx, args, out)
    if out.as_json:
        out.json([{"id": r.id, "database": r.database, "locations": list(r.locations), "status": r.status}
                  for r in records])
        return EXIT_OK
    width = max([34, *(len(r.id) for r in records)])
    for r in records:
        out.line(f"{r.id:<{width}} {output.where_said(r.locations)}", always=True)
    return EXIT_OK


def cmd_show(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    record = ctx.catalog.get(args.backup_id)
    if out.as_json:
        data = record.to_json()
        data.update(manifest=record.manifest_body(), verifications=[v.to_json() for v in record.verifications])
        out.json(data)
    else:
        for row in output.record_details(record):
            out.line(row, always=True)
    return EXIT_OK


def cmd_verify(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    from backup_tui.engine.core.report import render_report
    from backup_tui.engine.ops.verify import MAX_PARALLEL, plan_verify, verify_many

    catalog = ctx.catalog
    if args.all:
        records = [r for r in catalog.list(args.database) if r.status != "incomplete"]
    else:
        records = [catalog.get(args.backup_id)]
    if not 1 <= args.parallel <= MAX_PARALLEL:
        raise UsageError(f"--parallel must be between 1 and {MAX_PARALLEL}, not {args.parallel}")
    level: VerifyLevel = "quick" if args.quick else "full"
    if args.dry_run:
        plans = [plan_verify(ctx, record, level) for record in records]
        if out.as_json:
            out.json([{"id": p.record.id, "database": p.record.database, "level": p.level, "reads_from": p.reads_from,
                       "not_done": list(p.not_done), "refusal": p.refusal, "exit_code": p.exit_code} for p in plans])
        for plan in plans:
            if plan.refusal:
                out.error(f"would not verify {plan.record.id}: {plan.refusal}")
                continue
            out.line(f"would verify {plan.record.id} ({plan.level}) reading {plan.reads_from}"
                     + "".join(f"; {note}" for note in plan.not_done), always=True)
        return max((p.exit_code for p in plans), default=EXIT_OK)
    outcomes = verify_many(ctx, records, level, parallel=args.parallel)
    if not args.all and not outcomes:
        raise NotFoundError(f"{records[0].id} was deleted while it was being verified (a prune or a delete)")
    errors = [(r, e) for r, e in outcomes if isinstance(e, BackupToolError)]
    if errors and not args.all:
        raise errors[0][1]
    results = [(r, v) for r, v in outcomes if not isinstance(v, BackupToolError)]
    failed = [(r, v) for r, v in results if not v.ok]
    if out.as_json:
        out.json([{"id": r.id, "database": r.database, "error": v.message, "exit_code": v.exit_code}
                  if isinstance(v, BackupToolError) else {"id": r.id, "database": r.database, **v.to_json()}
                  for r, v in outcomes])
    for record, error in errors:  # each named: one server down hid the rest, and named no backup
        out.error(f"{record.id}: not verified: {error.message}")
    for record, result in results:
        if result.ok:
            out.line(f"ok      {record.id} ({result.level}, {result.duration_s:.1f} s)"
                     + "".join(f"; {note}" for note in result.not_done))
        else:
            out.error(f"{record.id}: verification failed: {'; '.join(result.problems)}")
            if out.interactive and not out.as_json:
                print(render_report(record, result), file=out.err)
    if args.all:
        short = sum(1 for _, v in results if v.ok and v.not_done)
        out.line(f"{len(results)} verified: {len(results) - len(failed)} ok"
                 + (f" ({short} without the test restore asked for)" if short else "") + f", {len(failed)} failed"
                 + (f"; {len(errors)} not verified" if errors else ""))
    return max([EXIT_VERIFY if failed else EXIT_OK, *(e.exit_code for _, e in errors)])


def _confirm_replace(database: str) -> bool:
    """On a terminal, the operator types the database name; without one, --yes is required."""
    return _typed(database, "--replace", f"This replaces database {database!r}")


def _typed(name: str, what: str, question: str) -> bool:
    if not sys.stdin.isatty():
        raise ConfirmationRequired(f"{what} of {name!r} needs --yes when no terminal is attached")
    answer = input(f"{question}. Type its name to confirm: ")
    return answer.strip() == name


def cmd_restore(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    from backup_tui.engine.ops.restore import counts_said, plan_restore, run_restore

    settings = ctx.settings
    record = ctx.catalog.get(args.backup_id)
    target = record.database if args.replace else args.target_db
    server = settings.server_for(record.database)
    if not args.dry_run and target and swap.pending(settings, server, target):
        swap.repair(settings, server, target, out)  # a killed run's swap first: the plan must see the server as it is
    plan = plan_restore(ctx, record, target_db=args.target_db, replace_original=args.replace,
                        safety_backup=not args.no_safety_backup, no_owner=args.no_owner,
                        no_tablespaces=args.no_tablespaces)
    if plan.refusal and not args.dry_run:
        raise UsageError(plan.refusal)  # before asking anything: nothing could come of it
    if args.dry_run:
        if out.as_json:
            out.json(plan.to_json())
        else:
            for row in output.plan_lines(plan):
                out.line(row, always=True)
        return plan.exit_code
    confirmed = True
    if args.replace and not args.yes:
        if out.interactive:
            for row in output.plan_lines(plan):
                out.line(row)
        confirmed = _confirm_replace(plan.target_db)
        if not confirmed:
            raise ConfirmationRequired("the name typed does not match: nothing was changed")
    result = run_restore(ctx, plan, confirmed=confirmed)
    if out.as_json:
        out.json(result.to_json())
    out.line(f"restored {record.id} into {result.plan.target_db} in {result.duration_s:.1f} s; "
             f"{counts_said(result.row_counts)}")
    out.line(f"connect: {result.connect}")
    for note in result.notes:
        out.line(note)
    return EXIT_OK


def cmd_prune(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    from backup_tui.engine.ops.prune import plan_prune, run_prune

    decisions = plan_prune(ctx, args.database)
    if not args.dry_run:
        decisions = run_prune(ctx, decisions, args.database)
    if out.as_json:
        out.json([d.to_json() for d in decisions])
    else:
        for row in output.prune_lines(decisions, args.dry_run):
            out.line(row, always=args.dry_run)
    return EXIT_OK


def _set_pin(pinned: bool) -> Callable[[Context, argparse.Namespace, Output], int]:
    def command(ctx: Context, args: argparse.Namespace, out: Output) -> int:
        updated = pins.set_pinned(ctx, ctx.catalog.get(args.backup_id), pinned)
        if out.as_json:
            out.json(updated.to_json())
        out.line(f"{'pinned' if pinned else 'unpinned'} {updated.id}")
        return EXIT_OK

    return command


def _databases(settings: Settings, only: str | None) -> list[str]:
    return [only] if only else list(settings.database_names)


def cmd_repair(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    """Every unfinished swap recorded for a database this configuration reaches (or the one named)."""
    settings = ctx.settings
    targets: list[tuple[str, DatabaseConfig]] = []
    worst = EXIT_OK
    for database, key in swap.recorded_swaps(settings):
        if args.database and database != args.database:
            continue
        try:
            server = settings.server_for(database)
        except BackupToolError:
            server = None
        if server is None or pg.server_key(server) != key:
            out.error(f"an unfinished swap of {database!r} on {key} is recorded, but no configured database reaches "
                      "that server: add it to the configuration and run repair again")
            worst = EXIT_FAILED
            continue
        targets.append((database, server))
    for path, whose in swap.unreadable_journals(settings):  # settled by nobody: said, and repair fails
        if args.database and whose != args.database:
            continue
        out.error(f"{whose or 'no configured database'}: {swap.unreadable_said(path, whose)}")
        worst = EXIT_FAILED
    results: list[dict[str, object]] = []
    for database, server in targets:
        try:
            done = swap.repair(settings, server, database, out)
        except BackupToolError as exc:
            out.error(f"{database}: {exc.message}")
            worst = max(worst, exc.exit_code)
            continue
        if done is None:  # settled by another run since the list was made (a journal left alone raises)
            continue
        results.append({"database": database, "done": done})
        out.line(f"{database}: {done}", always=True)
    if not targets and worst == EXIT_OK:
        out.line("nothing to repair: no unfinished swap is recorded", always=True)
    if out.as_json:
        out.json(results)
    return worst


def cmd_kept(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    from backup_tui.engine.ops.kept import list_kept

    settings = ctx.settings
    if args.drop:
        return _drop_kept(ctx, args, out)
    copies = []
    worst = EXIT_OK
    for database in _databases(settings, args.database):  # a server out of reach hides none of the others' copies
        try:
            copies += list_kept(settings, settings.server_for(database), database)
        except BackupToolError as exc:
            out.error(f"{database}: kept copies not listed: {exc.message}")
            worst = max(worst, exc.exit_code)
    moment = now()
    if out.as_json:
        out.json([{**c.to_json(), "age_s": int((moment - c.since).total_seconds())} for c in copies])
        return worst
    if not copies:
        if worst == EXIT_OK:
            out.line("no kept copies: no database a replace or rollback set aside is on the server", always=True)
        return worst
    width = max(len(c.name) for c in copies)
    for c in copies:
        size = human_bytes(c.size_bytes) if c.size_bytes >= 0 else "?"
        out.line(f"{c.name:<{width}}  {c.kind} {c.database}, {output.format_age(c.since, moment)}, {size}",
                 always=True)
    out.line("drop one with: backup-headless kept --drop NAME; roll back to the newest a replace kept with: "
             "backup-headless rollback DATABASE, to any other with: backup-headless rollback DATABASE --to NAME",
             always=True)
    return worst


def _drop_kept(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    from backup_tui.engine.ops.kept import drop_kept

    settings = ctx.settings
    owners = [d for d in _databases(settings, args.database) if names.side_of(d, args.drop, settings.database_names)]
    if not owners:
        raise UsageError(f"{args.drop!r} is not a copy of a configured database kept by a replace or a rollback: "
                         "only those are dropped here (backup-headless kept lists them)")
    database = owners[0]
    if not args.yes and not _typed(args.drop, "--drop", f"This drops database {args.drop!r} for good"):
        raise ConfirmationRequired("the name typed does not match: nothing was changed")
    dropped = drop_kept(ctx, settings.server_for(database), database, args.drop)
    if out.as_json:
        out.json(dropped.to_json())
    out.line(f"dropped {dropped.name}")
    return EXIT_OK


def cmd_rollback(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    from backup_tui.engine.ops.kept import plan_rollback, rollback

    settings = ctx.settings
    server = settings.server_for(args.target)
    incoming = plan_rollback(ctx, server, args.target, args.to)
    if not args.yes:
        if out.interactive:
            out.line(f"{args.target!r} becomes {incoming.name!r} again (kept since {utc_iso(incoming.since)}); "
                     f"sessions on {args.target!r} are terminated and it is kept aside")
        if not _typed(args.target, "rollback", f"This rolls {args.target!r} back to {incoming.name!r}"):
            raise ConfirmationRequired("the name typed does not match: nothing was changed")
    result = rollback(ctx, server, args.target, to=incoming.name)
    if out.as_json:
        out.json(result.to_json())
    out.line(f"{result.database} is {result.restored_from} again"
             + (f"; the database it replaced is kept as {result.kept_as}" if result.kept_as else ""))
    return EXIT_OK


def cmd_s3(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    from backup_tui.engine.ops.upload import bucket_of
    from backup_tui.engine.storage.bucket_setup import init_bucket

    if args.object_lock_mode and args.object_lock_days is None:  # alone it set nothing, and said nothing of it
        raise UsageError("--object-lock-mode needs --object-lock-days N: a mode alone sets no default object lock")
    done = init_bucket(bucket_of(ctx), lock_days=args.object_lock_days,
                       lock_mode=args.object_lock_mode or "governance", dry_run=args.dry_run)
    if out.as_json:
        out.json(done.to_json())
    for line in done.changed:
        out.line(f"{'would change' if args.dry_run else 'changed'}: {line}", always=True)
    for line in done.found:
        out.line(f"found: {line}", always=True)
    return EXIT_OK


def cmd_config(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    settings = ctx.settings
    if args.action == "show":
        data = redacted(settings)
        if out.as_json:
            out.json(data)
        else:
            for row in _flatten(data):
                out.line(row, always=True)
        return EXIT_OK
    return check_config(settings, out)


def _flatten(data: object, prefix: str = "") -> list[str]:
    if isinstance(data, dict):
        return [row for k, v in data.items() for row in _flatten(v, f"{prefix}{k}.")]
    if isinstance(data, list):
        if not data:  # no recipients, no notice destination: said, not left out of the listing
            return [f"{prefix.rstrip('.'):<28} (none)"]
        return [row for i, v in enumerate(data) for row in _flatten(v, f"{prefix}{i}.")]
    return [f"{prefix.rstrip('.'):<28} {'(not set)' if data is None else data}"]


def check_config(settings: Settings, out: Output) -> int:
    """Test every database connection, the tools and the repository; say exactly what is wrong."""
    checks: list[tuple[str, BackupToolError | None, str]] = []

    def attempt(name: str, fn: Callable[[], str]) -> None:
        try:
            checks.append((name, None, fn()))
        except BackupToolError as exc:
            checks.append((name, exc, exc.message))
        except OSError as exc:
            checks.append((name, BackupToolError(str(exc)), f"{exc.strerror}: {exc.filename}"))

    def repository() -> str:
        """Checked, never created: a typo in BACKUP_DIR must show here, not become an empty repository."""
        repo = settings.repository
        check_repository(repo)  # a file in the way, a link to nowhere: the same words as every other command
        if not repo.exists():
            parent = next(p for p in repo.parents if p.exists())
            if not os.access(parent, os.W_OK):
                raise UsageError(f"{repo} does not exist and {parent} is not writable")
            return f"{repo} does not exist yet: the first backup creates it (a typo in BACKUP_DIR?)"
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=repo)  # a new file: never through a planted link
        os.close(fd)
        os.unlink(probe)
        return f"{repo} writable, {human_bytes(free_bytes(repo))} free"

    def run_logs() -> str:
        """A run without its log still runs (with a warning), but the operator wants to know now."""
        logs = log_folder(settings)  # a link in the repository's place for them is said here
        probe = next(p for p in (logs, *logs.parents) if p.exists())
        if not probe.is_dir():
            raise UsageError(f"{logs} cannot be created: {probe} is not a directory")
        if not os.access(probe, os.W_OK):
            raise UsageError(f"{logs} is not writable" if probe == logs
                             else f"{logs} does not exist and {probe} is not writable")
        return f"{logs} writable" if probe == logs else f"{logs} does not exist yet: the first run creates it"

    attempt("repository", repository)
    attempt("run logs", run_logs)
    for tool in ("pg_dump", "psql", "pg_restore"):  # psql holds a backup's snapshot; pg_restore restores and verifies
        attempt(tool, functools.partial(lambda name: pg.tool_version(pg.tool_path(name, settings.pg_bin_dir),
                                                                     settings.password_variables), tool))
    if not settings.databases:
        checks.append(("databases", UsageError("none configured"), "none configured: set BACKUP_DB_NAME "
                                                                   "or add [[databases]] to the config file"))
    for db in settings.databases:
        attempt(f"database {db.name}", functools.partial(_server_version, db))
    if settings.encryption.recipients or settings.encryption.identity_file:
        attempt("encryption", functools.partial(encryption_said, settings))
    if settings.s3 is not None:
        attempt("s3", functools.partial(s3_probe, settings.s3))
    warnings = _privacy_warnings(settings)
    if out.as_json:
        out.json([{"check": n, "ok": e is None, "detail": d, "warning": False} for n, e, d in checks]
                 + [{"check": n, "ok": True, "detail": d, "warning": True} for n, d in warnings])
    for name, err, detail in checks:
        if err is None:
            out.line(f"ok    {name}: {detail}", always=True)
        else:  # a detail that names its subject already is not named twice ("s3: S3: wrong credentials")
            out.error(detail if detail.lower().startswith(f"{name.lower()}:") else f"{name}: {detail}")
    for _, detail in warnings:  # the settings work; someone else can read what they guard
        log.warning("%s", detail)
        print(f"warning: {detail}", file=out.err)
    errors = [e for _, e, _ in checks if e is not None]
    return max((e.exit_code for e in errors), default=EXIT_OK)


def _privacy_warnings(settings: Settings) -> list[tuple[str, str]]:
    """One line each: a password others can read, and backups or logs an older run left open to them."""
    warnings = []
    password = exposed_password(settings)
    if password:
        warnings.append(("config file", password))
    identity = exposed_identity(settings)
    if identity:
        warnings.append(("identity file", identity))
    open_paths = files.exposed(settings.repository, settings.log_dir)
    if open_paths:
        warnings.append(("privacy", f"readable by group or others: {_first_few(open_paths)}; the next backup, "
                                    "verify, restore or prune closes them (those this user owns), or chmod go-rwx "
                                    "them"))
    dumps, folders = legacy.readable_by_others(settings.repository)
    if dumps:  # the old scripts' files: never chmod'ed by us, only named
        warnings.append(("privacy", f"the old scripts' backups are readable by group or others: {_first_few(dumps)}; "
                                    f"chmod go-rwx {' '.join(map(str, folders))}"))
    return warnings


def _first_few(paths: list[Path]) -> str:
    more = len(paths) - 3
    return ", ".join(map(str, paths[:3])) + (f" and {more} more" if more > 0 else "")


def _server_version(db: DatabaseConfig) -> str:
    with pg.connect(db) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        return f"connected, PostgreSQL {row[0] if row else '?'}"


COMMANDS: dict[str, Callable[[Context, argparse.Namespace, Output], int]] = {
    "backup": cmd_backup,
    "list": cmd_list,
    "show": cmd_show,
    "upload": cmd_upload,
    "locations": cmd_locations,
    "verify": cmd_verify,
    "restore": cmd_restore,
    "prune": cmd_prune,
    "delete": delete_cli.cmd_delete,
    "pin": _set_pin(True),
    "unpin": _set_pin(False),
    "config": cmd_config,
    "s3": cmd_s3,
    "repair": cmd_repair,
    "kept": cmd_kept,
    "rollback": cmd_rollback,
    "monitor": monitor.cmd_monitor,
    "notify": monitor.cmd_notify,
    "report": report_cli.cmd_report,
    "schedule": schedule_cli.cmd_schedule,
}
