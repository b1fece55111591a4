"""Delete a backup: every copy of it, wherever the catalog finds one, as a plan and a run of that plan.

One decision for every front end: the TUI's ``d`` asks with the plan's words, ``backup-headless delete``
prints or asks the same plan, and prune lets go of a backup's copies (local, S3, or both at once) as one
plan run by the same code (``remove_planned``): one lock on the backup, one journal entry. A copy object
lock keeps is said in the plan and reported by the run, not an error: the rest is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from backup_tui.engine.core.copies import merge_copies
from backup_tui.engine.core.errors import (
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_USAGE,
    BackupToolError,
    ConfigError,
    NotFoundError,
)
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.core.progress import info, warn
from backup_tui.engine.core.retention import delete_guards
from backup_tui.engine.core.runs import StoppedAfter
from backup_tui.engine.ops import swap
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.journaled import journaled
from backup_tui.engine.storage.locks import database_lock, deleting_backup, drop_backup_lock
from backup_tui.engine.storage.paths import OutsideRepository
from backup_tui.engine.storage.repository import Repository
from backup_tui.engine.storage.s3 import ObjectLocked, S3Repository

LOCATIONS = ("local", "s3")
READING = "a verify or restore is reading it"
PINNED_SINCE = "pinned after the delete was planned"


@dataclass(frozen=True)
class CopyToDelete:
    """One repository's copy: its own record (its own path), where it is, what object lock keeps of it."""

    location: str
    record: BackupRecord
    where: str
    retained: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"location": self.location, "where": self.where, "retained": list(self.retained)}


@dataclass(frozen=True)
class DeletePlan:
    record: BackupRecord
    copies: tuple[CopyToDelete, ...]
    unreachable: tuple[str, ...] = ()  # repositories not listed now ("name\twhy"): a copy there, if any, stays
    guarded: tuple[str, ...] = ()  # what retention would never let go of (pinned, the newest valid backup)
    refusal: str = ""  # set when ``guarded`` and the caller did not ask to delete anyway

    @property
    def exit_code(self) -> int:
        return EXIT_USAGE if self.refusal else EXIT_OK

    def describe(self) -> list[str]:
        """What the question says: each copy and where, then what will stay."""
        lines = [f"{c.location}: {c.where}" for c in self.copies]
        for copy in self.copies:
            if copy.retained:
                lines.append(f"object lock keeps {len(copy.retained)} object(s) in {copy.location}: "
                             f"{copy.retained[0]}")
        lines += [f"{name} could not be listed ({why}): a copy there stays" for name, why in self._unreachable()]
        return lines

    def _unreachable(self) -> list[tuple[str, str]]:
        return [(name, why) for name, _, why in (u.partition("\t") for u in self.unreachable)]

    def to_json(self) -> dict[str, Any]:
        record = self.record
        return {"id": record.id, "database": record.database, "status": record.status,
                "size_bytes": record.stored_bytes, "pinned": record.pinned,
                "copies": [c.to_json() for c in self.copies],
                "unreachable": [{"repository": n, "why": w} for n, w in self._unreachable()],
                "guarded": list(self.guarded), "refusal": self.refusal or None, "exit_code": self.exit_code}


@dataclass(frozen=True)
class DeleteResult:
    plan: DeletePlan
    deleted: tuple[str, ...] = ()
    kept: dict[str, str] = field(default_factory=dict)  # location -> why it stayed
    locked: tuple[str, ...] = ()  # the kept locations object lock holds: the bucket's policy, not a failure
    busy: bool = False  # a verify or restore was reading the backup: nothing was deleted, try again later
    stopped: int = 0  # the signal (Ctrl+C, SIGTERM) held through the removal: the caller stops, saying what went

    @property
    def stayed(self) -> list[str]:
        """The planned copies' locations that were not deleted."""
        return [c.location for c in self.plan.copies if c.location not in self.deleted]

    def removal_said(self) -> str:
        """What went, for a stop's one line: "after deleting ID from local; its copy in s3 stays" or so."""
        backup_id = self.plan.record.id
        left = self.stayed
        stays = f"its copy in {' and '.join(left)} stays"
        if not self.deleted:
            return f"before deleting {backup_id}: {stays}"
        return f"after deleting {backup_id} from {' and '.join(self.deleted)}" + (f"; {stays}" if left else "")

    @property
    def exit_code(self) -> int:
        """0 when every copy went or object lock keeps what stayed (said, as prune says it); 3 while a reader
        holds the backup (another run's lock, as for a database); 1 for a copy that stayed for another reason."""
        if self.busy:
            return EXIT_LOCKED
        return EXIT_FAILED if set(self.kept) - set(self.locked) else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {**self.plan.to_json(), "deleted": list(self.deleted), "kept": dict(self.kept),
                "exit_code": self.exit_code}


def plan_delete(ctx: Context, record: BackupRecord, *, location: str = "all", force: bool = False) -> DeletePlan:
    """Every copy of ``record`` the repositories hold now (only ``location``'s unless "all"), each as that
    repository lists it. A copy retention would keep (pinned, or the newest valid backup of its database
    there) is ``guarded``: the plan refuses unless ``force`` (the TUI's question says it and the person
    chooses; the CLI wants --force)."""
    copies: list[CopyToDelete] = []
    unreachable: list[str] = []
    guarded: list[str] = []
    if location != "all" and location not in LOCATIONS:
        raise ConfigError(f"unknown location {location!r} (local, s3 or all)")
    repositories = [r for r in ctx.catalog.repositories if location in ("all", r.name)]
    for repo in repositories:
        listed = ctx.catalog.reach(repo, partial(repo.guard_records, record, ctx.now())
                                   if isinstance(repo, S3Repository) else repo.list)
        if listed is None:
            unreachable.append(f"{repo.name}\t{ctx.catalog.unreachable[repo.name]}")
            continue
        places = [r for r in listed if r.id == record.id]  # a bucket's listing may hold the id at two places
        if not places:
            continue
        own = merge_copies(places)
        retained = repo.retained(own, ctx.now()) if isinstance(repo, S3Repository) else ()
        copies.append(CopyToDelete(repo.name, own, _where(repo, own), retained))
        guarded += delete_guards(own, listed, ctx.now(), repo.name)
    if not copies:
        raise NotFoundError(_nowhere(record, location, [r.name for r in repositories], unreachable))
    guarded = list(dict.fromkeys(guarded))
    refusal = "" if force or not guarded else f"{record.id} is {' and '.join(guarded)}: retention always keeps it"
    return DeletePlan(record, tuple(copies), tuple(unreachable), tuple(guarded), refusal)


def _nowhere(record: BackupRecord, location: str, looked: list[str], unreachable: list[str]) -> str:
    if location == "all" or unreachable:
        return f"{record.id}: no repository holds a copy (deleted already?)" + "".join(
            f"; {u.replace(chr(9), ' could not be listed: ')}" for u in unreachable)
    if location not in looked:
        return f"{record.id}: no {location} repository is configured (its copies: {', '.join(record.locations)})"
    return f"{record.id} has no copy in {location} (its copies: {', '.join(record.locations) or 'none'})"


def _where(repo: Repository, record: BackupRecord) -> str:
    if isinstance(repo, S3Repository):
        return repo.url(repo.folder(record))
    return record.path


def run_delete(ctx: Context, plan: DeletePlan) -> DeleteResult:
    """Remove each planned copy under the database's lock, journaled as one ``delete`` run; a copy that
    stays says why. A plan that refuses is not run."""
    if plan.refusal:
        raise ConfigError(plan.refusal)
    record = plan.record
    with journaled(ctx.settings, "delete", record.database) as run:
        run.backup_id = record.id
        with database_lock(ctx.settings.repository, record.database, "delete"):
            result = remove_planned(ctx, plan)
        for copy in plan.copies:
            if copy.location in result.deleted:
                info(ctx.reporter, f"deleted {record.id} from {copy.where}")
        if result.stopped:
            raise StoppedAfter(result.stopped, result.removal_said())
        if result.exit_code != EXIT_OK:
            run.failed(result.exit_code, "; ".join(f"kept in {k}: {why}" for k, why in result.kept.items()))
    return result


def remove_planned(ctx: Context, plan: DeletePlan, *, routine: bool = False) -> DeleteResult:
    """Delete the plan's copies, the caller holding the database's lock: one hold of the backup's own lock for
    them all, so no verify or restore starts reading between the copies. Kept, with why: every copy while a
    reader holds the backup, a folder not where the layout puts it (never deleted on the word of a file),
    the versions object lock keeps, a copy pinned since the plan read it or whose pins cannot be read again
    (``pins.set_pinned`` writes under the same lock, so none is pinned between this check and the removal).
    The backup's lock file goes with the last copy in any repository. What object lock keeps is logged, not a
    warning: a delete's caller says it from the result (the CLI's ``warning: kept in s3``; a warning here too
    said it twice on stderr once an unwatched run's warnings reached it), and a prune (``routine``) meets the
    bucket's policy at work every night until the versions' date; there a refusal object lock does not explain
    (permissions) still warns. A stop (Ctrl+C, SIGTERM) is held while a copy is removed and taken between copies
    (``stopped``): cut mid-removal, a folder or a bucket place was left half gone, and the run said a bare "stopped
    by SIGTERM" whatever it had removed."""
    record = plan.record
    deleted: list[str] = []
    kept: dict[str, str] = {}
    locked: list[str] = []
    with deleting_backup(ctx.settings.repository, record.id) as free:
        if not free:
            warn(ctx.reporter, f"kept {record.id} for now: {READING}")
            return DeleteResult(plan, kept={c.location: READING for c in plan.copies}, busy=True)
        with swap.HeldSignals() as held:
            stopped = _remove_copies(ctx, plan, held, deleted, kept, locked, routine)
            if not kept and not _copy_left(ctx, record, deleted):
                drop_backup_lock(ctx.settings.repository, record.id)  # no copy left anywhere to protect
            stopped = stopped or held.take()
    return DeleteResult(plan, tuple(deleted), kept, tuple(locked), stopped=stopped)


def _remove_copies(ctx: Context, plan: DeletePlan, held: swap.HeldSignals, deleted: list[str], kept: dict[str, str],
                   locked: list[str], routine: bool) -> int:
    """Remove the plan's copies one by one, filling ``deleted``, ``kept`` and ``locked``; the signal that stopped
    them between two copies (0: none did)."""
    record = plan.record
    for copy in plan.copies:
        if held.signum:
            return held.take()
        repo = next((r for r in ctx.catalog.repositories if r.name == copy.location), None)
        if repo is None:
            kept[copy.location] = f"no repository {copy.location!r} is configured"
            continue
        unpinned = _still_unpinned(repo, copy.record)
        if unpinned:
            warn(ctx.reporter, f"kept {record.id} in {copy.location}: {unpinned}")
            kept[copy.location] = unpinned
            continue
        try:
            repo.delete(copy.record)
        except OutsideRepository as exc:
            warn(ctx.reporter, f"did not delete {record.id}: {exc.message}")
            kept[copy.location] = exc.message
            continue
        except ObjectLocked as exc:
            expected = not routine or (isinstance(repo, S3Repository)
                                       and _lock_holds(repo, copy.record, ctx.now()))
            (info if expected else warn)(ctx.reporter, f"kept in S3: {exc.message}")
            kept[copy.location] = exc.message
            locked.append(copy.location)
            continue
        deleted.append(copy.location)
    return 0


def _lock_holds(repo: S3Repository, record: BackupRecord, now: datetime) -> bool:
    """Object lock keeps some of the copy's versions past ``now`` (what a refused delete is expected to leave)."""
    try:
        return bool(repo.retained(record, now))
    except BackupToolError:
        return False


def _copy_left(ctx: Context, record: BackupRecord, deleted: Sequence[str]) -> bool:
    """Some repository this removal did not touch may still hold the backup (a prune's record names only its
    own repository): its lock file stays, so a reader queued on it still holds off the next removal."""
    catalog = ctx.catalog
    if catalog.s3 is not None and "s3" not in deleted and catalog.s3.holds(record):
        return True
    return "local" not in deleted and (record.status == "legacy" or "local" in record.locations
                                       or catalog.local.place_of(record).exists())


def _still_unpinned(repo: Repository, planned: BackupRecord) -> str:
    """Why the copy must stay, read again now ("" when it may go): pinned since the plan was made (someone
    pinned it while the question was open), or its pins could not be read again (kept: data first). A
    folder not where the layout puts it is left to the removal, which refuses it in its own words."""
    if planned.pinned:
        return ""  # pinned when planned: the person chose to delete it anyway
    try:
        return PINNED_SINCE if repo.refresh(planned).pinned else ""
    except OutsideRepository:
        return ""
    except (BackupToolError, OSError) as exc:
        if not repo.holds(planned):
            return ""  # gone meanwhile (another host, a lifecycle rule): nothing to keep
        return f"its pins could not be read again: {getattr(exc, 'message', None) or exc}"


def plan_of_copies(ctx: Context, copies: Sequence[tuple[str, BackupRecord]]) -> DeletePlan:
    """A plan for copies already chosen (prune's: each repository's retention let its copy go): no listing
    again, no object-lock lookup (the run says what the store keeps)."""
    repos = {r.name: r for r in ctx.catalog.repositories}
    planned = tuple(CopyToDelete(name, copy, _where(repos[name], copy) if name in repos else name)
                    for name, copy in copies)
    return DeletePlan(copies[0][1], planned)
