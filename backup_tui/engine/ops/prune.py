"""Apply the retention plan: delete what it marks, holding each database's lock."""

from __future__ import annotations

from backup_tui.engine.config import Settings
from backup_tui.engine.core.models import PruneDecision
from backup_tui.engine.core.progress import Reporter, info, warn
from backup_tui.engine.core.retention import plan_retention
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.journaled import journaled
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.locks import database_lock, deleting_backup, is_locked
from backup_tui.engine.storage.paths import OutsideRepository
from backup_tui.engine.storage.state import this_host


def plan_prune(ctx: Context, database: str | None = None) -> list[PruneDecision]:
    """What retention keeps and lets go, and why; nothing is touched."""
    settings = ctx.settings
    return plan_retention(
        ctx.catalog.list(database), settings.retention, now=ctx.now(),
        in_progress=lambda db: is_locked(settings.repository, db), this_host=this_host(),
    )


def run_prune(ctx: Context, plan: list[PruneDecision], database: str | None = None) -> list[PruneDecision]:
    """Delete exactly what ``plan`` lets go (``database``: the one it was planned for, for the journal)."""
    settings = ctx.settings
    doomed: dict[str, list[PruneDecision]] = {}
    for decision in plan:
        if not decision.keep:
            doomed.setdefault(decision.record.database, []).append(decision)
    with journaled(settings, "prune", database or ""):
        for db, items in doomed.items():
            with database_lock(settings.repository, db, "prune"):
                for decision in items:
                    _delete(settings, ctx.catalog, decision, ctx.reporter)
    return plan


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
