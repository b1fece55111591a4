"""A backup being read (a full verify, a restore) is not pruned under it; and a repository that
cannot be written (a read-only disaster-recovery mount) still restores."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.progress import LogLine, ProgressEvent
from backup_tui.engine.core.retention import RetentionConfig
from backup_tui.engine.ops import swap
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.locks import reading_backup
from backup_tui.engine.storage.state import this_host
from tests.conftest import prune, run_cli
from tests.headless.conftest import tree


def test_prune_spares_a_backup_while_it_is_read_and_deletes_it_after(settings: Settings) -> None:
    keep_one = replace(settings, retention=RetentionConfig(daily=1, weekly=1, monthly=1))
    older = run_backup(Context(keep_one), keep_one.databases[0])
    run_backup(Context(keep_one), keep_one.databases[0])
    said: list[ProgressEvent] = []

    def reporter(event: ProgressEvent) -> None:
        said.append(event)

    with reading_backup(keep_one.repository, older.id):
        decisions = prune(keep_one, reporter=reporter)
        assert [d.record.id for d in decisions if not d.keep] == [], "what stayed is reported as kept"
        [spared] = [d for d in decisions if d.record.id == older.id]
        assert spared.keep and spared.reasons[0] == "kept for now: a verify or restore is reading it"
        assert Path(older.path).exists(), "deleted while a verify or restore was reading it"
    assert any(isinstance(e, LogLine) and "is reading it" in e.message for e in said)
    prune(keep_one)
    assert not Path(older.path).parent.exists()


def _can_mount_read_only(tmp: Path) -> bool:
    probe = tmp / "probe"
    probe.mkdir()
    done = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {probe} {probe} && "
                           f"mount -o remount,bind,ro {probe} && ! touch {probe}/x"], capture_output=True, check=False)
    return done.returncode == 0


def test_a_read_only_repository_restores(settings: Settings, cli_env: dict[str, str], tmp_path: Path) -> None:
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs root and mount namespaces (unshare -m) for a read-only bind mount")
    made = run_backup(Context(settings), settings.databases[0])
    shutil.rmtree(settings.repository / "locks")  # a copy made elsewhere has none of our state
    before = tree(settings.repository)
    target = f"{settings.databases[0].database}_xreadonly"
    repo = settings.repository
    script = (f"mount --bind {repo} {repo} && mount -o remount,bind,ro {repo} && "
              f'exec {sys.executable} -m headless "$@"')
    for args in (["verify", made.id], ["restore", made.id, "--target-db", target]):
        done = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *args], env=cli_env,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert tree(settings.repository) == before
    assert run_cli(["list"], cli_env).returncode == 0


def _read_only_run(repo: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = (f"mount --bind {repo} {repo} && mount -o remount,bind,ro {repo} && "
              f'exec {sys.executable} -m headless "$@"')
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *args], env=env, capture_output=True,
                          text=True, check=False)


def test_a_read_only_repository_restores_though_another_user_made_its_temp_folder_first(
        settings: Settings, cli_env: dict[str, str], tmp_path: Path) -> None:
    """The run state of a read-only repository went to ``/tmp/backup-tui-<uid>-<digest of its path>``: a name
    any local user could make first, after which every verify and restore from that disaster-recovery mount
    failed ("unexpected PermissionError ... is not ours"). It goes to the user's own state folder first."""
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs root and mount namespaces (unshare -m) for a read-only bind mount")
    made = run_backup(Context(settings), settings.databases[0])
    shutil.rmtree(settings.repository / "locks")
    digest = hashlib.sha256(os.fsencode(os.path.abspath(settings.repository))).hexdigest()[:16]
    planted = Path(tempfile.gettempdir()) / f"backup-tui-{os.getuid()}-{digest}"
    subprocess.run(["runuser", "-u", "nobody", "--", "mkdir", "-m", "777", str(planted)], check=True)
    try:
        env = {k: v for k, v in cli_env.items() if k != "XDG_RUNTIME_DIR"}
        env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "state"))
        target = f"{settings.databases[0].database}_xplanted"
        for args in (["verify", made.id], ["restore", made.id, "--target-db", target]):
            done = _read_only_run(settings.repository, args, env)
            assert done.returncode == 0, (args, done.stderr)
        assert list(planted.iterdir()) == [], "nothing of ours went into the other user's folder"
        assert (tmp_path / "state" / "backup-tui").is_dir()

        env["XDG_STATE_HOME"] = "/dev/null/state"  # no state folder to be had: the temp folder, which is taken
        done = _read_only_run(settings.repository, ["verify", made.id], env)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.splitlines() == [f"error: {planted} belongs to another user (uid 65534), not to us: "
                                            "remove it, or set XDG_RUNTIME_DIR to a folder of your own"], done.stderr
    finally:
        shutil.rmtree(planted, ignore_errors=True)


def test_a_read_only_repository_keeps_the_run_state_an_earlier_release_left_in_the_temp_folder(
        settings: Settings, cli_env: dict[str, str], tmp_path: Path) -> None:
    """An earlier release kept a read-only repository's run state in ``/tmp/backup-tui-<uid>-<digest>``; the state
    folder came first after the upgrade, and what was there went unread: a restore --replace killed there before
    the upgrade (its database closed to connections) was no longer said by monitor, nor healed by repair."""
    if not _can_mount_read_only(tmp_path):
        pytest.skip("needs root and mount namespaces (unshare -m) for a read-only bind mount")
    database = settings.databases[0].database
    digest = hashlib.sha256(os.fsencode(os.path.abspath(settings.repository))).hexdigest()[:16]
    earlier = Path(tempfile.gettempdir()) / f"backup-tui-{os.getuid()}-{digest}"
    (earlier / "swaps").mkdir(mode=0o700, parents=True)
    try:
        journal = {"kind": "restore", "database": database, "incoming": f"{database}__restore_20261201000000",
                   "aside": f"{database}__pre_restore_20261201000000", "stamp": "20261201000000",
                   "server": "service= host=127.0.0.1", "step": "rename_aside", "pid": 999999,
                   "host": this_host(), "started_at": "2026-12-01T00:00:00+00:00"}  # as 8b3a19f wrote it
        name = swap.journal_path(settings, settings.databases[0], database).name  # where repair looks: believed
        (earlier / "swaps" / name).write_text(json.dumps(journal))
        settings.repository.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in cli_env.items() if k != "XDG_RUNTIME_DIR"}
        env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "state"))
        done = _read_only_run(settings.repository, ["monitor", "--check", "--no-notify"], env)
        assert f"a restore of {database} was killed at step 'rename_aside'" in done.stdout, done.stdout
        assert "Traceback" not in done.stderr
    finally:
        shutil.rmtree(earlier, ignore_errors=True)
