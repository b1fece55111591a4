"""Apply the retention plan: delete what it marks, holding each database's lock."""

from __future__ import annotations

from backup_tui.engine.config import Settings
from backup_tui.engine.core.clock import Clock, system_clock
from backup_tui.engine.core.models import PruneDecision
from backup_tui.engine.core.progress import Reporter, info, null_reporter, warn
from backup_tui.engine.core.retention import plan_retention
from backup_tui.engine.ops.journaled import journaled
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.locks import database_lock, deleting_backup, is_locked
from backup_tui.engine.storage.paths import OutsideRepository
from backup_tui.engine.storage.state import this_host


def plan_prune(settings: Settings, database: str | None = None, *, now: Clock = system_clock) -> list[PruneDecision]:
    catalog = Catalog.from_settings(settings)
    return plan_retention(
        catalog.list(database), settings.retention, now=now(),
        in_progress=lambda db: is_locked(settings.repository, db), this_host=this_host(),
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
    with journaled(settings, "prune", database or ""):
        for db, items in doomed.items():
            with database_lock(settings.repository, db, "prune"):
                for decision in items:
                    _delete(settings, catalog, decision, reporter)
    return decisions


def _delete(settings: Settings, catalog: Catalog, decision: PruneDecision, reporter: Reporter) -> None:
    """Delete one backup, unless a verify or restore is reading it (the next prune will) or its folder
    is not where the repository's layout puts it (never deleted on the word of a file)."""
    record = decision.record
    with deleting_backup(settings.repository, record.id) as free:
        if not free:
            warn(reporter, f"kept {record.id} for now: a verify or restore is reading it")
            return
        try:
            catalog.repository_of(record).delete(record)
        except OutsideRepository as exc:
            warn(reporter, f"did not delete {record.id}: {exc.message}")
            return
    info(reporter, f"deleted {record.id}: {decision.reasons[0]}")
