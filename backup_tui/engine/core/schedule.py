"""The schedule: which jobs run when (cron expressions in the config), their next runs, and the cron,
systemd and logrotate files that install them. Pure text in, text out: ``schedule install`` writes what this
makes; croniter is imported only to compute next runs."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

MARKER = "# written by backup-headless schedule install; schedule uninstall removes it"
UNIT_PREFIX = "backup-tui"
DEFAULTS = {"backup": "0 2 * * *", "verify": "0 6 * * 0", "monitor": "0 * * * *"}  # the old kit's times
RANDOM_DELAY_S = 300
OK_LINE = "^OK - "  # how monitor --check starts its line when every database is healthy


@dataclass(frozen=True)
class Job:
    name: str  # backup | verify | monitor
    cron: str
    commands: tuple[tuple[str, ...], ...]  # run in turn, each only if the one before succeeded
    description: str
    # Its stdout is a status line for a person or a Nagios-style caller: under cron, which mails any output, an
    # "OK - ..." every hour would be an hourly mail; only a line that is not OK is let through
    status_line: bool = False


def jobs(expressions: dict[str, str], program: str, *, keyless: bool = False) -> list[Job]:
    """The old kit's jobs: backup then prune, a weekly full verification of everything, an hourly monitor.

    ``keyless``: this host encrypts without holding the key (recipients, no identity: as it should). A full
    ``verify --all`` refuses there before checking anything (exit 2, every week); the job checks what this host
    can, ``--quick``, and the test restores run where the key is."""
    verify = (((program, "verify", "--all", "--quick"),),
              "quick verification of every backup (no key here: the test restore runs where the key is)") if keyless \
        else (((program, "verify", "--all"),), "full verification (a test restore) of every backup")
    return [
        Job("backup", expressions["backup"], ((program, "backup"), (program, "prune")),
            "back up every configured database, then apply retention"),
        Job("verify", expressions["verify"], *verify),
        Job("monitor", expressions["monitor"], ((program, "monitor", "--check"),),
            "health check; notifies what changed", status_line=True),
    ]


# Each field's name and the numbers cron takes in it (weekday 7 is Sunday again).
CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 7))


def check_cron(expression: str, where: str) -> str | None:
    """Why ``expression`` is no five-field cron expression, or None (checked without croniter: a number out of
    its field's range is caught here, at the config's load, not by the dashboard that reckons the next run)."""
    fields = expression.split()
    if "\n" in expression or "\r" in expression:  # the cron file takes the expression as it is: one line
        return f"{where}: {expression!r} runs over more than one line"
    if len(fields) != 5:
        return f"{where} must be a cron expression of five fields (minute hour day month weekday), " \
               f"not {expression!r}"
    if not all(re.fullmatch(r"[0-9A-Za-z*/,\-]+", f) for f in fields):
        return f"{where}: {expression!r} holds characters cron does not know"
    for field, (name, low, high), words in zip(fields, CRON_FIELDS, _NAMES, strict=True):
        for number in re.findall(r"(?<![/\d])\d+", field):  # a step (after /) is a count, not a value
            if not low <= int(number) <= high:
                return f"{where}: {expression!r}: {name} {number} is outside {low}-{high}"
        for word in re.findall(r"[A-Za-z]+", field):  # cron's three-letter names, where it takes them (no "L")
            if word.lower() not in words:
                return f"{where}: {expression!r}: {word!r} is no {name} cron knows"
    return None


NEVER = "never (no date matches)"  # a schedule's next runs, where none are (the 30th of February)


def next_runs(expression: str, after: datetime, count: int = 5) -> list[datetime]:
    """The next ``count`` runs; none when no date matches (the 30th of February) or croniter cannot read it."""
    from croniter import croniter

    try:
        runs = croniter(expression, after)
        return [runs.get_next(datetime) for _ in range(count)]
    except ValueError:  # croniter's errors: a schedule that never runs is shown as such, not raised on the UI
        return []


def _command_line(job: Job) -> str:
    return " && ".join(shlex.join(command) for command in job.commands)


def cron_file(job_list: Sequence[Job], user: str, env_file: PurePosixPath) -> str:
    """One file for /etc/cron.d; each line reads the env file first (set -a exports what it sets)."""
    lines = [MARKER, "SHELL=/bin/sh", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ""]
    for job in job_list:
        lines += [f"# {job.name}: {job.description}",
                  f"{job.cron} {user} set -a; . {shlex.quote(str(env_file))}; set +a; {_command_line(job)}"
                  + (f" | grep -v {shlex.quote(OK_LINE)}" if job.status_line else "")]
    return "\n".join(lines) + "\n"


_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]  # cron's 0-6 (and 7, Sunday again)
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_NAMES: tuple[tuple[str, ...], ...] = ((), (), (), tuple(_MONTHS), tuple(d.lower() for d in _DAYS))


def _weekday(end: str) -> int:
    return int(end) % 7 if end.isdigit() else [d.lower() for d in _DAYS].index(end.lower())


def _weekdays(value: str) -> str:
    """A weekday field as systemd's list of names in its week's order (Mon first): cron's 0-6 or 5-7 run over
    Sunday, where systemd's ranges cannot ("Sun..Sat" was written, and systemd refused the timer)."""
    chosen: set[int] = set()
    for part in value.split(","):
        if "/" in part:
            raise ValueError("a weekday step")
        first, _, last = part.partition("-")
        low, high = _weekday(first), _weekday(last or first)
        if last and last.isdigit() and int(last) == 7:
            high = 7  # 5-7: Friday to Sunday
        chosen |= {day % 7 for day in range(low, high + 1)}
    return ",".join(_DAYS[day] for day in sorted(chosen, key=lambda day: (day - 1) % 7))


def _calendar_field(value: str, first: int = 0) -> str:
    """One cron field in OnCalendar's words: '*/15' -> '0/15' ('1/3' for days and months, which start at 1),
    '1-5' -> '1..5', months by number."""
    if value == "*":
        return "*"
    value = re.sub(r"[A-Za-z]+", lambda name: str(_MONTHS.index(name[0].lower()) + 1), value)
    parts = []
    for part in value.split(","):
        base, _, step = part.partition("/")
        if step:
            if base not in ("*", "0") and "-" in base:
                raise ValueError("a stepped range")
            parts.append(f"{first if base == '*' else base}/{step}")
        else:
            parts.append(base.replace("-", ".."))
    return ",".join(parts)


def on_calendar(expression: str) -> str:
    """systemd's OnCalendar for a cron expression; ValueError for what systemd cannot say alike (a stepped
    range, or both a day of the month and a weekday, which cron ORs and systemd ANDs)."""
    minute, hour, dom, month, dow = expression.split()
    if dom != "*" and dow != "*":
        raise ValueError(f"{expression!r} names both a day of the month and a weekday (cron takes either, "
                         "systemd both): use --cron, or one of the two")
    try:
        days = "" if dow == "*" else _weekdays(dow) + " "
        return (f"{days}*-{_calendar_field(month, 1)}-{_calendar_field(dom, 1)} "
                f"{_calendar_field(hour)}:{_calendar_field(minute)}:00")
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{expression!r} has {exc or 'a field'} systemd timers cannot express: use --cron") from None


def service_unit(job: Job, user: str, env_file: PurePosixPath, writable: Sequence[str]) -> str:
    first, *after = job.commands
    lines = [MARKER, "[Unit]", f"Description=backup-tui {job.name}: {job.description}",
             "Wants=network-online.target", "After=network-online.target", "",
             "[Service]", "Type=oneshot", f"User={user}", f"EnvironmentFile={env_file}",
             f"ExecStart={shlex.join(first)}"]
    lines += [f"ExecStartPost={shlex.join(command)}" for command in after]
    lines += ["NoNewPrivileges=true", "ProtectSystem=strict", "PrivateTmp=true",
              f"ReadWritePaths={' '.join(shlex.quote(p) for p in writable)}", "UMask=0077", ""]
    return "\n".join(lines)


def timer_unit(job: Job) -> str:
    return "\n".join([MARKER, "[Unit]", f"Description=backup-tui {job.name} ({job.cron})", "",
                      "[Timer]", f"OnCalendar={on_calendar(job.cron)}", "Persistent=true",
                      f"RandomizedDelaySec={RANDOM_DELAY_S}", "", "[Install]", "WantedBy=timers.target", ""])


def logrotate_rule(log_dir: str, user: str) -> str:
    """One log per run: each is compressed after a month and removed after the next. A run's log is never
    written again, so logrotate, which removes a log's old copies only when it rotates the log itself, never
    came back to its ``.log.1.gz``: they were kept for ever. The second rule rotates those away (``rotate 0``)."""
    su = f"    su {user} {user}\n" if user != "root" else ""
    logs = f'"{log_dir}/backup-headless-*.log"'  # quoted: a space in the folder's name made two globs of it
    rotated = f'"{log_dir}/backup-headless-*.log.1.gz"'
    return (f"{MARKER}\n{logs} {{\n    monthly\n    rotate 1\n    compress\n"
            f"    missingok\n    notifempty\n    nocreate\n{su}}}\n"
            f"{rotated} {{\n    monthly\n    rotate 0\n    missingok\n    nocreate\n{su}}}\n")


def env_file(variables: dict[str, str]) -> str:
    """KEY=value lines both systemd's EnvironmentFile and sh's '.' read alike."""
    lines = [MARKER]
    for key, value in sorted(variables.items()):
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):  # a name no shell takes for one would run as a command
            lines.append(f"{key}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"
