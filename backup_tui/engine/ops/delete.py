"""Delete a backup: every copy of it, wherever the catalog finds one, as a plan and a run of that plan.

One decision for every front end: the TUI's ``d`` asks with the plan's words, prune removes each copy
it lets go through ``remove_copy``. A copy object lock keeps is said in the plan and reported by the
run, not an error: the rest is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import BackupToolError, NotFoundError
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.core.progress import Reporter, info, warn
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.journaled import journaled
from backup_tui.engine.storage.locks import database_lock, deleting_backup
from backup_tui.engine.storage.paths import OutsideRepository
from backup_tui.engine.storage.repository import Repository
from backup_tui.engine.storage.s3 import ObjectLocked, S3Repository


@dataclass(frozen=True)
class CopyToDelete:
    """One repository's copy: its own record (its own path), where it is, what object lock keeps of it."""

    location: str
    record: BackupRecord
    where: str
    retained: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeletePlan:
    record: BackupRecord
    copies: tuple[CopyToDelete, ...]
    unreachable: tuple[str, ...] = ()  # repositories not listed now: a copy there, if any, stays

    def describe(self) -> list[str]:
        """What the question says: each copy and where, then what will stay."""
        lines = [f"{c.location}: {c.where}" for c in self.copies]
        for copy in self.copies:
            if copy.retained:
                lines.append(f"object lock keeps {len(copy.retained)} object(s) in {copy.location}: "
                             f"{copy.retained[0]}")
        lines += [f"{name} could not be listed ({why}): a copy there stays" for name, why in
                  (u.split("\t", 1) for u in self.unreachable)]
        return lines


@dataclass(frozen=True)
class DeleteResult:
    plan: DeletePlan
    deleted: tuple[str, ...] = ()
    kept: dict[str, str] = field(default_factory=dict)  # location -> why it stayed


def plan_delete(ctx: Context, record: BackupRecord) -> DeletePlan:
    """Every copy of ``record`` the repositories hold now, each as that repository lists it."""
    copies: list[CopyToDelete] = []
    unreachable: list[str] = []
    for repo in ctx.catalog.repositories:
        try:
            own = next((r for r in repo.list() if r.id == record.id), None)
        except BackupToolError as exc:
            if repo.capabilities.local_paths:
                raise
            unreachable.append(f"{repo.name}\t{exc.message}")
            continue
        if own is None:
            continue
        retained = repo.retained(own, ctx.now()) if isinstance(repo, S3Repository) else ()
        copies.append(CopyToDelete(repo.name, own, _where(repo, own), retained))
    if not copies:
        raise NotFoundError(f"{record.id}: no repository holds a copy (deleted already?)")
    return DeletePlan(record, tuple(copies), tuple(unreachable))


def _where(repo: Repository, record: BackupRecord) -> str:
    if isinstance(repo, S3Repository):
        return repo.url(repo.folder(record))
    return record.path


def run_delete(ctx: Context, plan: DeletePlan) -> DeleteResult:
    """Remove each planned copy under the database's lock; a copy that stays says why."""
    settings, record = ctx.settings, plan.record
    deleted: list[str] = []
    kept: dict[str, str] = {}
    with journaled(settings, "delete", record.database) as run:
        run.backup_id = record.id
        with database_lock(settings.repository, record.database, "delete"):
            for copy in plan.copies:
                repo = next(r for r in ctx.catalog.repositories if r.name == copy.location)
                removal = remove_copy(settings, repo, copy.record, ctx.reporter)
                if removal.gone:
                    deleted.append(copy.location)
                    info(ctx.reporter, f"deleted {record.id} from {copy.where}")
                else:
                    kept[copy.location] = removal.why
    return DeleteResult(plan, tuple(deleted), kept)


@dataclass(frozen=True)
class Removal:
    gone: bool
    why: str = ""  # why the copy stays
    locked: bool = False  # object lock keeps versions of it (the rest deleted): reported, not a failure


def remove_copy(settings: Settings, repo: Repository, record: BackupRecord, reporter: Reporter) -> Removal:
    """Delete one repository's copy, unless a verify or restore is reading it, its folder is not where
    the layout puts it (never deleted on the word of a file), or object lock keeps versions of it."""
    with deleting_backup(settings.repository, record.id) as free:
        if not free:
            warn(reporter, f"kept {record.id} for now: a verify or restore is reading it")
            return Removal(False, "a verify or restore is reading it")
        try:
            repo.delete(record)
        except OutsideRepository as exc:
            warn(reporter, f"did not delete {record.id}: {exc.message}")
            return Removal(False, exc.message)
        except ObjectLocked as exc:
            warn(reporter, f"kept in S3: {exc.message}")
            return Removal(False, exc.message, locked=True)
    return Removal(True)
