"""One log file per run that changes something. A log that cannot be written (a full disk, the
very thing prune is run to fix) costs one warning line, never the run or its exit code."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("backup_tui")
log.propagate = False  # the run log file is the only destination; people see our own stderr lines
log.addHandler(logging.NullHandler())  # before the log file opens, drop records (no lastResort echo)


class RunLog(logging.FileHandler):
    """A file handler that gives up quietly: the first failed write says so once on stderr."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8")
        self.path = path
        self.failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        self.failed = True
        error = sys.exc_info()[1]
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        print(f"warning: the run log {self.path} cannot be written ({reason}); going on without it",
              file=sys.stderr)

    def close(self) -> None:
        with contextlib.suppress(OSError):  # flushing what could not be written fails again
            super().close()


def open_run_log(log_dir: Path, command: str) -> RunLog | None:
    """The run's log file; a run without a writable log folder still runs (and says so)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = log_dir / f"backup-headless-{stamp}-{command}-{os.getpid()}.log"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = RunLog(path)
    except OSError as exc:
        print(f"warning: no run log: cannot write to {log_dir}: {exc.strerror}", file=sys.stderr)
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler
