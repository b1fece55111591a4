"""Run logs and metrics.json where LOG_DIR is not set: in ``<repository>/logs``, which anyone who can write the
repository could have made a link, or planted links in. Nothing is ever written through one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from headless.runlog import RunLog, open_run_log
from tests.headless.conftest import Workspace, WorkspaceFactory

NO_LOG_DIR: dict[str, str | None] = {"LOG_DIR": None}


@pytest.fixture(scope="module")
def ws(make_workspace: WorkspaceFactory) -> Workspace:
    workspace = make_workspace("untrusted-logs")
    workspace.backup()
    return workspace


def test_a_logs_folder_that_is_a_link_is_not_written_through(ws: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws.repo / "logs").symlink_to(outside)
    try:
        result = ws.run("backup", env=NO_LOG_DIR)
        assert result.returncode == 0, result.stderr
        assert "warning: no run log:" in result.stderr and "symbolic link inside the repository" in result.stderr
        assert list(outside.iterdir()) == []  # neither a run log nor metrics.json
        check = ws.run("config", "check", env=NO_LOG_DIR)
        assert check.returncode != 0 and "symbolic link inside the repository" in check.stdout + check.stderr
    finally:
        (ws.repo / "logs").unlink()


def test_the_default_logs_folder_in_the_repository_gets_the_run_log(ws: Workspace) -> None:
    assert ws.run("backup", env=NO_LOG_DIR).returncode == 0
    logs = ws.repo / "logs"
    assert [p.name for p in logs.glob("backup-headless-*-backup-*.log")] and (logs / "metrics.json").is_file()


def test_a_run_log_is_never_opened_through_a_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    link = tmp_path / "backup-headless-20261207T020000Z-backup-1.log"
    link.symlink_to(victim)
    with pytest.raises(OSError):
        RunLog(link)
    assert victim.read_text() == "precious\n"
    (tmp_path / "logs").symlink_to(tmp_path)
    assert open_run_log(Settings(repository=tmp_path), "backup") is None
    assert "symbolic link inside the repository" in capsys.readouterr().err


def test_config_checks_write_test_never_follows_a_planted_link(ws: Workspace, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (ws.repo / ".write-test").symlink_to(victim)
    try:
        ws.run("config", "check")
        assert victim.read_text() == "precious\n" and os.path.islink(ws.repo / ".write-test")
    finally:
        (ws.repo / ".write-test").unlink()
