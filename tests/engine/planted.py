"""Backups written by hand as a run of ours commits them, for tests of what the repository's readers make of a
folder around them: no server needed to make one."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from backup_tui.engine.core.models import BackupRecord, utc_iso
from backup_tui.engine.storage.state import this_host

DATA = b"0123456789"


def record_of(moment: datetime, letters: str = "abcd", data: bytes = DATA) -> BackupRecord:
    """The record of a backup of database "app" begun at ``moment``, of this host, its dump ``data``."""
    backup_id = f"app-{moment:%Y%m%dT%H%M%SZ}-{letters}"
    return BackupRecord(
        id=backup_id, database="app", created_at=utc_iso(moment, milliseconds=True),
        finished_at=utc_iso(moment, milliseconds=True), duration_s=1.0, format="custom", compression="zstd",
        raw_bytes=100, stored_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
        file_name=f"{backup_id}.dump.zst", host=this_host())


def on_disk(root: Path, record: BackupRecord, data: bytes = DATA) -> Path:
    """``record``'s folder in the repository at ``root``: the dump, its sidecar, the manifest last. Returns the
    dump's path."""
    folder = root / "backups" / "app" / record.id
    folder.mkdir(parents=True)
    (folder / record.file_name).write_bytes(data)
    (folder / f"{record.file_name}.sha256").write_text(f"{record.sha256}  {record.file_name}\n")
    (folder / "manifest.json").write_text(record.manifest_json())
    return folder / record.file_name
