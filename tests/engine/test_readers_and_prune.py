"""A backup being read (a full verify, a restore) is not pruned under it; and a repository that
cannot be written (a read-only disaster-recovery mount) still restores."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.progress import LogLine, ProgressEvent
from backup_tui.engine.core.retention import RetentionConfig
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.locks import reading_backup
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
