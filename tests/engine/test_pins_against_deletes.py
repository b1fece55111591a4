"""A pin set while a delete's or a prune's question is open is seen by the removal, and a pin never lands
between that check and the removal: the backup stays, pinned."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import EXIT_FAILED, NotFoundError
from backup_tui.engine.core.retention import RetentionConfig
from backup_tui.engine.ops import pins
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.delete import PINNED_SINCE, plan_delete, run_delete
from backup_tui.engine.ops.prune import plan_prune, run_prune
from backup_tui.engine.storage.locks import deleting_backup


def test_a_backup_pinned_while_its_delete_was_asked_stays(settings: Settings) -> None:
    older = run_backup(Context(settings), settings.databases[0])
    run_backup(Context(settings), settings.databases[0])
    plan = plan_delete(Context(settings), older)  # neither pinned nor the newest: no refusal
    assert not plan.refusal
    pins.set_pinned(Context(settings), older, True)  # someone else, while the question is open
    result = run_delete(Context(settings), plan)
    assert result.deleted == () and result.kept == {"local": PINNED_SINCE}
    assert result.exit_code == EXIT_FAILED
    assert Path(older.path).exists() and Context(settings).catalog.get(older.id).pinned
    forced = plan_delete(Context(settings), Context(settings).catalog.get(older.id), force=True)
    assert run_delete(Context(settings), forced).deleted == ("local",)  # pinned when asked: the person chose


def test_a_backup_pinned_after_prune_planned_stays(settings: Settings) -> None:
    keep_one = replace(settings, retention=RetentionConfig(daily=1, weekly=0, monthly=0))
    older = run_backup(Context(keep_one), keep_one.databases[0])
    run_backup(Context(keep_one), keep_one.databases[0])
    plan = plan_prune(Context(keep_one))
    assert [d.record.id for d in plan if not d.keep] == [older.id]
    pins.set_pinned(Context(keep_one), older, True)
    [went] = [d for d in run_prune(Context(keep_one), plan) if d.record.id == older.id]
    assert went.keep and went.reasons[0] == f"kept for now: {PINNED_SINCE}"
    assert Path(older.path).exists()


def test_a_pin_waits_for_a_removal_under_way_and_then_says_the_backup_went(settings: Settings) -> None:
    record = run_backup(Context(settings), settings.databases[0])
    outcome: list[BaseException | None] = []

    def pin() -> None:
        try:
            pins.set_pinned(Context(settings), record, True)
            outcome.append(None)
        except NotFoundError as exc:
            outcome.append(exc)

    pinning = threading.Thread(target=pin)
    with deleting_backup(settings.repository, record.id) as free:
        assert free
        pinning.start()
        time.sleep(0.3)
        assert pinning.is_alive() and outcome == [], "the pin was written during the removal"
        Context(settings).catalog.local.delete(record)
    pinning.join(timeout=10)
    assert len(outcome) == 1 and isinstance(outcome[0], NotFoundError)
    assert "deleted meanwhile" in str(outcome[0].message)
    with pytest.raises(NotFoundError):
        Context(settings).catalog.get(record.id)
