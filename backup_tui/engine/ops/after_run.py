"""What follows every recorded run, whichever front end started it: the health is judged again, written
to ``<log folder>/metrics.json`` and, when it changed, told to whoever asked to be notified. Nothing here
may fail the run it follows: a failure is logged and the run's own result stands."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from backup_tui.engine.config import Settings
from backup_tui.engine.core.clock import system_clock
from backup_tui.engine.core.health import HealthReport
from backup_tui.engine.core.runs import RunRecord
from backup_tui.engine.ops.health import check_health
from backup_tui.engine.ops.metrics import write_metrics_json
from backup_tui.engine.ops.notify import notify_after

log = logging.getLogger("backup_tui")
_one_at_a_time = threading.Lock()  # parallel verifies end in threads of one process: one metrics.json writer


class _Held:
    """The runs of a command whose notices wait for its end (None: none waits, each run tells its own), and the
    judgement after the last of them, which the end tells from: judged again there, every backup paid twice."""

    runs: list[RunRecord] | None = None
    judged: tuple[HealthReport, datetime] | None = None


def after_run(settings: Settings, run: RunRecord) -> None:
    """Judge, write metrics.json, notify; never raises (but a Ctrl+C still stops it)."""
    with _one_at_a_time:
        judged = _judge(settings, run)
        if _Held.runs is None:
            if judged is not None:
                notify_after(settings, *judged, [run])
        else:
            _Held.runs.append(run)
            _Held.judged = judged


@contextmanager
def notices_at_the_end(settings: Settings) -> Iterator[None]:
    """One command, one round of notices. Told after each run of a command of several (a backup of every
    database, with its uploads; verify --all), the databases not reached yet were told critical "no valid
    backup" and a backup its missing S3 copy until its upload a second later, each then "RECOVERED": a page per
    database and night. metrics.json is still written after each run."""
    if _Held.runs is not None:  # within another: that one tells
        yield
        return
    _Held.runs, _Held.judged = [], None
    try:
        yield
    finally:
        with _one_at_a_time:
            runs, judged = _Held.runs, _Held.judged
            _Held.runs, _Held.judged = None, None
            if runs and judged is not None:
                notify_after(settings, *judged, runs)


def _judge(settings: Settings, run: RunRecord) -> tuple[HealthReport, datetime] | None:
    """The health after ``run``, written to metrics.json; None (logged) where it could not be judged."""
    try:
        now = system_clock()
        report = check_health(settings, now)
        write_metrics_json(settings, report)
    except Exception as exc:
        log.warning("after the %s run: health and metrics.json not updated: %s: %s", run.operation,
                    type(exc).__name__, exc)
        return None
    return report, now
