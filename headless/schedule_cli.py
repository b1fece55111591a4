"""``backup-headless schedule``: show the jobs and their next runs; install them as one cron file or as
systemd timers (with a logrotate rule and an env file of mode 600), and remove exactly what was installed.
``--root`` writes below another folder, so tests install into a temporary one."""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import pwd
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

from backup_tui.engine.config import Settings
from backup_tui.engine.core import schedule
from backup_tui.engine.core.errors import EXIT_FAILED, EXIT_OK, ConfigError
from backup_tui.engine.ops.context import Context
from backup_tui.engine.postgres import pg
from backup_tui.engine.storage.files import atomic_write
from backup_tui.engine.storage.paths import log_folder
from headless.output import Output

ETC = PurePosixPath("/etc")
ENV_FILE = ETC / "backup-tui" / "backup-tui.env"
RECORD = ETC / "backup-tui" / "installed-{kind}.json"  # what install wrote, for uninstall
# Carried into the env file when set, with libpq's and each database's password_env: a scheduled run has none
# of the shell that installed it (S3_* and password_env were left out, and every run then failed)
ENV_NAMES = ("BACKUP_", "LOG_DIR", "SLACK_WEBHOOK_URL", "S3_")
SECRET_WORDS = ("PASSWORD", "SECRET", "KEY", "TOKEN", "WEBHOOK", "URL")  # a dry run shows such values as stars
# Variables naming a folder or a file: a relative one is relative to the installing shell's folder, and a scheduled
# run starts in / (systemd, and the first backup) or the user's home (cron), so the env file names them absolute
PATH_VARIABLES = ("BACKUP_DIR", "LOG_DIR", "BACKUP_ENCRYPTION_IDENTITY_FILE", "BACKUP_SMTP_CA_FILE", "PGPASSFILE",
                  "PGSERVICEFILE", "PGSYSCONFDIR")


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("schedule", help="show, install or uninstall the backup, verify and monitor jobs")
    p.add_argument("action", choices=["show", "install", "uninstall"])
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--cron", action="store_true", help="one file in /etc/cron.d")
    kind.add_argument("--systemd", action="store_true", help="service and timer units")
    p.add_argument("--dry-run", action="store_true", help="print what would be written or removed")
    p.add_argument("--user", metavar="NAME", help="the user the jobs run as (default: you)")
    p.add_argument("--root", metavar="DIR", default="/", help="write below this folder instead of / (tests)")
    p.add_argument("--no-test-backup", action="store_true", help="install without taking a first backup")
    p.add_argument("--json", action="store_true", help="with show: the jobs and next runs as JSON")


def _program() -> str:
    beside = Path(sys.executable).with_name("backup-headless")
    return str(beside) if beside.exists() else shutil.which("backup-headless") or "backup-headless"


def _jobs(settings: Settings) -> list[schedule.Job]:
    return schedule.jobs(dict(settings.schedule), _program(), keyless=settings.encryption.keyless)


def cmd_schedule(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    if args.action == "show":
        return _show(ctx, out)
    if not (args.cron or args.systemd):
        raise ConfigError(f"schedule {args.action} needs --cron or --systemd")
    kind = "cron" if args.cron else "systemd"
    root = Path(args.root)
    if not root.is_dir():  # "is not a folder" of one that does not exist sent the operator looking for a file there
        said = "is not a folder" if root.exists() else "does not exist: create it first (install writes etc/ below it)"
        raise ConfigError(f"--root {root} {said}")
    if args.action == "uninstall":
        return _uninstall(root, kind, args.dry_run, out)
    return _install(ctx, root, kind, args, out)


def _show(ctx: Context, out: Output) -> int:
    now = ctx.now().astimezone()
    jobs = _jobs(ctx.settings)
    upcoming = [[moment.isoformat() for moment in schedule.next_runs(job.cron, now)] for job in jobs]
    if out.as_json:
        out.json([{"job": job.name, "cron": job.cron, "commands": [list(c) for c in job.commands], "next": nexts}
                  for job, nexts in zip(jobs, upcoming, strict=True)])
        return EXIT_OK
    for job, nexts in zip(jobs, upcoming, strict=True):
        out.line(f"{job.name:8} {job.cron:15} {job.description}", always=True)
        out.line(f"         runs: {' && '.join(' '.join(c) for c in job.commands)}", always=True)
        out.line(f"         next: {', '.join(nexts) or schedule.NEVER}", always=True)  # was an empty "next:"
    return EXIT_OK


def planned_files(settings: Settings, kind: str, user: str,
                  env: dict[str, str]) -> dict[PurePosixPath, tuple[str, int]]:
    """Every file install writes (path below the root -> text, mode)."""
    jobs = _jobs(settings)
    variables = scheduled_env(settings, env)
    logs = log_folder(settings).resolve()  # logrotate runs as root: never by a link planted in the repository
    files: dict[PurePosixPath, tuple[str, int]] = {
        ENV_FILE: (schedule.env_file(variables), 0o600),
        ETC / "logrotate.d" / "backup-tui": (schedule.logrotate_rule(str(logs), user), 0o644),
    }
    if kind == "cron":
        files[ETC / "cron.d" / "backup-tui"] = (schedule.cron_file(jobs, user, ENV_FILE), 0o644)
        return files
    writable = sorted({str(settings.repository.resolve()), str(logs)})
    for job in jobs:
        try:
            timer = schedule.timer_unit(job)
        except ValueError as exc:
            raise ConfigError(f"schedule.{job.name}: {exc}") from None
        unit = f"{schedule.UNIT_PREFIX}-{job.name}"
        files[ETC / "systemd" / "system" / f"{unit}.service"] = (
            schedule.service_unit(job, user, ENV_FILE, writable), 0o644)
        files[ETC / "systemd" / "system" / f"{unit}.timer"] = (timer, 0o644)
    return files


def scheduled_env(settings: Settings, env: dict[str, str]) -> dict[str, str]:
    """The variables a scheduled run gets (the env file's): ours, libpq's, the passwords' ``password_env``."""
    passwords = _password_names(settings)
    variables = {k: v for k, v in env.items() if k.startswith(ENV_NAMES) or k in pg.LIBPQ_VARIABLES
                 or k in passwords}
    for name in PATH_VARIABLES:
        if variables.get(name):
            variables[name] = os.path.abspath(variables[name])
    if settings.config_file is not None:
        variables["BACKUP_TUI_CONFIG"] = str(settings.config_file.resolve())
    return variables


def _password_names(settings: Settings) -> set[str]:
    """The variables the databases' ``password_env`` name."""
    return {db.password_env for db in settings.databases if db.password_env}


def _unsecret(line: str, passwords: set[str]) -> str:
    """An env file line as a dry run prints it: a password, key or webhook's value as stars (the file itself is
    the user's alone, 0600; a preview goes to a terminal or a CI log)."""
    key, sep, _ = line.partition("=")
    secret = key in passwords or any(word in key.upper() for word in SECRET_WORDS)
    return f"{key}=********" if sep and secret else line


def _below(root: Path, path: PurePosixPath) -> Path:
    return root / path.relative_to("/")


def _install(ctx: Context, root: Path, kind: str, args: argparse.Namespace, out: Output) -> int:
    user = args.user or getpass.getuser()
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(f"--user {user}: no such user on this machine") from None
    other = "systemd" if kind == "cron" else "cron"
    if _below(root, PurePosixPath(str(RECORD).format(kind=other))).exists():  # both: every job twice, one env file
        raise ConfigError(f"the jobs are installed with --{other}: run schedule uninstall --{other} first")
    files = planned_files(ctx.settings, kind, user, dict(os.environ))
    for path in files:
        target = _below(root, path)
        if target.exists() and schedule.MARKER not in target.read_text(errors="replace"):
            raise ConfigError(f"{target} exists and was not written by schedule install: move it away first")
    if args.dry_run:
        passwords = _password_names(ctx.settings)
        for path, (text, mode) in files.items():
            out.line(f"would write {_below(root, path)} (mode {mode:o}):", always=True)
            for line in text.splitlines():
                out.line(f"    {_unsecret(line, passwords) if path == ENV_FILE else line}", always=True)
        return EXIT_OK
    written, made = {}, []
    for path, (text, mode) in files.items():
        target = _below(root, path)
        new = [f for f in reversed(target.parents) if f.is_relative_to(root) and f != root and not f.exists()]
        target.parent.mkdir(parents=True, exist_ok=True)
        for folder in new:  # our umask (077) made them root's alone: a cron job run as --user could not enter
            if not folder.is_symlink():
                os.chmod(folder, 0o755)
        made += [str(PurePosixPath("/") / f.relative_to(root)) for f in new]
        atomic_write(target, text, mode)
        if path == ENV_FILE and kind == "cron":
            _give_to(target, user)  # cron runs the job as the user, who reads the env file itself
        written[str(path)] = hashlib.sha256(text.encode()).hexdigest()
        out.line(f"wrote {target}", always=True)
    record = _below(root, PurePosixPath(str(RECORD).format(kind=kind)))
    atomic_write(record, json.dumps({"files": written, "folders": made}, indent=1) + "\n")
    if kind == "systemd":
        timers = " ".join(f"{schedule.UNIT_PREFIX}-{job.name}.timer" for job in _jobs(ctx.settings))
        out.line(f"to start them: systemctl daemon-reload && systemctl enable --now {timers}", always=True)
        out.line(f"to see them:   systemctl list-timers '{schedule.UNIT_PREFIX}-*'", always=True)
    else:
        out.line("cron reads /etc/cron.d by itself; to see the runs: grep backup-headless /var/log/syslog "
                 "(or journalctl -u cron)", always=True)
    if args.no_test_backup:
        return EXIT_OK
    first = _jobs(ctx.settings)[0].commands[0]  # the backup job's own command
    return _first_backup(pwd.getpwnam(user), first, scheduled_env(ctx.settings, dict(os.environ)), out)


def _give_to(path: Path, user: str) -> None:
    """Make ``user`` the file's owner when we may (as root) and the user exists."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return
    if os.geteuid() == 0 and entry.pw_uid != os.geteuid():
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _first_backup(entry: pwd.struct_passwd, command: tuple[str, ...], variables: dict[str, str],
                  out: Output) -> int:
    """The first backup, taken as the backup job takes it: its command, with the env file's variables, as the
    job's user. Taken in this process it proved less: as root for another ``--user`` it made the repository's
    folders root's alone ("ok", and every scheduled run after it failed on "Permission denied"), and it was never
    uploaded (the job's upload step is the command's), so it tested nothing of the bucket."""
    user = entry.pw_name
    switch: dict[str, Any] = {}
    if os.geteuid() == 0 and entry.pw_uid != 0:  # root installing for another user: run as that user
        switch = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": os.getgrouplist(user, entry.pw_gid)}
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": entry.pw_dir, "USER": user, "LOGNAME": user,
           **variables}
    said = f"first backup, run as {user} as the schedule will run it"
    out.line(f"{said}: {shlex.join(command)}", always=True)
    try:
        done = subprocess.run([*command, "--json"], env=env, cwd="/", stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, errors="replace", check=False, **switch)
    except OSError as exc:
        out.error(f"{said}: {command[0]} could not be started: {exc.strerror or exc}; every scheduled run will fail "
                  "the same way until it can (the schedule is installed all the same)")
        return EXIT_FAILED
    try:
        made = json.loads(done.stdout) if done.stdout.strip() else []
    except ValueError:
        made = []
    for item in made if isinstance(made, list) else [made]:
        if isinstance(item, dict) and "id" in item:
            where = " and ".join(str(w) for w in item.get("locations", []) if isinstance(w, str))
            out.line(f"first backup {item['id']}: ok ({where or 'local'})", always=True)
    if done.returncode != 0:
        for line in done.stderr.splitlines() or [f"exit {done.returncode}"]:
            out.error(f"{said}: {line} (the schedule is installed all the same)")
        return EXIT_FAILED
    for line in done.stderr.splitlines():  # a run that went through says its warnings last, as cron would mail them
        print(line, file=out.err)
    return EXIT_OK


def _uninstall(root: Path, kind: str, dry_run: bool, out: Output) -> int:
    record = _below(root, PurePosixPath(str(RECORD).format(kind=kind)))
    try:
        installed = json.loads(record.read_text())
        files, folders = list(installed["files"]), [str(f) for f in installed.get("folders", [])]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"nothing installed with --{kind} below {root} (no {record})") from None
    left = []
    for name in files:
        target = _below(root, PurePosixPath(name))
        if not target.exists():
            continue
        if schedule.MARKER not in target.read_text(errors="replace"):
            left.append(target)
            continue
        out.line(f"{'would remove' if dry_run else 'removed'} {target}", always=True)
        if not dry_run:
            target.unlink()
    if not dry_run:
        record.unlink()
        for name in sorted(folders, key=len, reverse=True):  # only folders install made, deepest first
            folder = _below(root, PurePosixPath(name))
            if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
                folder.rmdir()
    for target in left:
        out.error(f"left {target}: it no longer says it was written by schedule install")
    if kind == "systemd" and not dry_run:
        out.line("then: systemctl daemon-reload", always=True)
    return EXIT_OK if not left else EXIT_FAILED
