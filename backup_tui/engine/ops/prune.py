"""Apply the retention plan: delete what it marks, holding each database's lock."""

from __future__ import annotations

from backup_tui.engine.config import Settings
from backup_tui.engine.core.clock import Clock, system_clock
from backup_tui.engine.core.models import PruneDecision
from backup_tui.engine.core.progress import Reporter, info, null_reporter
from backup_tui.engine.core.retention import plan_retention
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.locks import database_lock, is_locked


def plan_prune(settings: Settings, database: str | None = None, *, now: Clock = system_clock) -> list[PruneDecision]:
    catalog = Catalog.from_settings(settings)
    return plan_retention(
        catalog.list(database), settings.retention, now=now(),
        in_progress=lambda db: is_locked(settings.repository, db),
    )


def run_prune(
    settings: Settings,
    database: str | None = None,
    *,
    dry_run: bool = False,
    reporter: Reporter = null_reporter,
    now: Clock = system_clock,
) -> list[PruneDecision]:
    """Delete the backups retention lets go; with ``dry_run`` only say which and why."""
    decisions = plan_prune(settings, database, now=now)
    if dry_run:
        return decisions
    catalog = Catalog.from_settings(settings)
    doomed: dict[str, list[PruneDecision]] = {}
    for decision in decisions:
        if not decision.keep:
            doomed.setdefault(decision.record.database, []).append(decision)
    for db, items in doomed.items():
        with database_lock(settings.repository, db, "prune"):
            for decision in items:
                catalog.repository_of(decision.record).delete(decision.record)
                info(reporter, f"deleted {decision.record.id}: {decision.reasons[0]}")
    return decisions
