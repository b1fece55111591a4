"""The backup's own session, apart from a server: what a backup that fails before starting it asks of it."""

from __future__ import annotations

from backup_tui.engine.config import DatabaseConfig
from backup_tui.engine.ops.dump_session import DumpSession


def test_closing_a_session_never_started_does_nothing() -> None:
    """An interrupt can land between making the session and starting it: the backup's cleanup closes it anyway,
    and must not raise over the interrupt (joining a thread never started raises)."""
    stopped: list[str] = []
    session = DumpSession(DatabaseConfig(name="app"), "00000003-00000067-1", 0, 0,
                          joined=lambda: None, stop_dump=lambda: stopped.append("dump"))
    session.close()
    assert stopped == []
