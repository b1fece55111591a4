"""One merged view of every repository: the list the TUI and headless both show."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import replace

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import BackupToolError, NotFoundError
from backup_tui.engine.core.models import BackupRecord, Verification
from backup_tui.engine.core.progress import Reporter, warn
from backup_tui.engine.core.report import render_report
from backup_tui.engine.storage.local import LocalRepository
from backup_tui.engine.storage.paths import OutsideRepository
from backup_tui.engine.storage.repository import Repository
from backup_tui.engine.storage.s3 import S3Repository


class Catalog:
    """Backups from all repositories, merged by id (a copy in two places is one backup)."""

    def __init__(self, repositories: Sequence[Repository]) -> None:
        self.repositories = list(repositories)
        self.unreachable: dict[str, str] = {}  # a repository that could not be listed -> why (shown, not fatal)

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalog:
        """The local repository, and the bucket when ``[s3]`` (or BACKUP_ENABLE_S3) configures one."""
        repositories: list[Repository] = [LocalRepository(settings.repository)]
        if settings.s3 is not None:
            repositories.append(S3Repository(settings.s3))
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
        copies: dict[str, list[BackupRecord]] = {}
        for repo in self.repositories:
            try:
                found = repo.list()
            except BackupToolError as exc:
                if repo.capabilities.local_paths:
                    raise
                # A bucket out of reach must not hide the local backups, restore's first resort.
                self.unreachable[repo.name] = exc.message
                continue
            self.unreachable.pop(repo.name, None)
            for record in found:
                copies.setdefault(record.id, []).append(record)
        merged = [merge_copies(found) for found in copies.values()]
        return sorted((r for r in merged if (database is None or r.database == database)
                       and (include_incomplete or r.is_valid)),
                      key=lambda r: (r.created_at, r.id), reverse=True)

    def get(self, backup_id: str) -> BackupRecord:
        for record in self.list():
            if record.id == backup_id:
                return record
        raise NotFoundError(f"no backup with id {backup_id!r} (see 'backup-headless list')")

    def repository_of(self, record: BackupRecord) -> Repository:
        """The repository that holds the record's readable copy (local first)."""
        for repo in self.repositories:
            if repo.name in record.locations or (record.status == "legacy" and repo.name == "local"):
                return repo
        raise NotFoundError(f"{record.id}: no repository holds a copy")

    def set_pinned(self, record: BackupRecord, pinned: bool) -> BackupRecord:
        """Pin (or unpin) every copy: each repository's retention reads its own pins."""
        updated = record
        for repo in self.repositories:
            if repo.name in record.locations or (record.status == "legacy" and repo.name == "local"):
                updated = repo.set_pinned(record, pinned)
        return replace(updated, locations=record.locations)

    def holds(self, record: BackupRecord) -> bool:
        """A repository still holds the backup (it was not deleted since it was listed)."""
        try:
            return self.repository_of(record).holds(record)
        except (NotFoundError, OutsideRepository):
            return False

    def record_verification(self, record: BackupRecord, result: Verification, reporter: Reporter) -> None:
        """Into the backup's history with a readable report; a repository we cannot write (a read-only
        disaster-recovery copy) keeps the result on screen only, with a warning, not a failure."""
        try:
            self.repository_of(record).add_verification(record, result, render_report(record, result))
        except OSError as exc:
            warn(reporter, f"the result of checking {record.id} was not recorded: {exc.strerror or exc}")
        except OutsideRepository as exc:
            warn(reporter, f"the result of checking {record.id} was not recorded: {exc.message}")

    def databases(self) -> builtins.list[str]:
        return sorted({r.database for r in self.list()})


_RANK = {"valid": 0, "legacy": 1, "damaged": 2, "incomplete": 3}


def merge_copies(copies: Sequence[BackupRecord]) -> BackupRecord:
    """One backup found in several places: the best copy (a valid one over a damaged one), with every
    location that holds a good copy of the same bytes. Two valid records under one id that describe
    different bytes are no copies of one backup: the id is damaged until an operator looks, so that
    nothing restores, prunes or trusts either on the word of the other."""
    best = min(copies, key=lambda r: _RANK[r.status])
    if len(copies) == 1:
        return best
    good = [r for r in copies if r.is_valid]
    # An old script's dump without a sidecar has no sha256 here, and its uploaded copy one: not a conflict.
    if len({r.sha256 for r in good if r.sha256}) > 1 or len({(r.database, r.created_at) for r in good}) > 1:
        return replace(best, status="damaged", reason=f"{len(good)} different backups claim the id {best.id} "
                                                      f"(in {', '.join(r.path or '?' for r in good)})")
    locations = tuple(dict.fromkeys(loc for r in good or [best] for loc in r.locations))
    return replace(best, locations=locations)
