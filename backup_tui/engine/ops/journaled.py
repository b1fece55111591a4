"""The one runner every operation goes through: whatever front end called it, the run is recorded
in the journal when it ends, success or failure. Monitoring reads the journal, not the run logs."""

from __future__ import annotations

import functools
import inspect
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.core.models import utc_iso
from backup_tui.engine.core.runs import RunRecord, outcome
from backup_tui.engine.ops.after_run import after_run
from backup_tui.engine.storage.journal import record_run
from backup_tui.engine.storage.state import this_host


@dataclass
class Run:
    """What the operation tells the journal while it runs."""

    backup_id: str = ""
    failure: tuple[int, str] | None = None  # a run that ends normally yet failed (a verify that found damage)

    def failed(self, exit_code: int, message: str) -> None:
        self.failure = (exit_code, message)


# The faces' modules, as ``python -m`` runs them: their argv[0] is their __main__.py, which names nothing.
MODULE_PROGRAMS = {"headless": "backup-headless", "tui": "backup-tui"}


def program_name(argv0: str) -> str:
    """The program a run was started by, as the journal names it: its command (backup-headless, backup-tui), also
    when started as ``python -m headless`` ("__main__.py" told a CLI run and the app's apart in nothing)."""
    path = Path(argv0)
    if path.name == "__main__.py":
        return MODULE_PROGRAMS.get(path.parent.name, path.parent.name)
    return "python" if argv0 in ("", "-c") else path.name


@contextmanager
def journaled(settings: Settings, operation: str, database: str, *, judge_after: bool = True) -> Iterator[Run]:
    """Record the block as one run. Recording never hides the run's own result: a journal that
    cannot be written costs the record, not the backup. ``judge_after=False`` for a run inside another
    (prune's delete of each backup): the outer run judges health and notifies once, at its end."""
    run, started, clock = Run(), datetime.now(UTC), time.monotonic()
    error: BaseException | None = None
    try:
        yield run
    except BaseException as exc:
        error = exc
        raise
    finally:
        ok, code, said = outcome(error)
        if ok and run.failure is not None:
            ok, (code, said) = False, run.failure
        # To the millisecond: a failed run and the success right after it must not share a moment.
        record = RunRecord(operation=operation, database=database, host=this_host(), pid=os.getpid(),
                           front_end=program_name(sys.argv[0]),
                           started_at=utc_iso(started, milliseconds=True),
                           finished_at=utc_iso(datetime.now(UTC), milliseconds=True),
                           duration_s=round(time.monotonic() - clock, 3), ok=ok, exit_code=code, error=said,
                           backup_id=run.backup_id)
        with suppress(OSError, BackupToolError):
            record_run(settings.repository, record)
        if judge_after:
            after_run(settings, record)  # metrics.json and notifications: never fails the run


P = ParamSpec("P")
R = TypeVar("R")


def journal_run(
    operation: str, about: Callable[[Mapping[str, Any]], tuple[str, str]],
    judge: Callable[[Any], tuple[int, str] | None] = lambda result: None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``journaled`` around a whole operation; ``about`` names its database and backup from its
    arguments (by name, defaults filled in), ``judge`` says when a result that returned is a failure
    (exit code, one line). The operation's own signature is kept as it is."""

    def wrap(operation_fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(operation_fn)

        @functools.wraps(operation_fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            database, backup_id = about(bound.arguments)
            with journaled(bound.arguments["ctx"].settings, operation, database) as journal:
                journal.backup_id = backup_id
                result = operation_fn(*args, **kwargs)
                failure = judge(result)
                if failure is not None:
                    journal.failed(*failure)
                return result

        return run

    return wrap
