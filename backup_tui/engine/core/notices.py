"""What to tell people after a run: new problems, reminders of ones that persist, recoveries and
successes, decided from the health report and the state kept since the last run. Pure, so a simulated day
of hourly runs is a plain loop in a test."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from backup_tui.engine.core.events import Event
from backup_tui.engine.core.health import HealthReport, Problem
from backup_tui.engine.core.models import parse_utc, utc_iso
from backup_tui.engine.core.printable import printable
from backup_tui.engine.core.runs import RunRecord

LOOK_CLOSER = "backup-headless monitor --check"


@dataclass(frozen=True)
class Notice:
    event: Event
    key: str  # the problem's (database:rule); the run's for a success
    title: str
    body: str
    was: Event | None = None  # a recovery's: the event its problem was told as (failure or warning)


@dataclass
class Seen:
    """A problem as the state remembers it between runs."""

    severity: str
    message: str
    since: str  # first seen (UTC ISO)
    notified_at: str = ""  # last told (UTC ISO); "" while no destination has taken it
    backup_id: str = ""  # the backup it named ("" in a state written before it was kept)

    def to_json(self) -> dict[str, str]:
        return {"severity": self.severity, "message": self.message, "since": self.since,
                "notified_at": self.notified_at, "backup_id": self.backup_id}


@dataclass
class State:
    """Problems known at the last run of this host, by key."""

    problems: dict[str, Seen] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"problems": {key: seen.to_json() for key, seen in sorted(self.problems.items())}}

    @classmethod
    def from_json(cls, data: object) -> State:
        """Untrusted (it lies in the repository): what does not validate is forgotten, which costs at most a
        notice sent again."""
        state = cls()
        problems = data.get("problems") if isinstance(data, Mapping) else None
        if not isinstance(problems, Mapping):
            return state
        for key, seen in problems.items():
            if isinstance(key, str) and isinstance(seen, Mapping) and all(
                    isinstance(seen.get(name), str) for name in ("severity", "message", "since", "notified_at")):
                try:
                    parse_utc(seen["since"])
                    if seen["notified_at"]:
                        parse_utc(seen["notified_at"])
                except ValueError:
                    continue
                named = seen.get("backup_id", "")
                state.problems[key] = Seen(seen["severity"], seen["message"], seen["since"], seen["notified_at"],
                                           named if isinstance(named, str) else "")
        return state


def _keyed_by_operation(state: State, current: Mapping[str, object]) -> State:
    """``state`` under a failed run's keys as they are now, where it was written when one key (``db:failed_run``)
    stood for every operation: read as it was, the upgrade told each failure still going on "RECOVERED" beside
    its own "CRITICAL". What that one key told stands for each of the database's failed runs going on now: its
    message is the last run's to fail, while what was told was the first (a backup's, then a verify's under the
    same key): keyed by its message alone, the backup's failure was told again and the verify's, never told,
    was later told "RECOVERED". Gone, its end is told under its message's operation."""
    moved = State()
    for key, seen in state.problems.items():
        if not key.endswith(":failed_run"):
            moved.problems.setdefault(key, seen)
            continue
        going_on = [now_key for now_key in current if now_key.startswith(f"{key}:")]
        for now_key in going_on or [f"{key}:{seen.message.split(' ', 1)[0]}"]:
            if now_key not in state.problems:
                moved.problems[now_key] = seen
    return moved


def _where(problem: Problem) -> str:
    return problem.database or "the repository"


def problem_notice(problem: Problem, host: str, reminder: Seen | None) -> Notice:
    event: Event = "failure" if problem.severity == "critical" else "warning"
    again = f" (still, since {reminder.since})" if reminder is not None else ""
    title = f"[backup-tui] {problem.severity.upper()} {_where(problem)} on {host}: {problem.message}{again}"
    return _notice(event, problem.key, title, [
        f"database:    {_where(problem)}",
        f"host:        {host}",
        f"problem:     {problem.message}",
        f"what to do:  {problem.advice}",
        f"look closer: {LOOK_CLOSER}",
    ])


def _notice(event: Event, key: str, title: str, lines: Sequence[str], was: Event | None = None) -> Notice:
    """A notice whose title and lines stay one line each: a message or a database name can hold a newline (a
    planted run record's error, a name PostgreSQL allows), which in a mail's Subject refused the whole notice (no
    critical alert ever went out) and in a Slack message wrote a line of its own, such as a fake "RECOVERED"."""
    return Notice(event, key, printable(title), "\n".join(printable(line) for line in lines), was)


def recovery_notice(key: str, seen: Seen, host: str, now: datetime) -> Notice:
    database = key.split(":", 1)[0] or "the repository"
    title = f"[backup-tui] RECOVERED {database} on {host}: {seen.message}"
    return _notice("recovery", key, title, [
        f"database:    {database}",
        f"host:        {host}",
        f"was:         {seen.severity}: {seen.message}",
        f"from:        {seen.since}",
        f"until:       {utc_iso(now)}",
        f"look closer: {LOOK_CLOSER}",
    ], "failure" if seen.severity == "critical" else "warning")


def success_notice(run: RunRecord) -> Notice:
    what = f"{run.operation} of {run.database or 'every database'}"
    title = f"[backup-tui] OK {what} on {run.host}"
    return _notice("success", f"{run.database}:{run.operation}:ok", title, [
        f"{what} succeeded in {run.duration_s:.1f} s at {run.finished_at}",
        *([f"backup: {run.backup_id}"] if run.backup_id else [])])


def due(report: HealthReport, state: State, now: datetime, reminder: timedelta,
        runs: Sequence[RunRecord] = ()) -> tuple[list[Notice], State]:
    """The notices this moment calls for, and the state to keep if they are all delivered (the caller marks
    undelivered ones with ``undelivered``). A problem is told when it appears and again every ``reminder``
    while it lasts; its end is told once."""
    notices: list[Notice] = []
    kept = State()
    now_text = utc_iso(now)
    current = {p.key: p for p in report.problems}
    state = _keyed_by_operation(state, current)
    for key, problem in current.items():
        seen = state.problems.get(key)
        if seen is not None and problem.names_its_backup and seen.backup_id and seen.backup_id != problem.backup_id:
            seen = None  # another backup found damaged: told now, as new (the first one named is not recovered)
        since = seen.since if seen is not None else now_text
        last = parse_utc(seen.notified_at) if seen is not None and seen.notified_at else None
        if last is None or now - last >= reminder:
            notices.append(problem_notice(problem, report.host, seen if last is not None else None))
            kept.problems[key] = Seen(problem.severity, problem.message, since, now_text, problem.backup_id)
        else:
            kept.problems[key] = Seen(problem.severity, problem.message, since, seen.notified_at if seen else "",
                                      problem.backup_id)
    for key, seen in state.problems.items():
        if key not in current and seen.notified_at:  # never told, so no recovery to tell
            notices.append(recovery_notice(key, seen, report.host, now))
    notices += [success_notice(run) for run in runs if run.ok]
    return notices, kept


def undelivered(state: State, old: State, notices: Sequence[Notice]) -> State:
    """``state`` with the notices no destination took put back as they were: tried again next run."""
    for notice in notices:
        if notice.event in ("failure", "warning") and notice.key in state.problems:
            before, seen = old.problems.get(notice.key), state.problems[notice.key]
            # What was told of this problem before, unless it named another backup: that one was never told.
            seen.notified_at = before.notified_at if before and before.backup_id == seen.backup_id else ""
        elif notice.event == "recovery" and notice.key in old.problems:
            state.problems[notice.key] = old.problems[notice.key]  # keeps it until the recovery is told
    return state
