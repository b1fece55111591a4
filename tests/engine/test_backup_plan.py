"""The dry run's plan says what the real run would do: refuse for space, and leave a running backup's folder alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import SpaceError
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import plan_backup, run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.local import LocalRepository
from backup_tui.engine.storage.locks import database_lock
from backup_tui.engine.storage.space import free_bytes


def _figures(message: str) -> str:
    """The refusal without its last figure (free bytes), which moves as other tests write to the disk."""
    return message.rsplit(",", 1)[0]


def test_plan_says_the_real_run_would_refuse_for_space(settings: Settings) -> None:
    tight = replace(settings, min_free_bytes=free_bytes(settings.repository) * 2)
    plan = plan_backup(Context(tight), tight.databases[0])
    assert plan.space_ok is False
    assert plan.space_refusal is not None and "kept free" in plan.space_refusal
    assert plan.to_json()["space_ok"] is False
    with pytest.raises(SpaceError) as refused:
        run_backup(Context(tight), tight.databases[0])
    assert _figures(plan.space_refusal) == _figures(refused.value.message)  # one rule, one wording


def test_plan_with_room_to_spare(settings: Settings) -> None:
    plan = plan_backup(Context(settings), settings.databases[0])
    assert plan.space_ok is True
    assert plan.space_refusal is None


def test_plan_leaves_incomplete_folders_alone_while_the_lock_is_held(settings: Settings) -> None:
    database = settings.databases[0].database
    _, folder = LocalRepository(settings.repository).new_backup_dir(database, datetime.now(UTC))
    (folder / f"{folder.name}.dump.zst").write_bytes(b"half a dump")
    with database_lock(settings.repository, database, "backup"):  # as a running backup holds it
        held = plan_backup(Context(settings), settings.databases[0])
    assert held.locked_by_other_run is True
    assert held.incomplete_to_clean == []  # the real run would stop at the lock, cleaning nothing
    free = plan_backup(Context(settings), settings.databases[0])
    assert free.locked_by_other_run is False
    assert free.incomplete_to_clean == [folder.name]  # a leftover of a dead run: the real run removes it


def test_estimate_grows_with_the_database(settings: Settings, pg_sandbox: Sandbox, pagila_db: str) -> None:
    """The last backup + 25% is not enough once the database has grown eightfold since."""
    pg_sandbox.psql("VACUUM", pagila_db)  # no autovacuum adds its maps between the backup and the plan (1% more)
    last = run_backup(Context(settings), settings.databases[0])
    assert int(last.database_info["size_bytes"]) > 0
    same = plan_backup(Context(settings), settings.databases[0])
    assert same.expected_bytes == int(last.stored_bytes * 1.25) and "grew" not in same.estimate_basis
    pg_sandbox.psql("CREATE TABLE bulk AS SELECT g, md5(g::text) AS t FROM generate_series(1, 400000) g", pagila_db)
    grown = plan_backup(Context(settings), settings.databases[0])
    growth = grown.database_bytes / int(last.database_info["size_bytes"])
    assert growth > 2
    assert grown.expected_bytes == int(last.stored_bytes * 1.25 * growth)
    assert f"times {growth:.1f} as the database grew" in grown.estimate_basis
