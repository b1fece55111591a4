"""Where backups live. Every repository speaks the same small protocol, so the catalog can merge
local folders and (later) S3 buckets into one view, and the operations write and read through it
without knowing which.

Where a change goes: a new kind of store implements ``Repository`` (and a ``BackupWriter``), says
what it can do in ``Capabilities``, and is added to the catalog's list; nothing above storage
changes. The stages that bytes flow through live in ``stream``; what a kind of backup is, in
``core.kinds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from backup_tui.engine.core.models import BackupRecord, Verification
from backup_tui.engine.stream.sinks import Sink
from backup_tui.engine.stream.sources import Source


@dataclass(frozen=True)
class Capabilities:
    rewrite: bool  # a file may be replaced in place (no object lock)
    lock: bool  # the store can hold a lock for us (flock on a local disk)
    object_lock: bool  # what is written stays as written for a retention period
    local_paths: bool  # the stored bytes are files that tools can open without a download


class BackupWriter(Protocol):
    """One backup on its way in: the bytes through ``sink``, then ``commit`` (the manifest, last)."""

    id: str
    file_name: str

    def sink(self) -> Sink: ...

    def commit(self, record: BackupRecord) -> BackupRecord: ...

    def abandon(self) -> None: ...


class Repository(Protocol):
    """A store of backups. Local today; S3 slots in by implementing the same calls."""

    name: str
    capabilities: Capabilities

    def list(self, database: str | None = None) -> list[BackupRecord]:
        """Every backup this repository holds, incomplete ones included (status says which), each with
        this repository's name as its location (a manifest's own word on that is not believed). ``database``:
        reading what the layout puts under its folder is enough (others may come too: the caller filters)."""
        ...

    def refresh(self, record: BackupRecord) -> BackupRecord:
        """The same backup read afresh."""
        ...

    def holds(self, record: BackupRecord) -> bool:
        """The backup's place (folder, object prefix) is still there: it was not deleted since listed."""
        ...

    def open_stored(self, record: BackupRecord) -> Source:
        """The stored bytes, to be read as a stream (ranged reads for remote repositories)."""
        ...

    def read_sidecar(self, record: BackupRecord) -> str | None:
        """The ``sha256sum``-format sidecar's text (capped), None when there is none."""
        ...

    def new_backup(self, database: str, moment: datetime) -> BackupWriter:
        """Reserve an id for a backup of ``database`` taken at ``moment``."""
        ...

    def delete(self, record: BackupRecord) -> None: ...

    def set_pinned(self, record: BackupRecord, pinned: bool) -> BackupRecord:
        """A pin record beside the backup: the manifest is never rewritten."""
        ...

    def add_verification(self, record: BackupRecord, result: Verification, report: str) -> Path:
        """A verification record and a readable report beside the backup; returns the report's path."""
        ...
