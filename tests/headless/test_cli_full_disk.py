"""A full disk under LOG_DIR (often BACKUP_DIR itself, where prune is run to free space) costs one
warning line: never a traceback, never the command's own result or exit code."""

from __future__ import annotations

import logging
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from headless.runlog import log, open_run_log
from tests.headless.conftest import Workspace, WorkspaceFactory, assert_clean_output, one_error_line


def test_a_log_that_cannot_be_written_warns_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    handler = open_run_log(Settings(repository=tmp_path), "prune")
    assert handler is not None and isinstance(handler, logging.FileHandler)
    handler.setStream(open("/dev/full", "w", encoding="utf-8"))  # noqa: SIM115 - the handler closes it
    try:
        for n in range(3):
            log.info("line %d", n)
    finally:
        log.removeHandler(handler)
        handler.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be written (No space left on device)" in err, err


def _no_file_may_grow() -> None:
    """In the child: every write to a regular file fails (EFBIG), as on a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def test_prune_on_a_full_disk_still_prunes_and_exits_zero(backed_up: tuple[Workspace, str]) -> None:
    ws, backup_id = backed_up
    result = subprocess.run([sys.executable, "-m", "headless", "prune"], env=ws.env, capture_output=True,
                            text=True, timeout=120, check=False, preexec_fn=_no_file_may_grow)
    assert_clean_output(result, {ws.password})
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: the run log") and "going on without it" in lines[0]
    assert backup_id in {item["id"] for item in ws.listing()}  # the newest backup is kept, as ever


def _no_file_over_100k() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


def test_a_disk_that_fills_mid_backup_is_one_plain_line(make_workspace: WorkspaceFactory) -> None:
    ws = make_workspace("fulldisk")
    result = subprocess.run([sys.executable, "-m", "headless", "backup"], env=ws.env, capture_output=True,
                            text=True, timeout=120, check=False, preexec_fn=_no_file_over_100k)
    assert_clean_output(result, {ws.password})
    assert result.returncode == 1
    error = one_error_line(result)
    assert error.startswith(f"error: disk full in {ws.repo} while writing {ws.database}-"), error
    assert "the partial backup was removed (File too large)" in error
    assert ws.listing() == []  # nothing left, not even an incomplete folder
    assert ws.backup()["status"] == "valid"  # room again: the next run succeeds
