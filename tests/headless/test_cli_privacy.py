"""Backups are private: another local user reads none of them, whatever umask cron or a shell hands us.

Written as that other user would try: every file and folder a real backup, verify, restore (streamed and
through a temp file), replace, prune and pin leave behind is checked for any group or other bit, and the
paths are opened as `nobody` where a folder above them lets that user in.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.headless.conftest import Workspace, WorkspaceFactory
from tests.headless.test_cli_legacy import old_script_backup


@pytest.fixture
def wide_umask() -> Iterator[None]:
    """Runs start with the loosest umask operators commonly have (022: everything readable by all)."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def reachable_root() -> Iterator[Path]:
    """A folder `nobody` may enter (pytest's own tmp folders are root's alone, which would prove nothing)."""
    root = Path(tempfile.mkdtemp(prefix="backup-tui-privacy-", dir="/tmp"))
    os.chmod(root, 0o755)
    try:
        yield root
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)


def open_to_others(root: Path) -> list[str]:
    """Every path under ``root`` (itself excluded) that group or others may read, write or enter."""
    return [f"{path} {stat.filemode(path.lstat().st_mode)}" for path in sorted(root.rglob("*"))
            if not path.is_symlink() and path.lstat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)]


def nobody_can_read(path: Path) -> bool:
    """What another local user gets: `cat` a file or `ls` a folder as nobody."""
    tool = ["ls", str(path)] if path.is_dir() else ["cat", str(path)]
    return subprocess.run(["runuser", "-u", "nobody", "--", *tool], capture_output=True, check=False).returncode == 0


def test_everything_the_engine_writes_is_private_under_a_wide_umask(
    make_workspace: WorkspaceFactory, wide_umask: None, reachable_root: Path
) -> None:
    ws = make_workspace("privacy")
    ws.env.update(BACKUP_DIR=str(reachable_root / "repo"), LOG_DIR=str(reachable_root / "logs"))
    config = ws.write("jobs.toml", "[restore]\njobs = 2\n")  # a restore through BACKUP_DIR/tmp too
    ws.env["BACKUP_TUI_CONFIG"] = str(config)
    first = ws.backup()["id"]
    ws.ok("verify", first)
    ws.ok("restore", first, "--target-db", f"{ws.database}_xprivate")
    ws.ok("restore", first, "--replace", "--yes")  # a safety backup, restores.jsonl, a work database
    ws.ok("pin", first)
    ws.ok("prune")
    written = {p.relative_to(reachable_root).as_posix() for p in reachable_root.rglob("*")}
    folder = next((reachable_root / "repo").glob(f"backups/*/{first}")).relative_to(reachable_root).as_posix()
    for expected in ("repo/backups", "repo/locks", "repo/scratch", "repo/runs", "repo/tmp", "repo/restores.jsonl",
                     f"{folder}/manifest.json", f"{folder}/{first}.dump.zst", f"{folder}/{first}.dump.zst.sha256"):
        assert expected in written, f"{expected} was not written: the check below would prove nothing"
    for records in ("verifications", "pins", "reports"):
        assert any(name.startswith(f"{folder}/{records}/") for name in written), records
    assert any(name.startswith("repo/runs/") for name in written)
    assert any(name.startswith("logs/backup-headless-") for name in written)
    assert open_to_others(reachable_root) == []
    for path in reachable_root.rglob("*"):
        assert not nobody_can_read(path), f"another user reads {path}"


def test_an_older_runs_open_backups_are_closed_before_the_next_run_writes(
    make_workspace: WorkspaceFactory, wide_umask: None, reachable_root: Path
) -> None:
    """Backups made before this version (or by hand, under umask 022) are readable by all: config check says
    so, and the next run that writes takes group and others off our folders, so nothing below is reachable."""
    ws = make_workspace("privacy-old")
    repo, logs = reachable_root / "repo", reachable_root / "logs"
    ws.env.update(BACKUP_DIR=str(repo), LOG_DIR=str(logs))
    old = ws.backup()
    subprocess.run(["chmod", "-R", "go+rX", str(repo), str(logs)], check=True)  # as an older version left them
    old_dump, old_log = Path(old["path"]), next(logs.glob("backup-headless-*.log"))
    old_bytes = old_dump.read_bytes()
    assert nobody_can_read(old_dump) and nobody_can_read(old_log)  # the attack works before the fix

    check = ws.run("config", "check")
    warnings = [line for line in check.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, check.stderr
    assert str(repo / "backups") in warnings[0]
    assert "chmod go-rwx" in warnings[0]

    ws.backup()
    for path in [*repo.rglob("*"), *logs.rglob("*")]:
        assert not nobody_can_read(path), f"another user still reads {path}"
    assert stat.S_IMODE((repo / "backups").stat().st_mode) == 0o700
    assert stat.S_IMODE(old_log.stat().st_mode) == 0o600
    assert stat.S_IMODE(logs.stat().st_mode) == 0o755  # an operator's LOG_DIR: our files, never the folder
    assert old_dump.read_bytes() == old_bytes  # closed, not touched
    assert ws.json("verify", old["id"], "--quick")[0]["ok"]
    check = ws.run("config", "check")
    assert not [line for line in check.stderr.splitlines() if line.startswith("warning: ")], check.stderr


def test_config_check_names_the_old_scripts_backups_others_can_read(
    make_workspace: WorkspaceFactory, wide_umask: None, reachable_root: Path
) -> None:
    """The old kit's dumps are the old kit's: we never chmod them, so config check says who else reads them."""
    ws = make_workspace("privacy-legacy")
    repo = reachable_root / "repo"
    shutil.copytree(old_script_backup(ws, "20240105_020000").parent, repo / "daily")
    subprocess.run(["chmod", "-R", "go+rX", str(repo)], check=True)  # as the old scripts left them, umask 022
    ws.env.update(BACKUP_DIR=str(repo))
    [dump] = repo.glob("daily/*.sql.gz")
    assert nobody_can_read(dump)

    check = ws.run("config", "check")
    assert check.returncode == 0, check.stderr  # a warning: the settings work
    [warning] = [line for line in check.stderr.splitlines() if "old scripts' backups" in line]
    assert warning.startswith("warning: ") and str(dump) in warning
    assert warning.endswith(f"chmod go-rwx {repo / 'daily'}")

    subprocess.run(["chmod", "go-rwx", str(repo / "daily")], check=True)  # what it says to run
    assert not nobody_can_read(dump)
    check = ws.run("config", "check")
    assert not [line for line in check.stderr.splitlines() if line.startswith("warning: ")], check.stderr


PASSWORD_FILE = """
repository = "{repo}"
[[databases]]
name = "{name}"
host = "{host}"
port = {port}
user = "{user}"
password = "{password}"
"""


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640, 0o604, 0o644, 0o660, 0o666])
def test_config_check_warns_when_others_can_read_a_password(
    backed_up: tuple[Workspace, str], mode: int, tmp_path: Path
) -> None:
    ws, _ = backed_up
    config = tmp_path / "backup-tui.toml"
    config.write_text(PASSWORD_FILE.format(repo=ws.repo, name=ws.database, host=ws.sandbox.host,
                                           port=ws.sandbox.port, user=ws.sandbox.user, password=ws.password))
    os.chmod(config, mode)
    env: dict[str, str | None] = {key: None for key in ws.env if key.startswith("BACKUP_DB_")}
    result = ws.run("--config", str(config), "config", "check", env=env)
    assert result.returncode == 0, result.stderr  # a warning, not a failure: the settings work
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        assert len(warnings) == 1, result.stderr
        assert str(config) in warnings[0] and f"chmod 600 {config}" in warnings[0]
    else:
        assert warnings == [], result.stderr


def test_a_password_from_the_environment_needs_no_private_config_file(
    backed_up: tuple[Workspace, str], tmp_path: Path
) -> None:
    ws, _ = backed_up
    config = tmp_path / "backup-tui.toml"
    config.write_text(f'repository = "{ws.repo}"\n[[databases]]\nname = "{ws.database}"\n'
                      'password_env = "BACKUP_DB_PASSWORD"\n')
    os.chmod(config, 0o644)
    result = ws.run("--config", str(config), "config", "check")
    assert result.returncode == 0, result.stderr
    assert "warning: " not in result.stderr
