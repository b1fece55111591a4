"""A backup a prune or a delete took after ``verify --all`` read the list is no damage: skipped with a warning, not
"verification failed: data file missing" and exit 4 for the operator to go looking for."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from backup_tui.engine.config import Settings
from backup_tui.engine.core.models import Verification
from backup_tui.engine.core.progress import LogLine, ProgressEvent
from backup_tui.engine.core.retention import RetentionConfig
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.verify import verify_many
from tests.conftest import prune


def test_verify_all_skips_a_backup_pruned_after_the_list_was_read(settings: Settings) -> None:
    keep_one = replace(settings, retention=RetentionConfig(daily=1, weekly=1, monthly=1))
    older = run_backup(Context(keep_one), keep_one.databases[0])
    newer = run_backup(Context(keep_one), keep_one.databases[0])
    said: list[ProgressEvent] = []

    def reporter(event: ProgressEvent) -> None:
        said.append(event)

    ctx = Context(keep_one, reporter)
    listed = ctx.catalog.list()
    assert {r.id for r in listed} == {older.id, newer.id}
    prune(keep_one)  # as a cron'd prune does while verify --all works through the list
    results = verify_many(ctx, listed, "quick")
    assert [(r.id, isinstance(v, Verification) and v.ok) for r, v in results] == [(newer.id, True)]
    assert any(isinstance(e, LogLine) and e.level == "warning" and older.id in e.message
               and "deleted while" in e.message for e in said)
    assert not Path(older.path).parent.exists()  # its failed check made no folder again where prune took it


def test_a_damaged_backup_still_fails_its_verify(settings: Settings) -> None:
    made = run_backup(Context(settings), settings.databases[0])
    data = made.path
    with open(data, "r+b") as f:
        f.truncate(100)
    [(record, result)] = verify_many(Context(settings), [made], "quick")
    assert record.id == made.id and isinstance(result, Verification) and not result.ok
