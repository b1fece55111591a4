"""A run of an operation as the journal keeps it: monitoring and the TUI read what every run did,
whichever front end started it, failures included."""

from __future__ import annotations

import signal
from dataclasses import asdict, dataclass
from typing import Any

from backup_tui.engine.core.errors import EXIT_FAILED, EXIT_OK, BackupToolError
from backup_tui.engine.core.models import parse_utc, utc_iso


@dataclass(frozen=True)
class RunRecord:
    operation: str  # backup | restore | verify | prune
    database: str  # "" for a run over every database (prune without --database)
    host: str
    pid: int
    front_end: str  # the program that started it: backup-headless, backup-tui ...
    started_at: str  # UTC ISO 8601
    finished_at: str
    duration_s: float
    ok: bool
    exit_code: int
    error: str = ""  # one line, no secrets (our errors' own message)
    backup_id: str = ""  # the backup it made or read, when there is one

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def noted(message: str, exc: BaseException) -> str:
    """The error line with what the engine noted on the way up (``add_note``: the original untouched, a swap left
    for repair)."""
    return "; ".join([message, *getattr(exc, "__notes__", ())])


def stop_said(signum: int) -> str:
    """How a run stopped by ``signum`` says it: Ctrl+C's "interrupted", else the signal's name."""
    try:
        return "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    except ValueError:
        return "stopped by a signal"


class StoppedAfter(BackupToolError):
    """A stop (Ctrl+C, SIGTERM, SIGHUP) held through work that cannot be cut half-way and said once it ended, with
    what that work did: exits 128+signal, as any stop does."""

    def __init__(self, signum: int, done: str) -> None:
        super().__init__(f"{stop_said(signum)} {done}")
        self.exit_code = 128 + signum


def stop_signal(exc: KeyboardInterrupt) -> int:
    """The signal a KeyboardInterrupt stands for: the number SIGTERM and SIGHUP are raised with, else Ctrl+C's."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else signal.SIGINT


def outcome(exc: BaseException | None) -> tuple[bool, int, str]:
    """(ok, exit code, one-line error) of a run that ended with ``exc`` (None: it succeeded): the code the process
    exits with and the line it prints (the CLI's own ending), which the journal, read by monitoring, keeps too."""
    if exc is None:
        return True, EXIT_OK, ""
    if isinstance(exc, BackupToolError):
        return False, exc.exit_code, noted(exc.message, exc)
    if isinstance(exc, KeyboardInterrupt):  # Ctrl+C, or SIGTERM / SIGHUP raised with their number
        signum = stop_signal(exc)
        return False, 128 + signum, noted(stop_said(signum), exc)
    if isinstance(exc, OSError) and exc.strerror:  # a read-only mount, a full disk: the setup's, said as it is
        # ("unexpected OSError" sent the monitor's reader to a run log a read-only repository never got)
        return False, EXIT_FAILED, f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return False, EXIT_FAILED, f"unexpected {type(exc).__name__}"


def parse_run(data: object) -> RunRecord:
    """A journal record, checked field by field (the journal lies in the repository: untrusted)."""
    if not isinstance(data, dict):
        raise TypeError("not an object")
    kinds: dict[str, type | tuple[type, ...]] = {
        "operation": str, "database": str, "host": str, "pid": int, "front_end": str, "started_at": str,
        "finished_at": str, "duration_s": (int, float), "ok": bool, "exit_code": int, "error": str,
        "backup_id": str}
    for name, kind in kinds.items():
        value = data.get(name)
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            raise TypeError(f"field {name!r}")
    # Times in the one form we write (parse_utc: ValueError for one that is none): they are sorted as strings to
    # find the newest run, and read as times by the metrics, where "not a time" stopped every /metrics scrape.
    moments = {name: utc_iso(parse_utc(data[name]), milliseconds=True) for name in ("started_at", "finished_at")}
    return RunRecord(**{name: data[name] for name in kinds} | moments)
