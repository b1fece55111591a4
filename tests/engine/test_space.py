"""The free-space check refuses before anything is written, with the figures."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import SpaceError
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.postgres import pg
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.space import free_bytes, human_bytes


def test_backup_refuses_when_the_repository_cannot_hold_it(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused while pg_dump reads its catalog: the dump is stopped and nothing is written."""
    free = free_bytes(settings.repository)
    tight = replace(settings, min_free_bytes=free * 2)  # more head-room than the disk has, whatever else runs
    stopped: list[int | None] = []
    real_kill = pg.kill_group

    def kill_group(proc: subprocess.Popen[bytes]) -> None:
        stopped.append(proc.poll())  # None: still running when stopped
        real_kill(proc)

    monkeypatch.setattr(pg, "kill_group", kill_group)
    with pytest.raises(SpaceError) as refused:
        run_backup(Context(tight), settings.databases[0])
    text = refused.value.message
    assert "need about" in text and "free" in text and "kept free" in text
    assert refused.value.exit_code == 1
    assert stopped == [None]  # pg_dump had started, and was stopped
    assert Catalog.from_settings(settings).list() == []  # nothing written
    assert [p for p in (settings.repository / "backups").rglob("*") if p.is_file()] == []


def test_human_bytes() -> None:
    assert human_bytes(999) == "999 B"
    assert human_bytes(1_500_000) == "1.5 MB"
    assert human_bytes(1_500) == "1.5 kB"
    assert human_bytes(2_000_000_000_000_000) == "2.0 PB"  # humanize goes on past TB
