"""A fixed catalog and canned engine answers: deterministic snapshots and screenshots.

Used by the snapshot tests and by scripts/make_screenshots.py, so the README's
pictures are the same app state the tests pin down.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Generator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core.errors import Cancelled
from backup_tui.engine.core.estimate import RESTORE, SAFETY_BACKUP, EstimatePart
from backup_tui.engine.core.models import (
    BackupRecord,
    PlanStep,
    RestorePlan,
    RestoreResult,
    Verification,
    VerifyLevel,
    sessions_said,
    utc_iso,
)
from backup_tui.engine.core.progress import BytesProgress, CancelToken, LogLine, Reporter, StepFinished, StepStarted
from backup_tui.engine.core.retention import delete_guards
from backup_tui.engine.ops.delete import CopyToDelete, DeletePlan, DeleteResult
from backup_tui.engine.ops.kept import KeptCopy, Rollback
from backup_tui.engine.postgres.psql_line import psql_command
from backup_tui.tui.app import BackupApp

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
PAGILA_TABLES = {
    "public.actor": 200, "public.address": 603, "public.category": 16, "public.city": 600,
    "public.country": 109, "public.customer": 599, "public.film": 1000, "public.film_actor": 5462,
    "public.film_category": 1000, "public.inventory": 4581, "public.language": 6,
    "public.payment_p2022_01": 723, "public.payment_p2022_02": 2401, "public.rental": 16044,
    "public.staff": 2, "public.store": 2,
}


def fixed_clock() -> datetime:
    return NOW


def _record(database: str, moment: datetime, stored: int, *, took: float, tables: dict[str, int],
            verifications: tuple[Verification, ...] = (), pinned: bool = False) -> BackupRecord:
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    backup_id = f"{database}-{stamp}"
    return BackupRecord(
        id=backup_id, database=database, created_at=utc_iso(moment),
        finished_at=utc_iso(moment + timedelta(seconds=took)), duration_s=took, format="custom",
        compression="zstd", compression_level=3, raw_bytes=stored * 4, stored_bytes=stored,
        sha256="9f" * 32,
        file_name=f"{backup_id}.dump.zst", server_version="15.18",
        tool_versions={"pg_dump": "15.18", "backup-tui": "0.1.0"}, row_counts=dict(tables),
        database_info={"encoding": "UTF8"}, pinned=pinned, reason="scheduled",
        path=f"/var/backups/backup-tui/backups/{database}/{backup_id}/{backup_id}.dump.zst",
        verifications=verifications,
    )


def _ok(moment: datetime, level: VerifyLevel = "quick") -> Verification:
    return Verification(at=utc_iso(moment), level=level, ok=True, checks=("sha256 matches",),
                        duration_s=0.4 if level == "quick" else 3.2)


def fixed_records() -> list[BackupRecord]:
    """30 daily pagila backups (one size spike), and a stale inventory with a damaged backup."""
    records = []
    today = NOW.replace(hour=2, minute=0)
    for ago in range(29, -1, -1):
        moment = today - timedelta(days=ago)
        day = 30 - ago
        stored = 1_900_000 + day * 21_000 + (2_600_000 if ago == 12 else 0)
        tables = {**PAGILA_TABLES, "public.rental": PAGILA_TABLES["public.rental"] + day * 40}
        checks = (_ok(moment + timedelta(minutes=20), "full" if ago == 0 else "quick"),) if ago % 3 == 0 else ()
        records.append(_record("pagila", moment, stored, took=1.4 + day * 0.01, tables=tables,
                               verifications=checks, pinned=ago == 27))
    bad = Verification(at=utc_iso(today - timedelta(hours=2)), level="quick", ok=False,
                       problems=("sha256 of the stored file does not match the manifest (bit flip?)",),
                       duration_s=0.1)
    for ago in (9, 7, 5, 3):
        moment = today - timedelta(days=ago, hours=-1)
        records.append(_record("inventory", moment, 61_000 + ago * 100, took=0.3, tables={"public.items": 5000},
                               verifications=(bad,) if ago == 9 else ()))
    return sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)


FAILED_ID = "inventory-20250305T030000Z"  # the fixed catalog's backup whose only verification failed

FIXED_SETTINGS = Settings(
    repository=Path("/var/backups/backup-tui"),
    databases=(DatabaseConfig(name="pagila", host="db1.example.net"),
               DatabaseConfig(name="inventory", host="db1.example.net")),
)


class FixedServices:
    """Canned engine: the fixed catalog, plans and results, events sent like the real engine sends them."""

    def __init__(self, records: list[BackupRecord] | None = None, *, hold_restore: bool = False,
                 hold_setting_out: bool = False) -> None:
        self.settings = FIXED_SETTINGS
        self.clock = fixed_clock
        self.unreachable: dict[str, str] = {}
        self.records = list(records if records is not None else fixed_records())
        self.hold_restore = hold_restore
        self.release = threading.Event()
        self.hold_setting_out = hold_setting_out  # the work database's creation waits for set_out
        self.set_out = threading.Event()
        self.calls: list[str] = []
        self.plans: list[tuple[str, str | None, bool, bool]] = []  # what plan_restore was asked, in order
        self.settled: list[str] = []  # what repair_swaps says it did at the app's start
        self.kept: dict[str, list[KeptCopy]] = {}  # none: the snapshots show no kept copy

    def list_backups(self) -> list[BackupRecord]:
        return list(self.records)

    def catalog_in_steps(self) -> Generator[tuple[list[BackupRecord], bool]]:
        yield self.list_backups(), True

    def read_record(self, record: BackupRecord) -> BackupRecord:
        return record

    def is_busy(self, database: str) -> bool:
        return False

    def backup(self, db: DatabaseConfig, reporter: Reporter, cancel: CancelToken) -> BackupRecord:
        self.calls.append(f"backup {db.database}")
        reporter(StepStarted("dump"))
        reporter(StepFinished("dump"))
        record = _record(db.database, NOW, 2_600_000, took=1.7, tables=PAGILA_TABLES)
        taken, n = {r.id for r in self.records}, 0
        while (unique := f"{record.id}-{n}" if n else record.id) in taken:  # ids are unique, as the repository's
            n += 1
        record = replace(record, id=unique)
        self.records.insert(0, record)
        return record

    def verify(self, record: BackupRecord, level: VerifyLevel, reporter: Reporter,
               cancel: CancelToken) -> Verification:
        self.calls.append(f"verify {record.id} {level}")
        return _ok(NOW, level)

    def upload(self, record: BackupRecord, reporter: Reporter, cancel: CancelToken) -> BackupRecord:
        self.calls.append(f"upload {record.id}")
        return dataclasses.replace(record, locations=(*record.locations, "s3"))

    def plan_restore(self, record: BackupRecord, target_db: str | None, replace: bool,
                     no_owner: bool = False) -> RestorePlan:
        self.plans.append((record.id, target_db, replace, no_owner))
        return dataclasses.replace(fixed_plan(record, target_db, replace), no_owner=no_owner)

    def restore(self, record: BackupRecord, plan: RestorePlan, reporter: Reporter,
                cancel: CancelToken) -> RestoreResult:
        replace = plan.mode == "replace"
        reporter(StepStarted("create", plan.work_db))
        if self.hold_setting_out:
            self.set_out.wait(60)
        reporter(StepFinished("create"))
        reporter(StepStarted("restore", f"{record.id} -> {plan.work_db}"))
        reporter(LogLine("info", f"decoding {record.file_name}"))
        reporter(BytesProgress("restore", record.stored_bytes * 2 // 5, record.stored_bytes))
        if self.hold_restore:
            while not cancel.cancelled and not self.release.wait(0.25):
                pass
            if cancel.cancelled:
                raise Cancelled(f"restore cancelled: dropped {plan.work_db!r}")
        reporter(StepFinished("restore"))
        reporter(StepStarted("verify", "exact row counts"))
        reporter(StepFinished("verify", detail=f"{len(record.row_counts)} tables match"))
        counts: dict[str, list[int | None]] = {name: [n, n] for name, n in record.row_counts.items()}
        notes = (f"previous database kept as {plan.aside_db!r}",) if plan.aside_db else ()
        return RestoreResult(plan=plan, row_counts=counts, duration_s=4.2,
                             safety_backup_id=f"{record.database}-20250314T093000Z" if replace else None, notes=notes,
                             connect=psql_command(self.settings.database(record.database), plan.target_db, {}))

    def set_pinned(self, record: BackupRecord, pinned: bool) -> BackupRecord:
        updated = replace(record, pinned=pinned)
        self.records = [updated if r.id == record.id else r for r in self.records]
        return updated

    def plan_delete(self, record: BackupRecord) -> DeletePlan:
        guarded = [g for where in record.locations for g in delete_guards(record, self.records, self.clock(), where)]
        return DeletePlan(record, tuple(CopyToDelete(where, record, f"{where}:{record.path}")
                                        for where in record.locations), guarded=tuple(dict.fromkeys(guarded)))

    def delete(self, plan: DeletePlan) -> DeleteResult:
        self.records = [r for r in self.records if r.id != plan.record.id]
        return DeleteResult(plan, deleted=tuple(c.location for c in plan.copies))

    def repair_swaps(self, reporter: Reporter) -> list[str]:
        return list(self.settled)

    def kept_copies(self) -> dict[str, list[KeptCopy]]:
        return {database: list(copies) for database, copies in self.kept.items()}

    def drop_kept(self, database: str, name: str) -> None:
        self.calls.append(f"drop kept {name}")
        self.kept[database] = [k for k in self.kept.get(database, []) if k.name != name]

    def rollback(self, database: str, name: str, reporter: Reporter) -> Rollback:
        self.calls.append(f"rollback {database} {name}")
        return Rollback(database, name, f"{database}__pre_rollback_20250314093000")


SESSIONS = ("app@10.0.4.7 'orders-api' x2", "alice@local 'psql'")


def fixed_plan(record: BackupRecord, target_db: str | None, replace: bool) -> RestorePlan:
    if replace:
        target, work, aside = record.database, f"{record.database}__restore_20250314093000", \
            f"{record.database}__pre_restore_20250314093000"
        steps: tuple[PlanStep, ...] = (
            PlanStep("backup", f"safety backup of the current {target!r} into the repository"),
            PlanStep("create", f"create database {work!r}"),
            PlanStep("restore", f"restore {record.id} (2.5 MB stored, 10.1 MB raw) into {work!r}"),
            PlanStep("verify", "compare exact row counts with the manifest"),
            PlanStep("terminate", f"block new connections to {target!r} and terminate its sessions, now "
                                  f"{sessions_said(3, SESSIONS)}"),
            PlanStep("rename", f"rename {target!r} to {aside!r} (kept for rollback)"),
            PlanStep("rename", f"rename {work!r} to {target!r}"),
        )
        rollback = (f"before the swap: drop {work!r}; {target!r} is untouched. After it: the previous database "
                    f"stays as {aside!r}; to roll back, rename it back")
        return RestorePlan(record.id, "replace", target, work, aside, True, 3, 15_200_000, 48_300_000_000, 6.5,
                           steps, rollback, sessions=SESSIONS,
                           estimate_parts=(EstimatePart(SAFETY_BACKUP, 4.0), EstimatePart(RESTORE, 2.5)))
    target = target_db or f"{record.database}_restored"
    steps = (
        PlanStep("create", f"create database {target!r}"),
        PlanStep("restore", f"restore {record.id} (2.5 MB stored, 10.1 MB raw) into {target!r}"),
        PlanStep("verify", "compare exact row counts with the manifest"),
    )
    return RestorePlan(record.id, "new", target, target, None, False, 0, 15_200_000, 48_300_000_000, 6.5, steps,
                       f"drop database {target!r}")


def fixed_app(services: FixedServices | None = None) -> BackupApp:
    """The app on the fixed catalog, UTC times, no background timer: the same picture every run."""
    app = BackupApp(FIXED_SETTINGS, clock=fixed_clock, services=services or FixedServices(), tz=UTC,
                    refresh_seconds=0, subtitle="/var/backups/backup-tui")
    app.animation_level = "none"  # the tab underline re-animates on every job tick: pilots would wait on it
    return app
