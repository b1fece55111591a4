"""prune after restore --replace keeps the backup restored from: the real safety backup holds no slot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backup_tui.engine.config import Settings
from backup_tui.engine.core.retention import SAFETY_KEPT
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.catalog import Catalog
from tests.conftest import prune, restore

DAY = datetime(2026, 11, 23, tzinfo=UTC)


def clock_at(start: datetime) -> Callable[[], datetime]:
    """A clock that moves one second per reading, so a run's start and finish differ."""
    ticks = iter(range(10**6))
    return lambda: start + timedelta(seconds=next(ticks))


def test_prune_after_replace_keeps_the_restored_from_backup(settings: Settings) -> None:
    db = settings.databases[0]
    older = run_backup(Context(settings, now=clock_at(DAY + timedelta(hours=8))), db)
    restored = run_backup(Context(settings, now=clock_at(DAY + timedelta(hours=10))), db)
    result = restore(settings, restored.id, now=clock_at(DAY + timedelta(hours=12)), replace_original=True,
                     confirmed=True)
    assert result.safety_backup_id is not None
    safety = Catalog.from_settings(settings).get(result.safety_backup_id)
    assert safety.is_safety, safety.reason  # the reason restore writes is the one retention recognises
    assert safety.created > restored.created and safety.created.date() == restored.created.date()

    decisions = {d.record.id: d for d in prune(settings, now=clock_at(DAY + timedelta(hours=13)))}
    assert decisions[restored.id].keep
    assert decisions[restored.id].reasons[:2] == ("newest valid backup", "daily 2026-11-23")
    assert decisions[safety.id].keep and decisions[safety.id].reasons == (SAFETY_KEPT,)
    assert not decisions[older.id].keep
    assert decisions[older.id].reasons == (f"superseded: {restored.id} is the newer backup of 2026-11-23",)
    left = Catalog.from_settings(settings).list(db.name)
    assert sorted(r.id for r in left) == sorted([restored.id, safety.id])
    assert Path(Catalog.from_settings(settings).get(restored.id).path).is_file()
