"""Every run is in the journal, success or failure, whichever front end started it: monitoring
reads what happened from there, not from run logs that a TUI session never wrote."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.storage.journal import journal_dir, read_runs
from tests.conftest import closed_port, run_cli


def test_a_failed_run_is_in_the_journal_with_its_reason(settings: Settings) -> None:
    unreachable = replace(settings.databases[0], port=closed_port())
    with pytest.raises(BackupToolError) as failed:
        run_backup(Context(settings), unreachable)
    [run] = read_runs(settings.repository)
    assert (run.operation, run.database, run.ok, run.exit_code) == ("backup", unreachable.database, False,
                                                                    failed.value.exit_code)
    assert run.error == failed.value.message and run.pid > 0 and run.host


def test_successes_and_a_verify_that_found_damage_are_told_apart(settings: Settings,
                                                                 cli_env: dict[str, str]) -> None:
    made = run_backup(Context(settings), settings.databases[0])
    assert verify_backup(Context(settings), made, "quick").ok
    Path(made.path).write_bytes(b"not a dump")
    assert run_cli(["verify", made.id, "--quick"], cli_env).returncode == 4
    runs = read_runs(settings.repository)
    assert [(r.operation, r.ok, r.exit_code, r.backup_id) for r in runs] == [
        ("backup", True, 0, made.id), ("verify", True, 0, made.id), ("verify", False, 4, made.id)]
    assert runs[-1].front_end != runs[0].front_end  # the CLI's run and this test's are each named
    assert runs[-1].error


def test_a_planted_journal_record_is_skipped_not_believed(settings: Settings) -> None:
    folder = journal_dir(settings.repository)
    folder.mkdir(parents=True)
    (folder / "00000000000000000001-planted.json").write_text(json.dumps({"operation": "backup", "ok": "yes"}))
    (folder / "00000000000000000002-huge.json").write_text("{" + " " * 100_000 + "}")
    assert read_runs(settings.repository) == []
