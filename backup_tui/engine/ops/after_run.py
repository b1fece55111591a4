"""What follows every recorded run, whichever front end started it: the health is judged again, written
to ``<log folder>/metrics.json`` and, when it changed, told to whoever asked to be notified. Nothing here
may fail the run it follows: a failure is logged and the run's own result stands."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from backup_tui.engine.config import Settings
from backup_tui.engine.core.clock import system_clock
from backup_tui.engine.core.runs import RunRecord
from backup_tui.engine.ops.health import check_health
from backup_tui.engine.ops.metrics import write_metrics_json
from backup_tui.engine.ops.notify import notify_after

log = logging.getLogger("backup_tui")
_one_at_a_time = threading.Lock()  # parallel verifies end in threads of one process: one metrics.json writer


class _Held:
    """The runs of a command whose notices wait for its end (None: none waits, each run tells its own)."""

    runs: list[RunRecord] | None = None


def after_run(settings: Settings, run: RunRecord) -> None:
    """Judge, write metrics.json, notify; never raises (but a Ctrl+C still stops it)."""
    with _one_at_a_time:
        if _Held.runs is None:
            _after_run(settings, [run])
        else:
            _Held.runs.append(run)
            _after_run(settings, [run], notify=False)


@contextmanager
def notices_at_the_end(settings: Settings) -> Iterator[None]:
    """One command, one round of notices. Told after each run of a command of several (a backup of every
    database, with its uploads; verify --all), the databases not reached yet were told critical "no valid
    backup" and a backup its missing S3 copy until its upload a second later, each then "RECOVERED": a page per
    database and night. metrics.json is still written after each run."""
    if _Held.runs is not None:  # within another: that one tells
        yield
        return
    _Held.runs = []
    try:
        yield
    finally:
        with _one_at_a_time:
            runs, _Held.runs = _Held.runs, None
            if runs:
                _after_run(settings, runs)


def _after_run(settings: Settings, runs: Sequence[RunRecord], *, notify: bool = True) -> None:
    try:
        now = system_clock()
        report = check_health(settings, now)
        write_metrics_json(settings, report)
    except Exception as exc:
        log.warning("after the %s run: health and metrics.json not updated: %s: %s", runs[-1].operation,
                    type(exc).__name__, exc)
        return
    if notify:
        notify_after(settings, report, now, runs)
