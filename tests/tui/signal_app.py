"""The terminal app on the fixed catalog, for the signal tests: ``python -m tests.tui.signal_app MODE MARKER``.

The test presses b (a backup of pagila, the card in focus) once the dashboard is drawn. MODE ``finishing``:
the backup ends 0.3 s after it starts. MODE ``stuck``: the backup's thread ignores the cancel and never ends
(a job that cannot stop).
MARKER is a file the backup writes 'started' to, so the test knows when to send the signal.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from backup_tui.engine.config import DatabaseConfig
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.core.progress import CancelToken, Reporter
from backup_tui.tui.__main__ import run_until_stopped
from tests.tui.fixtures import FixedServices, fixed_app

GRACE_S = 3.0


class Timed(FixedServices):
    def __init__(self, mode: str, marker: Path) -> None:
        super().__init__()
        self.mode, self.marker = mode, marker

    def backup(self, db: DatabaseConfig, reporter: Reporter, cancel: CancelToken) -> BackupRecord:
        self.marker.write_text(f"started {time.monotonic()}")
        if self.mode == "stuck":
            threading.Event().wait()  # never returns, cancel or not
        time.sleep(0.3)
        return super().backup(db, reporter, cancel)


def main() -> int:
    mode, marker = sys.argv[1], Path(sys.argv[2])
    return run_until_stopped(fixed_app(Timed(mode, marker)), grace_s=GRACE_S)


if __name__ == "__main__":
    sys.exit(main())
