"""One merged view of every repository: the list the TUI and headless both show."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import replace

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import NotFoundError
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.storage.local import LocalRepository
from backup_tui.engine.storage.repository import Repository


class Catalog:
    """Backups from all repositories, merged by id (a copy in two places is one backup)."""

    def __init__(self, repositories: Sequence[Repository]) -> None:
        self.repositories = list(repositories)

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalog:
        return cls([LocalRepository(settings.repository)])

    @property
    def local(self) -> LocalRepository:
        for repo in self.repositories:
            if isinstance(repo, LocalRepository):
                return repo
        raise NotFoundError("no local repository configured")

    def list(self, database: str | None = None, *, include_incomplete: bool = True) -> list[BackupRecord]:
        """Newest first."""
        merged: dict[str, BackupRecord] = {}
        for repo in self.repositories:
            for record in repo.list():
                if database is not None and record.database != database:
                    continue
                if not include_incomplete and not record.is_valid:
                    continue
                seen = merged.get(record.id)
                if seen is None:
                    merged[record.id] = record
                else:
                    locations = tuple(dict.fromkeys(seen.locations + record.locations))
                    merged[record.id] = replace(seen, locations=locations)
        return sorted(merged.values(), key=lambda r: (r.created_at, r.id), reverse=True)

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

    def databases(self) -> builtins.list[str]:
        return sorted({r.database for r in self.list()})
