"""One log file per run that changes something. A log that cannot be written (a full disk, the
very thing prune is run to fix) costs one warning line, never the run or its exit code."""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from backup_tui.engine.config import Settings
from backup_tui.engine.core.printable import printable
from backup_tui.engine.storage.paths import OutsideRepository, log_folder

log = logging.getLogger("backup_tui")
log.propagate = False  # the run log file is the only destination; people see our own stderr lines
log.addHandler(logging.NullHandler())  # before the log file opens, drop records (no lastResort echo)


class RunLog(logging.FileHandler):
    """A file handler that gives up quietly: the first failed write says so once on stderr."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8")
        self.path = path
        self.failed = False

    def _open(self) -> io.TextIOWrapper:
        """Appended to, never through a link: the default log folder lies in the repository, where anyone who
        can write it could plant one under the next run's name (a cron run's second is easy to guess)."""
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        return open(fd, "a", encoding="utf-8")  # the handler closes it

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


class PrintableFormatter(logging.Formatter):
    """Each message one line, its controls shown (``core.printable``): the engine's lines quote records from the
    untrusted repository, and a log read with ``cat`` or ``tail -f`` is a terminal too. A traceback keeps its
    lines."""

    def format(self, record: logging.LogRecord) -> str:
        shown = logging.makeLogRecord(record.__dict__)
        shown.msg, shown.args = printable(record.getMessage()), None
        return super().format(shown)


def open_run_log(settings: Settings, command: str) -> RunLog | None:
    """The run's log file; a run without a writable log folder still runs (and says so)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        log_dir = log_folder(settings)
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = RunLog(log_dir / f"backup-headless-{stamp}-{command}-{os.getpid()}.log")
    except OutsideRepository as exc:
        print(f"warning: no run log: {exc.message}", file=sys.stderr)
        return None
    except OSError as exc:
        why = "a link, not followed" if exc.errno == errno.ELOOP else exc.strerror
        print(f"warning: no run log: cannot write to {settings.logs}: {why}", file=sys.stderr)
        return None
    handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler
