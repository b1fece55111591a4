"""Where backups live. Every repository speaks the same small protocol, so the
catalog can merge local folders and (later) S3 buckets into one view."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from backup_tui.engine.core.models import BackupRecord, Verification


class Repository(Protocol):
    """A store of backups. Local today; S3 slots in by implementing the same calls."""

    name: str

    def list(self) -> list[BackupRecord]:
        """Every backup this repository holds, incomplete ones included (status says which)."""
        ...

    def refresh(self, record: BackupRecord) -> BackupRecord:
        """The same backup read afresh."""
        ...

    def local_file(self, record: BackupRecord) -> Path:
        """A readable local file with the stored bytes (a download for remote repositories)."""
        ...

    def delete(self, record: BackupRecord) -> None: ...

    def set_pinned(self, record: BackupRecord, pinned: bool) -> BackupRecord: ...

    def add_verification(self, record: BackupRecord, result: Verification, report: str) -> Path:
        """Append to the backup's verification history and write a readable report; returns its path."""
        ...
