"""The backup's own questions, apart from a server: what a backup that fails before asking them asks of them."""

from __future__ import annotations

import subprocess
import tempfile

from backup_tui.engine.config import DatabaseConfig
from backup_tui.engine.ops.dump_session import DumpSession
from backup_tui.engine.postgres.snapshot import SnapshotHolder


def test_closing_a_session_never_started_does_nothing() -> None:
    """An interrupt can land between making the session and starting it: the backup's cleanup closes it anyway,
    and must not raise over the interrupt (joining a thread never started raises), nor touch the snapshot's
    session, which the snapshot's own block ends."""
    with subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc, \
            tempfile.TemporaryFile() as stderr:
        holder = SnapshotHolder(proc, ("pg_dump", "session"), stderr)
        stopped: list[str] = []
        session = DumpSession(holder, DatabaseConfig(name="app"), 0, stop_dump=lambda: stopped.append("dump"))
        session.close()
        assert stopped == [] and proc.poll() is None and proc.stdin is not None and not proc.stdin.closed
        proc.stdin.close()
