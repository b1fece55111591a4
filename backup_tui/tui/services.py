"""The one door from the TUI to the engine.

Screens never call the engine directly: they call a ``Services`` object from a
worker thread. The real one wraps the engine; tests and screenshots pass one
with a fixed catalog and canned answers, so snapshots are deterministic.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Protocol

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core.clock import Clock, system_clock
from backup_tui.engine.core.errors import BackupToolError, LockHeldError
from backup_tui.engine.core.models import BackupRecord, RestorePlan, RestoreResult, Verification, VerifyLevel
from backup_tui.engine.core.progress import CancelToken, Reporter, null_reporter
from backup_tui.engine.ops import pins, swap
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.delete import DeletePlan, DeleteResult, plan_delete, run_delete
from backup_tui.engine.ops.kept import KeptCopy, Rollback, drop_kept, list_kept, rollback
from backup_tui.engine.ops.restore import plan_restore, run_restore
from backup_tui.engine.ops.upload import run_upload
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.storage.locks import is_locked
from backup_tui.engine.storage.progressive import list_in_steps, read_now


class Services(Protocol):
    """Everything the app asks of the outside world. Called from worker threads only."""

    settings: Settings
    clock: Clock
    unreachable: dict[str, str]  # a repository the last catalog_in_steps could not list -> why

    def list_backups(self) -> list[BackupRecord]: ...

    def catalog_in_steps(self) -> Generator[tuple[list[BackupRecord], bool]]:
        """The catalog at once, a bucket's copies ``unread`` until their manifests are read, then again as they
        are read; True with the complete one. Closing the iterator stops the reading."""
        ...

    def read_record(self, record: BackupRecord) -> BackupRecord:
        """An ``unread`` backup read now, ahead of the rest: the operator acts on it."""
        ...

    def is_busy(self, database: str) -> bool: ...

    def backup(self, db: DatabaseConfig, reporter: Reporter, cancel: CancelToken) -> BackupRecord: ...

    def verify(self, record: BackupRecord, level: VerifyLevel, reporter: Reporter,
               cancel: CancelToken) -> Verification: ...

    def plan_restore(self, record: BackupRecord, target_db: str | None, replace: bool,
                     no_owner: bool = False) -> RestorePlan: ...

    def restore(self, record: BackupRecord, plan: RestorePlan, reporter: Reporter,
                cancel: CancelToken) -> RestoreResult:
        """Carry out exactly the plan the operator saw and confirmed."""
        ...

    def set_pinned(self, record: BackupRecord, pinned: bool) -> BackupRecord: ...

    def upload(self, record: BackupRecord, reporter: Reporter, cancel: CancelToken) -> BackupRecord:
        """Send the backup's local copy to the S3 repository; its record as the bucket holds it."""
        ...

    def plan_delete(self, record: BackupRecord) -> DeletePlan:
        """Every copy the delete will remove, where, and what object lock keeps."""
        ...

    def delete(self, plan: DeletePlan) -> DeleteResult: ...

    def repair_swaps(self, reporter: Reporter) -> list[str]:
        """Settle the swap a killed replace or rollback left, for every configured database; what was done.
        Cheap when nothing is recorded (one stat per database)."""
        ...

    def kept_copies(self) -> dict[str, list[KeptCopy]]:
        """Per configured database, the copies a replace or rollback kept aside (newest first)."""
        ...

    def drop_kept(self, database: str, name: str) -> None: ...

    def rollback(self, database: str, name: str, reporter: Reporter) -> Rollback:
        """Swap the kept copy ``name`` back in under ``database``'s name (sessions are terminated)."""
        ...


class EngineServices:
    """The real thing: the same engine calls backup-headless makes."""

    def __init__(self, settings: Settings, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        self.unreachable: dict[str, str] = {}

    def _context(self, reporter: Reporter = null_reporter, cancel: CancelToken | None = None) -> Context:
        """One per call: each job gets its own reporter, cancel token and catalog."""
        return Context(self.settings, reporter, cancel or CancelToken(), self.clock)

    def list_backups(self) -> list[BackupRecord]:
        return self._context().catalog.list()

    def catalog_in_steps(self) -> Generator[tuple[list[BackupRecord], bool]]:
        catalog = self._context().catalog
        steps = list_in_steps(catalog)
        self.unreachable = dict(catalog.unreachable)
        yield steps.records, steps.unread == 0
        filling = steps.fill()
        try:
            for records in filling:
                yield records, steps.unread == 0
        finally:
            filling.close()

    def read_record(self, record: BackupRecord) -> BackupRecord:
        return read_now(self._context().catalog, record)

    def is_busy(self, database: str) -> bool:
        return is_locked(self.settings.repository, database)

    def backup(self, db: DatabaseConfig, reporter: Reporter, cancel: CancelToken) -> BackupRecord:
        return run_backup(self._context(reporter, cancel), db, reason="manual")

    def verify(self, record: BackupRecord, level: VerifyLevel, reporter: Reporter,
               cancel: CancelToken) -> Verification:
        return verify_backup(self._context(reporter, cancel), record, level)

    def plan_restore(self, record: BackupRecord, target_db: str | None, replace: bool,
                     no_owner: bool = False) -> RestorePlan:
        return plan_restore(self._context(), record, target_db=None if replace else target_db,
                            replace_original=replace, no_owner=no_owner)

    def restore(self, record: BackupRecord, plan: RestorePlan, reporter: Reporter,
                cancel: CancelToken) -> RestoreResult:
        return run_restore(self._context(reporter, cancel), plan, confirmed=True)

    def upload(self, record: BackupRecord, reporter: Reporter, cancel: CancelToken) -> BackupRecord:
        return run_upload(self._context(reporter, cancel), record)

    def set_pinned(self, record: BackupRecord, pinned: bool) -> BackupRecord:
        return pins.set_pinned(self._context(), record, pinned)

    def plan_delete(self, record: BackupRecord) -> DeletePlan:
        # The question names what retention would keep (pinned, the newest valid backup): the person chooses.
        return plan_delete(self._context(), record, force=True)

    def delete(self, plan: DeletePlan) -> DeleteResult:
        return run_delete(self._context(), plan)

    def repair_swaps(self, reporter: Reporter) -> list[str]:
        done = []
        for db in self.settings.databases:
            if not swap.pending(self.settings, db, db.database):
                continue
            try:
                settled = swap.repair(self.settings, db, db.database, reporter)
            except LockHeldError:
                continue  # another run holds it, and heals it itself
            except swap.SwapLeft:
                continue  # for a person to look at: the alerts say so (swap_unreadable, swap_left) until then
            if settled:
                done.append(settled)
        return done

    def kept_copies(self) -> dict[str, list[KeptCopy]]:
        found: dict[str, list[KeptCopy]] = {}
        for db in self.settings.databases:
            try:
                found[db.database] = list_kept(self.settings, db, db.database)
            except BackupToolError:
                continue  # the server is out of reach: the card says nothing rather than something wrong
        return found

    def drop_kept(self, database: str, name: str) -> None:
        drop_kept(self._context(), self.settings.database(database), database, name)

    def rollback(self, database: str, name: str, reporter: Reporter) -> Rollback:
        return rollback(self._context(reporter), self.settings.database(database), database, to=name)
