"""What follows every recorded run, whichever front end started it: the health is judged again, written
to ``<log folder>/metrics.json`` and, when it changed, told to whoever asked to be notified. Nothing here
may fail the run it follows: a failure is logged and the run's own result stands."""

from __future__ import annotations

import logging
import threading

from backup_tui.engine.config import Settings
from backup_tui.engine.core.clock import system_clock
from backup_tui.engine.core.runs import RunRecord
from backup_tui.engine.ops.health import check_health
from backup_tui.engine.ops.metrics import write_metrics_json
from backup_tui.engine.ops.notify import notify_after

log = logging.getLogger("backup_tui")
_one_at_a_time = threading.Lock()  # parallel verifies end in threads of one process: one metrics.json writer


def after_run(settings: Settings, run: RunRecord) -> None:
    """Judge, write metrics.json, notify; never raises (but a Ctrl+C still stops it)."""
    with _one_at_a_time:
        _after_run(settings, run)


def _after_run(settings: Settings, run: RunRecord) -> None:
    try:
        now = system_clock()
        report = check_health(settings, now)
        write_metrics_json(settings, report)
    except Exception as exc:
        log.warning("after the %s run: health and metrics.json not updated: %s: %s", run.operation,
                    type(exc).__name__, exc)
        return
    notify_after(settings, report, now, run)
