"""One merged view of every repository: the list the TUI and headless both show."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TypeVar

from backup_tui.engine.config import Settings
from backup_tui.engine.core.copies import merge_copies
from backup_tui.engine.core.errors import BackupToolError, NotFoundError
from backup_tui.engine.core.models import BackupRecord, Verification
from backup_tui.engine.core.progress import Reporter, warn
from backup_tui.engine.core.report import render_report
from backup_tui.engine.storage.local import LocalRepository
from backup_tui.engine.storage.paths import OutsideRepository
from backup_tui.engine.storage.record_cache import RecordCache
from backup_tui.engine.storage.repository import Repository
from backup_tui.engine.storage.s3 import S3Repository

T = TypeVar("T")


class Catalog:
    """Backups from all repositories, merged by id (a copy in two places is one backup)."""

    def __init__(self, repositories: Sequence[Repository]) -> None:
        self.repositories = list(repositories)
        self.unreachable: dict[str, str] = {}  # a repository that could not be listed -> why (shown, not fatal)
        self._unreachable_exit: dict[str, int] = {}  # its error's exit code: a lookup that misses says it

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalog:
        """The local repository, and the bucket when ``[s3]`` (or BACKUP_ENABLE_S3) configures one."""
        repositories: list[Repository] = [LocalRepository(settings.repository)]
        if settings.s3 is not None:
            repositories.append(S3Repository(settings.s3, cache=RecordCache.for_bucket(settings.s3),
                                             spill_dir=settings.repository / "tmp"))
        return cls(repositories)

    @property
    def s3(self) -> S3Repository | None:
        for repo in self.repositories:
            if isinstance(repo, S3Repository):
                return repo
        return None

    @property
    def local(self) -> LocalRepository:
        for repo in self.repositories:
            if isinstance(repo, LocalRepository):
                return repo
        raise NotFoundError("no local repository configured")

    def list(self, database: str | None = None, *, include_incomplete: bool = True) -> list[BackupRecord]:
        """Newest first; the copies of one backup merged into one record (``merge_copies``)."""
        found: list[BackupRecord] = []
        for repo in self.repositories:
            found += self.reach(repo, lambda: repo.list(database)) or []  # noqa: B023 (called at once)
        return merged(found, database, include_incomplete=include_incomplete)

    def reach(self, repo: Repository, read: Callable[[], T]) -> T | None:
        """``read`` of ``repo``, its reach recorded: a bucket out of reach must not hide the local backups,
        restore's first resort, so its error is said in ``unreachable`` (None returned), not raised."""
        try:
            result = read()
        except BackupToolError as exc:
            if repo.capabilities.local_paths:
                raise
            self.unreachable[repo.name] = exc.message
            self._unreachable_exit[repo.name] = exc.exit_code
            return None
        self.unreachable.pop(repo.name, None)
        self._unreachable_exit.pop(repo.name, None)
        return result

    def get(self, backup_id: str) -> BackupRecord:
        for record in self.list():
            if record.id == backup_id:
                return record
        if self.unreachable:  # it may be there: "no backup with id" sent the operator after a typo, not the bucket
            why = "; ".join(f"{name} could not be listed: {why}" for name, why in sorted(self.unreachable.items()))
            missed = BackupToolError(f"{backup_id!r} is not in the repositories that answered ({why})")
            missed.exit_code = max(self._unreachable_exit.values())
            raise missed
        raise NotFoundError(f"no backup with id {backup_id!r} (see 'backup-headless list')")

    def holding(self, record: BackupRecord) -> builtins.list[Repository]:
        """The repositories the record says hold a copy, local first (an old scripts' dump is on the disk)."""
        return [repo for repo in self.repositories
                if repo.name in record.locations or (record.status == "legacy" and repo.name == "local")]

    def repository_of(self, record: BackupRecord) -> Repository:
        """The repository that holds the record's readable copy (local first)."""
        for repo in self.holding(record):
            return repo
        raise NotFoundError(f"{record.id}: no repository holds a copy")

    def set_pinned(self, record: BackupRecord, pinned: bool) -> BackupRecord:
        """Pin (or unpin) every copy still held, each as its own repository lists it now (an old scripts'
        dump on disk and its upload are two records of one id): each repository's retention reads its own
        pins. A copy deleted since ``record`` was listed gets no pin record (one would stand alone where the
        backup was); NotFoundError when no copy is left. A repository that cannot be listed raises: no
        half-pinned backup reported as pinned."""
        held = [(repo, own) for repo in self.holding(record) for own in repo.list(record.database)
                if own.id == record.id]
        if not held:
            raise NotFoundError(f"{record.id}: no longer in the repository (deleted meanwhile?)")
        updated = record
        for repo, own in held:
            updated = repo.set_pinned(own, pinned)
        return replace(updated, locations=tuple(repo.name for repo, _ in held))

    def holds(self, record: BackupRecord) -> bool:
        """A repository still holds the backup (it was not deleted since it was listed)."""
        try:
            return self.repository_of(record).holds(record)
        except (NotFoundError, OutsideRepository):
            return False

    def record_verification(self, record: BackupRecord, result: Verification, reporter: Reporter) -> None:
        """Into the history of the copies it speaks for, with a readable report. A failure goes beside every copy
        the record names: a bucket copy that kept no verdict read "never verified" once prune took the local one,
        and a failed check was forgotten with it. A pass goes beside the copy whose bytes were read only
        (``repository_of``, as verify and restore read it): the bucket's bytes may have changed since they were
        sent, and a pass of the disk's bytes recorded there called a bucket copy that does not restore "verified"
        once the local one was gone. A repository we cannot write (a read-only disaster-recovery copy, a bucket
        that does not answer) keeps no record, with a warning, not a failure."""
        checked, report = result.checked(record), render_report(record, result)
        holders = self.holding(record)
        for repo in holders if not result.ok else holders[:1]:
            try:
                repo.add_verification(record, checked, report)
            except OSError as exc:
                warn(reporter, f"the result of checking {record.id} was not recorded in {repo.name}: "
                               f"{exc.strerror or exc}")
            except BackupToolError as exc:  # outside the repository; the bucket refused or did not answer
                warn(reporter, f"the result of checking {record.id} was not recorded in {repo.name}: {exc.message}")

    def databases(self) -> builtins.list[str]:
        return sorted({r.database for r in self.list()})


def merged(records: Iterable[BackupRecord], database: str | None = None, *,
           include_incomplete: bool = True) -> list[BackupRecord]:
    """Every repository's records as one list, newest first: the copies of a backup merged by id."""
    copies: dict[str, list[BackupRecord]] = {}
    for record in records:
        copies.setdefault(record.id, []).append(record)
    found = (merge_copies(c) for c in copies.values())
    return sorted((r for r in found if (database is None or r.database == database)
                   and (include_incomplete or r.is_valid)), key=lambda r: (r.created_at, r.id), reverse=True)
