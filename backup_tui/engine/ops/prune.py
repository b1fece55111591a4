"""Apply the retention plan: delete what it marks, holding each database's lock.

Each repository has its own retention over its own copies: ``[retention]`` the local disk,
``[retention.s3]`` the bucket. While S3 is configured, the local copy of a backup the bucket does not
hold yet is never deleted (the next backup or upload sends it); versions that object lock keeps are
reported and skipped, which is no failure of the prune.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.core.models import BackupRecord, PruneDecision
from backup_tui.engine.core.progress import info, warn
from backup_tui.engine.core.retention import RetentionConfig, plan_retention
from backup_tui.engine.core.runs import StoppedAfter, stop_signal
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.delete import PINNED_SINCE, DeleteResult, plan_of_copies, remove_planned
from backup_tui.engine.ops.journaled import journaled
from backup_tui.engine.storage.locks import database_lock, is_locked
from backup_tui.engine.storage.s3 import S3Repository
from backup_tui.engine.storage.state import this_host

NOT_IN_S3 = "not in S3 yet: the local copy is kept until the next backup or upload sends it"
CHANGED = "kept: retention read again under the lock keeps it (the repository changed since the plan)"
BAD_IN_S3 = "the copy in S3 failed its last check, or is of other bytes: the local copy is kept"
UNKNOWN_S3 = "S3 could not be listed, so whether it is there is unknown: the local copy is kept"


def plan_prune(ctx: Context, database: str | None = None, *, locked_by_us: bool = False) -> list[PruneDecision]:
    """What retention keeps and lets go, and why, per repository; nothing is touched. ``locked_by_us``: the
    caller holds ``database``'s lock, so no run of ours is writing an incomplete folder."""
    settings, catalog = ctx.settings, ctx.catalog
    bucket = catalog.s3
    if bucket is None:
        return _plan(ctx, catalog.list(database), settings.retention, "local", locked_by_us)
    local = [r for r in catalog.local.list(database) if database is None or r.database == database]
    local_bytes = {r.id: r.sha256 for r in local}
    try:
        remote: list[BackupRecord] | None = [r for r in bucket.list(database)
                                             if database is None or r.database == database]
    except BackupToolError as exc:
        warn(ctx.reporter, f"S3 is not pruned this time: {exc.message}")
        remote = None
    # Whether the bucket's copy holds the backup: of the same bytes, and no known-bad one (its last check failed).
    in_bucket = {r.id: r.trusted and local_bytes.get(r.id) == r.sha256 for r in remote or [] if r.is_valid}
    decisions = [_guard_local(d, in_bucket, remote is not None)
                 for d in _plan(ctx, local, settings.retention, "local", locked_by_us)]
    if remote is not None:
        # A place without its manifest names no host: this host judges it (as "made on : its own prune decides" it
        # was kept for good, every killed upload's bytes), and _guard_upload keeps it while an upload may be going.
        remote = [replace(r, host=this_host()) if r.status == "incomplete" and not r.host else r for r in remote]
        decisions += [_guard_upload(d, ctx, bucket)
                      for d in _plan(ctx, remote, settings.retention_s3, "s3", locked_by_us)]
    return decisions


def _plan(ctx: Context, records: list[BackupRecord], policy: RetentionConfig, location: str,
          locked_by_us: bool = False) -> list[PruneDecision]:
    settings = ctx.settings
    running = (lambda db: False) if locked_by_us else (lambda db: is_locked(settings.repository, db))
    planned = plan_retention(records, policy, now=ctx.now(), in_progress=running, this_host=this_host())
    return [replace(d, location=location) for d in planned]


def _still_going(ctx: Context, database: str, backups: dict[str, list[PruneDecision]]
                 ) -> tuple[dict[str, list[PruneDecision]], dict[tuple[str, str], str]]:
    """Of the copies planned to go, those retention still lets go, read again under the database's lock (held
    by the caller), and why each other one stays. The plan was made without the lock: since then a backup may
    have finished (its folder, incomplete then, is the newest valid backup now), a verify may have failed the
    backup that superseded these, another prune may have taken them. A pin set meanwhile is left to the
    removal, which reads it again under the backup's own lock."""
    fresh = {(d.record.id, d.location): d for d in plan_prune(ctx, database, locked_by_us=True)}
    still = {key for key, d in fresh.items() if not d.keep or d.record.pinned}
    going: dict[str, list[PruneDecision]] = {}
    changed: dict[tuple[str, str], str] = {}
    for backup_id, items in backups.items():
        for d in items:
            key = (backup_id, d.location)
            if key in still:
                going.setdefault(backup_id, []).append(d)
            else:
                now = fresh.get(key)
                changed[key] = f"{CHANGED}: {now.reasons[0] if now else 'gone already'}"
    return going, changed


def _guard_local(decision: PruneDecision, in_bucket: dict[str, bool], listed: bool) -> PruneDecision:
    """A local copy the bucket lacks stays: it is the only copy (the old scripts' ones were never promised there).
    So does one whose copy in the bucket failed its last check: taken, only bytes known bad were left."""
    record = decision.record
    held = in_bucket.get(record.id)
    if decision.keep or record.status != "valid" or held:
        return decision
    why = UNKNOWN_S3 if not listed else NOT_IN_S3 if held is None else BAD_IN_S3
    return replace(decision, keep=True, reasons=(why, *decision.reasons))


def _guard_upload(decision: PruneDecision, ctx: Context, bucket: S3Repository) -> PruneDecision:
    """A place in the bucket without its manifest may be an upload under way on some host: left while it began, or
    its newest object was written, less than ``lock_ttl_seconds`` ago. Its start alone does not do: a streamed
    backup hours long completes its data object moments before its manifest."""
    record = decision.record
    if decision.keep or record.status != "incomplete":
        return decision
    now, fresh = ctx.now(), timedelta(seconds=bucket.config.lock_ttl_seconds)
    if now - record.created > fresh:
        try:
            written = bucket.last_written(record)
        except BackupToolError:
            written = None
        if written is not None and now - written > fresh:
            return decision
    return replace(decision, keep=True, reasons=("incomplete in S3: an upload may still be under way",))


def run_prune(ctx: Context, plan: list[PruneDecision], database: str | None = None) -> list[PruneDecision]:
    """Delete exactly what ``plan`` lets go (``database``: the one it was planned for, for the journal).

    The copies of one backup that go in this run (local, S3, or both) are one delete plan, removed the way
    every delete is (``remove_planned``): one hold of the backup's lock, one ``delete`` entry in the journal.
    Returns the plan as it went: a copy that stayed (object lock, a verify or restore reading it, a folder
    not where the layout puts it) is kept, with why first. A stop (Ctrl+C, SIGTERM) lets the backup under way go
    in full and ends the run between backups, saying how many of the backups it let go went (each is in the run
    log): a bare "stopped by SIGTERM" left the operator to guess, and the next prune found nothing to tell."""
    settings = ctx.settings
    doomed: dict[str, dict[str, list[PruneDecision]]] = {}
    for decision in plan:
        if not decision.keep:
            doomed.setdefault(decision.record.database, {}).setdefault(decision.record.id, []).append(decision)
    stayed: dict[tuple[str, str], str] = {}
    removed: list[str] = []
    with journaled(settings, "prune", database or ""):
        try:
            for db, backups in doomed.items():
                with database_lock(settings.repository, db, "prune"):
                    going, changed = _still_going(ctx, db, backups)
                    stayed.update(changed)
                    for items in going.values():
                        result = _delete(ctx, db, items)
                        removed += [result.plan.record.id] if result.deleted else []
                        stayed.update(_stayed(result))
                        if result.stopped:
                            raise StoppedAfter(result.stopped, _prune_said(removed, doomed, result))
        except KeyboardInterrupt as stop:  # one landing between removals (a listing, a lock): said the same way
            raise StoppedAfter(stop_signal(stop), _prune_said(removed, doomed, None)) from stop
    return [replace(d, keep=True, reasons=(stayed[d.record.id, d.location], *d.reasons))
            if (d.record.id, d.location) in stayed else d for d in plan]


def _prune_said(removed: list[str], doomed: dict[str, dict[str, list[PruneDecision]]],
                stopped: DeleteResult | None) -> str:
    """How far a stopped prune went: "after deleting 1 of 3 backup(s) ..." (and what of the last one stays)."""
    total = sum(len(backups) for backups in doomed.values())
    said = f"after deleting {len(removed)} of {total} backup(s) retention let go (each in the run log)"
    left = stopped.stayed if stopped else []
    if stopped and stopped.deleted and left:
        said += f"; {stopped.plan.record.id}: its copy in {' and '.join(left)} stays"
    return said + ("; the next prune deletes the rest" if len(removed) < total or left else "")


def _stayed(result: DeleteResult) -> dict[tuple[str, str], str]:
    """What stayed of one backup's removal, by (id, location), with why."""
    record_id = result.plan.record.id
    return {(record_id, location): why if location in result.locked else f"kept for now: {why}"
            for location, why in result.kept.items()}


def _delete(ctx: Context, database: str, items: list[PruneDecision]) -> DeleteResult:
    """One backup's copies that retention let go, as one delete plan."""
    record = items[0].record
    with journaled(ctx.settings, "delete", database, judge_after=False) as run:
        run.backup_id = record.id
        result = remove_planned(ctx, plan_of_copies(ctx, [(d.location, d.record) for d in items]), routine=True)
        failed = {k: why for k, why in result.kept.items() if k not in result.locked and why != PINNED_SINCE}
        if failed:  # object lock's policy and a pin set meanwhile are retention working, not a failure
            run.failed(result.exit_code, "; ".join(f"kept in {k}: {why}" for k, why in failed.items()))
    if result.deleted:
        places = " and ".join("S3" if p == "s3" else p for p in result.deleted)
        reasons = list(dict.fromkeys(d.reasons[0] for d in items if d.location in result.deleted))
        info(ctx.reporter, f"deleted {record.id} from {places}: {'; '.join(reasons)}")
    return result
