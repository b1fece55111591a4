"""Every run is in the journal, success or failure, whichever front end started it: monitoring
reads what happened from there, not from run logs that a TUI session never wrote."""

from __future__ import annotations

import errno
import json
import signal
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.core.runs import outcome
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.health import check_health
from backup_tui.engine.ops.journaled import journaled
from backup_tui.engine.ops.metrics import exposition
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.storage.journal import journal_dir, read_runs
from backup_tui.engine.storage.state import this_host
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
    # the CLI's run (python -m headless, as cron's would be backup-headless) and this test's are each named
    assert runs[-1].front_end == "backup-headless" and runs[0].front_end in ("pytest", "python")  # xdist's: -c
    assert runs[-1].error


RUN = {"operation": "backup", "database": "app", "host": this_host(), "pid": 1, "front_end": "x",
       "started_at": "2026-12-07T20:00:00.000Z", "finished_at": "2026-12-07T20:00:01.000Z", "duration_s": 1.0,
       "ok": False, "exit_code": 1, "error": "boom", "backup_id": ""}


def test_junk_named_as_the_newest_runs_hides_no_real_run(tmp_path: Path) -> None:
    """1,000 files that are no run record, named after every real one: the real failed run is read past them
    (it was left out, and monitor said every database was healthy)."""
    folder = journal_dir(tmp_path / "repo")
    folder.mkdir(parents=True)
    (folder / "01796676500000000000-real.json").write_text(json.dumps(RUN))
    for i in range(1000):
        (folder / f"99999999999999999999-{i:04}.json").write_text("{}")
    assert [(r.operation, r.error) for r in read_runs(tmp_path / "repo")] == [("backup", "boom")]


def test_a_run_stopped_by_a_signal_is_recorded_as_it_exited_and_with_what_it_left(settings: Settings) -> None:
    """SIGTERM (systemd, timeout) ends the process 143 with one line saying what the stop left (the original
    untouched, a swap left for repair); the journal, which monitoring reads, says the same, not exit 1 and
    "stopped by a signal"."""
    stop = KeyboardInterrupt(signal.SIGTERM)  # as the CLI's handler and a swap's held signal raise it
    stop.add_note("restore stopped: the original is untouched; dropped 'app__restore_20260101000000'")
    with pytest.raises(KeyboardInterrupt), journaled(settings, "restore", "app"):
        raise stop
    with pytest.raises(KeyboardInterrupt), journaled(settings, "backup", "app"):
        raise KeyboardInterrupt  # Ctrl+C
    failed = BackupToolError("the swap failed: server closed the connection")
    failed.add_note("or run: backup-headless repair --database app")
    with pytest.raises(BackupToolError), journaled(settings, "restore", "app"):
        raise failed
    assert [(r.exit_code, r.error) for r in read_runs(settings.repository)] == [
        (143, "stopped by SIGTERM; restore stopped: the original is untouched; dropped 'app__restore_20260101000000'"),
        (130, "interrupted"),
        (1, "the swap failed: server closed the connection; or run: backup-headless repair --database app")]


def test_a_planted_journal_record_is_skipped_not_believed(settings: Settings) -> None:
    folder = journal_dir(settings.repository)
    folder.mkdir(parents=True)
    (folder / "00000000000000000001-planted.json").write_text(json.dumps({"operation": "backup", "ok": "yes"}))
    (folder / "00000000000000000002-huge.json").write_text("{" + " " * 100_000 + "}")
    assert read_runs(settings.repository) == []


def test_a_journal_record_is_read_with_its_times_checked_and_in_the_form_we_write(tmp_path: Path) -> None:
    """A planted run whose end is no time stopped every /metrics scrape (500, "ValueError") and monitor --metrics;
    one with an offset sorted by its local digits, so an old failure could pass for the newest run."""
    settings = Settings(repository=tmp_path / "repo", databases=(DatabaseConfig(name="app"),))
    (settings.repository / "backups").mkdir(parents=True)
    folder = journal_dir(settings.repository)
    folder.mkdir()
    run = RUN
    (folder / "00000000000000000001-notatime.json").write_text(json.dumps({**run, "finished_at": "not a time"}))
    offset = {**run, "finished_at": "2026-12-08T09:00:01+14:00"}
    (folder / "00000000000000000002-offset.json").write_text(json.dumps(offset))
    [read] = read_runs(settings.repository)
    assert (read.started_at, read.finished_at) == ("2026-12-07T20:00:00.000Z", "2026-12-07T19:00:01.000Z")
    report = check_health(settings, datetime(2026, 12, 7, 21, tzinfo=UTC))
    assert b'backup_tui_last_run_ok{database="app"' in exposition(report)


def test_a_run_stopped_by_the_setup_is_journaled_with_the_reason_not_as_unexpected() -> None:
    """A backup into a read-only repository said "Read-only file system: PATH" on stderr, but the journal, and so
    the monitor and every notice, said "unexpected OSError" and sent the reader to a run log never written."""
    read_only = OSError(errno.EROFS, "Read-only file system")
    read_only.filename = "/srv/backups/backups/app"
    assert outcome(read_only) == (False, 1, "Read-only file system: /srv/backups/backups/app")
    assert outcome(OSError(errno.ENOSPC, "No space left on device")) == (False, 1, "No space left on device")
    assert outcome(RuntimeError("a fault nothing foresaw")) == (False, 1, "unexpected RuntimeError")
