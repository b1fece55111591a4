"""The local repository: one folder per backup, committed by its manifest.

    <root>/backups/<database>/<id>/<id>.dump.zst          the stored bytes
    <root>/backups/<database>/<id>/<id>.dump.zst.sha256   sha256sum format
    <root>/backups/<database>/<id>/manifest.json          written last, atomically
    <root>/backups/<database>/<id>/verify.jsonl           verification history
    <root>/backups/<database>/<id>/reports/verify-*.txt   readable reports

A folder without a manifest is an incomplete backup: never shown as valid,
cleaned up by the next backup or prune. Backups made by the old shell scripts
(``<root>/daily|weekly|monthly/*.sql.gz``) are listed too, read-only but for
their verification history and pin marker (see legacy.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from backup_tui.engine.core.errors import BackupToolError, ConfigError
from backup_tui.engine.core.models import BackupRecord, Verification, manifest_checksum, utc_iso
from backup_tui.engine.storage import legacy
from backup_tui.engine.storage.files import atomic_write, read_history

MANIFEST = "manifest.json"
HISTORY = "verify.jsonl"
DATA_SUFFIX = ".dump.zst"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe_name(name: str) -> str:
    """A database name made safe for a folder or an id (spaces, slashes ... become '_')."""
    return _SAFE.sub("_", name) or "_"


def sidecar_text(sha256: str, file_name: str) -> str:
    return f"{sha256}  {file_name}\n"


def check_repository(root: Path) -> None:
    """A repository path blocked by a file is a configuration mistake (exit 2), not an empty catalog.

    A path that does not exist yet passes: backup creates it.
    """
    probe = root
    while not probe.exists() and probe != probe.parent:
        if probe.is_symlink():  # an unmounted share's mount point behind a link, say
            raise ConfigError(f"repository {root} cannot be created: {probe} links to {os.readlink(probe)}, "
                              "which does not exist")
        probe = probe.parent
    if probe.is_dir():
        return
    if probe == root:
        raise ConfigError(f"repository {root} is not a directory")
    raise ConfigError(f"repository {root} cannot be created: {probe} is not a directory")


def ensure_repository(root: Path) -> None:
    """Create the repository folder, turning the OS's errors into one line that names the path."""
    check_repository(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a file appeared since the check
        check_repository(root)
        raise
    except PermissionError:
        raise ConfigError(f"repository {root} cannot be created: permission denied") from None


class LocalRepository:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def backups_dir(self) -> Path:
        return self.root / "backups"

    def database_dir(self, database: str) -> Path:
        return self.backups_dir / safe_name(database)

    # -- writing -----------------------------------------------------------

    def new_backup_dir(self, database: str, moment: datetime) -> tuple[str, Path]:
        """Reserve a fresh folder for a backup taken at ``moment``; the id is unique."""
        stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = f"{safe_name(database)}-{stamp}"
        parent = self.database_dir(database)
        parent.mkdir(parents=True, exist_ok=True)
        for n in range(1000):
            backup_id = base if n == 0 else f"{base}-{n}"
            folder = parent / backup_id
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return backup_id, folder
        raise BackupToolError(f"cannot allocate a backup folder under {parent}")

    def commit(self, folder: Path, record: BackupRecord) -> BackupRecord:
        """Write the sidecar, then the manifest, last: from here on the backup is valid."""
        atomic_write(folder / f"{record.file_name}.sha256", sidecar_text(record.sha256, record.file_name))
        atomic_write(folder / MANIFEST, record.manifest_json())
        return replace(record, status="valid", path=str(folder / record.file_name))

    # -- reading -----------------------------------------------------------

    def check_layout(self) -> None:
        """Files where our folders belong would otherwise surface as an OS error deep in a listing."""
        check_repository(self.root)
        if self.backups_dir.exists() and not self.backups_dir.is_dir():
            raise ConfigError(f"repository {self.root}: {self.backups_dir} is not a directory")

    def list(self) -> list[BackupRecord]:
        """Every backup folder, read with one directory scan per database (thousands load in a blink)."""
        records: list[BackupRecord] = []
        self.check_layout()
        for db_dir in _subfolders(str(self.backups_dir)):
            for folder in _subfolders(db_dir.path):
                records.append(self._read_folder(db_dir.name, Path(folder.path)))
        records.extend(legacy.scan(self.root))
        return records

    def _read_folder(self, database: str, folder: Path) -> BackupRecord:
        history = read_history(folder / HISTORY)
        try:
            with open(os.path.join(folder, MANIFEST), "rb") as fh:
                data = json.loads(fh.read())
            record = BackupRecord.from_manifest(data, path=os.path.join(folder, str(data.get("file_name", ""))),
                                                verifications=history)
        except FileNotFoundError:
            return incomplete_record(folder.name, database, folder, history, "manifest missing")
        except (ValueError, TypeError, AttributeError):
            # Listed so that verify can name the damage, never as valid.
            return incomplete_record(folder.name, database, folder, history, "manifest unreadable")
        if data.get("manifest_sha256") != manifest_checksum(data):
            return replace(record, status="damaged", reason="manifest altered: its checksum does not match")
        return record

    def refresh(self, record: BackupRecord) -> BackupRecord:
        """Read one backup afresh from disk (its files may have changed since it was listed)."""
        path = Path(record.path)
        if record.status == "legacy":
            return legacy.read(path, path.parent.name) or record
        return self._read_folder(path.parent.parent.name, path.parent)

    def folder(self, record: BackupRecord) -> Path:
        return Path(record.path).parent

    def local_file(self, record: BackupRecord) -> Path:
        return Path(record.path)

    # -- changing ----------------------------------------------------------

    def delete(self, record: BackupRecord) -> None:
        if record.status == "legacy":
            legacy.delete(Path(record.path))
            return
        shutil.rmtree(self.folder(record), ignore_errors=False)

    def set_pinned(self, record: BackupRecord, pinned: bool) -> BackupRecord:
        """Asking to pin a damaged or incomplete backup is the caller's mistake (exit 2), not a failure."""
        if record.status == "legacy":
            legacy.set_pinned(Path(record.path), pinned)
            return replace(record, pinned=pinned)
        if record.status != "valid":
            raise ConfigError(f"{record.id} is {record.status} ({record.reason}): only complete backups can be "
                              "pinned")
        updated = replace(record, pinned=pinned)
        atomic_write(self.folder(record) / MANIFEST, updated.manifest_json())
        return updated

    def add_verification(self, record: BackupRecord, result: Verification, report: str) -> Path:
        if record.status == "legacy":
            history = Path(record.path + ".verify.jsonl")
            reports = Path(record.path).parent / "reports"
            stem = Path(record.path).name
        else:
            history = self.folder(record) / HISTORY
            reports = self.folder(record) / "reports"
            stem = "verify"
        with open(history, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(result.to_json(), sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        reports.mkdir(exist_ok=True)
        stamp = result.at.replace(":", "").replace("-", "")
        for n in range(1000):  # two verifications within one second keep both reports
            report_path = reports / f"{stem}-{stamp}{f'.{n}' if n else ''}-{result.level}.txt"
            try:
                with open(report_path, "x", encoding="utf-8") as fh:
                    fh.write(report)
                return report_path
            except FileExistsError:
                continue
        raise BackupToolError(f"cannot name a report file in {reports}")


def _subfolders(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return sorted((e for e in entries if e.is_dir()), key=lambda e: e.name)
    except FileNotFoundError:
        return []


ID_STAMP = re.compile(r"-(\d{8}T\d{6}Z)(?:-\d+)?$")


def _started(backup_id: str, folder: Path) -> datetime:
    """When the run began: the id says so to the second (the folder's mtime moves when files in it change)."""
    match = ID_STAMP.search(backup_id)
    if match:
        return datetime.strptime(match[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.fromtimestamp(folder.stat().st_mtime, UTC) if folder.exists() else datetime.now(UTC)


def incomplete_record(
    backup_id: str, database: str, folder: Path, history: tuple[Verification, ...], problem: str
) -> BackupRecord:
    """What we can say about a folder with no usable manifest: its files and their age.

    With a sidecar the dump had finished, so the manifest was lost or damaged afterwards:
    "damaged", kept for the operator. Without one the run died mid-dump: "incomplete".
    """
    files = [p for p in folder.iterdir() if p.is_file()] if folder.exists() else []
    data = next((p for p in files if p.name.endswith(DATA_SUFFIX)), None)
    finished = any(p.name.endswith(".sha256") or p.name == MANIFEST for p in files)
    size = data.stat().st_size if data else 0
    return BackupRecord(
        id=backup_id, database=database, created_at=utc_iso(_started(backup_id, folder)), finished_at="",
        duration_s=0.0,
        format="custom", compression="zstd", raw_bytes=0, stored_bytes=size, sha256="",
        file_name=data.name if data else f"{backup_id}{DATA_SUFFIX}", status="damaged" if finished else "incomplete",
        path=str(folder / (data.name if data else f"{backup_id}{DATA_SUFFIX}")), reason=problem,
        verifications=history,
    )
