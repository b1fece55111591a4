"""A backup a prune or a delete took while a restore planned it (the plan reads the archive without the backup's
reading lock): the plan says so, exit 2, nothing changed, not "unexpected FileNotFoundError" (exit 1)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import NotFoundError
from backup_tui.engine.core.retention import RetentionConfig
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops import restore
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from tests.conftest import prune


@pytest.mark.parametrize("replace_original", [False, True])
def test_restore_of_a_backup_pruned_while_it_is_planned_says_so(settings: Settings, pg_sandbox: Sandbox,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               replace_original: bool) -> None:
    keep_one = replace(settings, retention=RetentionConfig(daily=1, weekly=1, monthly=1))
    database = keep_one.databases[0].database
    older = run_backup(Context(keep_one), keep_one.databases[0])
    run_backup(Context(keep_one), keep_one.databases[0])
    reading = restore.server_lacks

    def pruned_first(*args: Any, **kwargs: Any) -> Any:
        prune(keep_one)  # a cron'd prune, while the plan reads the archive
        return reading(*args, **kwargs)

    monkeypatch.setattr(restore, "server_lacks", pruned_first)
    target = None if replace_original else f"{database}_xpruned"
    with pytest.raises(NotFoundError, match="deleted while the restore was planned"):
        restore.plan_restore(Context(keep_one), older, target_db=target, replace_original=replace_original)
    databases = pg_sandbox.psql("SELECT datname FROM pg_database").split()
    assert f"{database}_xpruned" not in databases and database in databases
