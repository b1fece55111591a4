"""The local repository: one folder per backup, committed by its manifest.

    <root>/backups/<key>/<id>/<id>.dump.zst            the stored bytes
    <root>/backups/<key>/<id>/<id>.dump.zst.sha256     sha256sum format
    <root>/backups/<key>/<id>/manifest.json            written once, last, atomically
    <root>/backups/<key>/<id>/pins/*.json              pin and unpin records, written once each; the newest wins
    <root>/backups/<key>/<id>/verifications/*.json     one record per verification, written once
    <root>/backups/<key>/<id>/reports/verify-*.txt     readable reports

``<key>`` is ``core.names.folder_key(database)``. Every path comes from this layout (never from a
field of a file), is checked to stay inside the repository without passing a link
(``storage.paths``), and every record read is validated (``core.manifest``): a folder whose files do
not validate is listed as damaged with the reason. A folder without a manifest is an incomplete
backup: never shown as valid, cleaned up by the next backup or prune.

Repositories written before records were split out keep working: a manifest's own ``pinned`` is
the pin until a pin record says otherwise, and ``verify.jsonl`` is read with the new records;
neither file is rewritten. Backups made by the old shell scripts
(``<root>/daily|weekly|monthly/*.sql.gz``) are listed too (see legacy.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from backup_tui.engine.core.errors import BackupToolError, ConfigError
from backup_tui.engine.core.manifest import InvalidRecord, parse_manifest, parse_pin, parse_verification
from backup_tui.engine.core.models import (
    BackupRecord,
    Verification,
    history_order,
    own_history,
    parse_utc,
    utc_iso,
)
from backup_tui.engine.core.names import folder_key, id_prefix, is_backup_id
from backup_tui.engine.core.policy import pin_not_taken, pin_refusal
from backup_tui.engine.core.untrusted_json import load_json
from backup_tui.engine.storage import legacy
from backup_tui.engine.storage.files import (
    RECORD_LIMIT,
    TEMP_NAME,
    atomic_write,
    fsync_dir,
    read_capped,
    read_history,
    write_record,
)
from backup_tui.engine.storage.paths import OutsideRepository, inside
from backup_tui.engine.storage.repository import Capabilities
from backup_tui.engine.storage.state import this_host
from backup_tui.engine.stream.sinks import FileSink
from backup_tui.engine.stream.sources import FileSource

MANIFEST = "manifest.json"
# A delete renames the backup's folder to this prefix + its id before removing its files: killed mid-way (the
# dump unlinked first, its manifest left), the folder read as a damaged backup that retention kept for ever.
DELETING = ".deleting-"
# A manifest whose dump is missing, or of another size than it says: damaged (as the bucket's DATA_NOT_AS_LISTED)
DATA_NOT_AS_WRITTEN = "its data file is "
OLD_HISTORY = "verify.jsonl"  # before verifications were records of their own: read, never written
VERIFICATIONS = "verifications"
PINS = "pins"
DATA_SUFFIX = ".dump.zst"
T = TypeVar("T")
ID_LETTERS = "abcdefghijkmnpqrstuvwxyz23456789"  # no l/1, o/0: read aloud and typed at 3 a.m.
_PIN_NAME = re.compile(r"\d{20}-[0-9a-f]{8}\.json")  # write_record's names
_OLD_KEY = re.compile(r"[^A-Za-z0-9_.-]")  # how folders were named before folder_key: read, never written
# After the database's part: the second, then four letters (``new_backup_dir``), or before them, nothing or "-N"
_ID_REST = re.compile(r"-\d{8}T\d{6}Z(?:-[a-z0-9]{4}|-\d+)?")


def _id_of(backup_id: str, database: str) -> bool:
    """``backup_id`` is one ``new_backup_dir`` (or an older version) makes for ``database``: a valid backup's folder
    copied into another database's, its manifest edited to match, made two valid records claim one id, and the
    real one read as damaged."""
    return any(backup_id.startswith(prefix) and _ID_REST.fullmatch(backup_id[len(prefix):])
               for prefix in (id_prefix(database), _old_key(database)))


def _old_key(database: str) -> str:
    return _OLD_KEY.sub("_", database) or "_"


def folder_keys(database: str) -> tuple[str, str]:
    """The folders a database's backups can be in: its key, and the name older versions gave the folder."""
    return folder_key(database), _old_key(database)


def sidecar_text(sha256: str, file_name: str) -> str:
    return f"{sha256}  {file_name}\n"


def require_repository(root: Path) -> None:
    """Every command but those that create it needs the repository: a typo in BACKUP_DIR, or a mount gone, is an
    error (exit 2), not an empty catalog that reads "no valid backup" for every database."""
    if not root.is_dir():
        raise ConfigError(f"repository {root} does not exist (check BACKUP_DIR or 'repository' in the config)")


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


def database_of_key(key: str) -> str:
    """The database a folder key stands for (folder_key undone; an old-style key is its own name)."""
    try:
        return re.sub(r"(?:%[0-9A-F]{2})+", lambda m: bytes.fromhex(m[0].replace("%", "")).decode(), key)
    except (ValueError, UnicodeDecodeError):
        return key


class LocalBackupWriter:
    """One backup being written into its own folder: the dump through a sink, then commit."""

    def __init__(self, root: Path, backup_id: str, folder: Path) -> None:
        self.root, self.id, self.folder = root, backup_id, folder
        self.file_name = f"{backup_id}{DATA_SUFFIX}"
        self._sink: FileSink | None = None

    def sink(self) -> FileSink:
        self._sink = FileSink(inside(self.root, self.folder / self.file_name))
        return self._sink

    def commit(self, record: BackupRecord) -> BackupRecord:
        """Write the sidecar, then the manifest, last: from here on the backup is valid. The sidecar is written
        while the manifest's whole temp lies beside it: a run killed between the two left a sidecar, which says
        the dump had finished (a manifest lost since: damaged, kept for a person), and the temp says the commit
        never was (incomplete, removed by the next backup)."""
        folder = inside(self.root, self.folder)
        atomic_write(folder / MANIFEST, record.manifest_json(), before_rename=lambda: atomic_write(
            folder / f"{record.file_name}.sha256", sidecar_text(record.sha256, record.file_name)))
        return replace(record, status="valid", path=str(folder / record.file_name))

    def abandon(self) -> None:
        """A run that failed leaves no folder: nothing half-written is ever listed as a backup."""
        if self._sink is not None:
            self._sink.abort()  # its file closed, and its sync under way ended, before the folder goes
        shutil.rmtree(inside(self.root, self.folder), ignore_errors=True)


class LocalRepository:
    name = "local"
    capabilities = Capabilities(rewrite=True, lock=True, object_lock=False, local_paths=True)

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def backups_dir(self) -> Path:
        return self.root / "backups"

    def database_dir(self, database: str) -> Path:
        return self.backups_dir / folder_key(database)

    # -- writing -----------------------------------------------------------

    def new_backup_dir(self, database: str, moment: datetime) -> tuple[str, Path]:
        """Reserve a fresh folder for a backup taken at ``moment``. The id is unique without asking
        anyone: the second, then four random characters (hosts sharing a repository cannot see each
        other's folders being made), and this folder's mkdir against this host's own runs."""
        stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        parent = inside(self.root, self.database_dir(database))
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # a file where the database's folder belongs
            raise ConfigError(f"repository {self.root}: {parent} is not a directory; remove it (no run of ours "
                              "made it)") from None
        for _ in range(1000):
            backup_id = f"{id_prefix(database)}-{stamp}-{''.join(secrets.choice(ID_LETTERS) for _ in range(4))}"
            folder = parent / backup_id
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return backup_id, folder
        raise BackupToolError(f"cannot allocate a backup folder under {parent}")

    def new_backup(self, database: str, moment: datetime) -> LocalBackupWriter:
        backup_id, folder = self.new_backup_dir(database, moment)
        return LocalBackupWriter(self.root, backup_id, folder)

    # -- reading -----------------------------------------------------------

    def check_layout(self) -> None:
        """Files where our folders belong would otherwise surface as an OS error deep in a listing."""
        check_repository(self.root)
        if self.backups_dir.is_symlink():
            raise ConfigError(f"repository {self.root}: {self.backups_dir} is a symbolic link; it is not followed")
        if self.backups_dir.exists() and not self.backups_dir.is_dir():
            raise ConfigError(f"repository {self.root}: {self.backups_dir} is not a directory")

    def list(self, database: str | None = None) -> list[BackupRecord]:
        """Every backup folder, read with one directory scan per database (thousands load in a blink).
        ``database``: the folders its backups can be in only (``folder_keys``): a run for one database of a
        fleet's repository reads its own manifests, not every database's, three times a run."""
        records: list[BackupRecord] = []
        self.check_layout()
        keys = None if database is None else folder_keys(database)
        for db_dir in _entries(str(self.backups_dir)):
            if (keys is not None and db_dir.name not in keys) or not db_dir.is_dir(follow_symlinks=False):
                continue
            for folder in _entries(db_dir.path):
                if folder.name.startswith(DELETING):
                    continue  # a backup a delete set aside: no longer one, whatever is left of its files
                if folder.is_dir(follow_symlinks=False):
                    records.append(self._read_folder(db_dir.name, Path(folder.path)))
                elif folder.is_symlink():
                    records.append(unreadable_record(folder.name, db_dir.name, Path(folder.path), (),
                                                     "a symbolic link in the repository: not followed", True))
        records.extend(legacy.scan(self.root))
        return [self._here(r) for r in records]

    def _here(self, record: BackupRecord) -> BackupRecord:
        """Where a copy lies is the repository that reads it, whatever its manifest says; its history is its own."""
        return own_history(replace(record, locations=(self.name,)))

    def _read_folder(self, key: str, folder: Path) -> BackupRecord:
        history = self._history(folder)
        if not is_backup_id(folder.name):
            return unreadable_record(folder.name, key, folder, history, "folder name is not a backup id", True)
        try:
            text = read_capped(folder / MANIFEST)
        except FileNotFoundError:
            return incomplete_record(folder.name, key, folder, history, "manifest missing")
        except (OSError, InvalidRecord) as exc:
            return unreadable_record(folder.name, key, folder, history, f"manifest unreadable: {_said(exc)}", True)
        try:
            record = parse_manifest(load_json(text), expected_id=folder.name, data_suffix=DATA_SUFFIX,
                                    default_host=this_host())
        except ValueError:
            return incomplete_record(folder.name, key, folder, history, "manifest unreadable")
        except InvalidRecord as exc:
            return unreadable_record(folder.name, key, folder, history, exc.message, True)
        if key not in folder_keys(record.database):
            return unreadable_record(folder.name, key, folder, history,
                                     f"manifest names database {record.database!r}, not the one of its folder", True)
        if not _id_of(folder.name, record.database):
            return unreadable_record(folder.name, key, folder, history,
                                     f"the id is no backup id of database {record.database!r}", True)
        found = replace(record, path=str(folder / record.file_name), pinned=self._pinned(folder, record.pinned),
                        verifications=history)
        wrong = _data_wrong(folder / record.file_name, record.stored_bytes)
        if wrong:  # a manifest alone is no backup: it held a slot, and was the newest valid one, on its word
            return replace(found, status="damaged", reason=f"{DATA_NOT_AS_WRITTEN}{wrong}")
        return found

    def _history(self, folder: Path) -> tuple[Verification, ...]:
        """The old append-only file, then the records written once each, in the order they were made."""
        old = read_history(folder / OLD_HISTORY)
        try:
            new = _records(folder / VERIFICATIONS, parse_verification)
        except OSError:  # a link where the folder should be: records from elsewhere are no history of this one
            new = []
        return old + history_order(new, datetime.now(UTC))

    def _pinned(self, folder: Path, from_manifest: bool) -> bool:
        """The newest pin record's word; one that cannot be read counts as a pin (a delete must not go ahead on
        a pin it failed to read), one that is not a pin record is skipped."""
        try:
            pins = sorted(p for p in _records(folder / PINS, parse_pin, unreadable=True) if _PIN_NAME.fullmatch(p[0]))
        except OSError:
            return True  # a link where the folder should be: not read, and, as an unreadable pin, the safe word
        return pins[-1][1] if pins else from_manifest

    def refresh(self, record: BackupRecord) -> BackupRecord:
        """Read one backup afresh from disk (its files may have changed since it was listed)."""
        if record.status == "legacy":
            path = inside(self.root, record.path)
            return self._here(legacy.read(path, path.parent.name) or record)
        folder = self.folder(record)
        return self._here(self._read_folder(folder.parent.name, folder))

    def folder(self, record: BackupRecord) -> Path:
        """The record's own folder, ``backups/<key>/<id>``, or OutsideRepository: never anything else."""
        folder = inside(self.root, Path(record.path).parent)
        if folder.parent.parent != inside(self.root, self.backups_dir) or folder.name != record.id:
            raise OutsideRepository(f"{folder} is not the folder of backup {record.id} in {self.root}: not touched")
        return folder

    def place_of(self, record: BackupRecord) -> Path:
        """Where the layout puts ``record``'s folder here, ``backups/<key>/<id>``, from its database and id
        alone: a record listed from another repository names no local path, and a copy here may still exist."""
        return self.database_dir(record.database) / record.id

    def holds(self, record: BackupRecord) -> bool:
        """An old scripts' dump is its file (its folder, ``daily/``, holds the others); a backup its folder."""
        return Path(record.path if record.status == "legacy" else Path(record.path).parent).exists()

    def open_stored(self, record: BackupRecord) -> FileSource:
        return FileSource(self.stored_path(record))

    def stored_path(self, record: BackupRecord) -> Path:
        """The data file, derived from the layout (a legacy dump's path is where the scan found it)."""
        if record.status == "legacy":
            return inside(self.root, record.path)
        return inside(self.root, self.folder(record) / f"{record.id}{DATA_SUFFIX}")

    def read_sidecar(self, record: BackupRecord) -> str | None:
        sidecar = Path(str(self.stored_path(record)) + ".sha256")
        if not sidecar.exists() and not sidecar.is_symlink():
            return None
        return read_capped(sidecar, RECORD_LIMIT)

    # -- changing ----------------------------------------------------------

    def delete(self, record: BackupRecord) -> None:
        if record.status == "legacy":
            legacy.delete(inside(self.root, record.path))
            return
        folder = self.folder(record)
        aside = folder.with_name(f"{DELETING}{folder.name}")
        try:
            os.rename(folder, aside)  # one step: the backup is whole, or not listed at all
        except FileNotFoundError:
            if folder.exists() or folder.is_symlink():
                raise
            return  # gone already (another prune or delete took it meanwhile): nothing left to remove
        except OSError:  # an 'aside' a killed delete of the same id left (a folder copied back in): it goes first
            _remove_aside(aside)
            os.rename(folder, aside)
        fsync_dir(aside.parent)
        _remove_aside(aside)
        _sweep_aside(aside.parent)  # and what an earlier delete, killed, left there

    def sweep_deleted(self, database: str) -> tuple[str, ...]:
        """Remove what deletes killed mid-way left set aside in ``database``'s folders (call with its lock held);
        the ids they were."""
        return tuple(backup_id for key in folder_keys(database)
                     for backup_id in _sweep_aside(inside(self.root, self.backups_dir / key)))

    def set_pinned(self, record: BackupRecord, pinned: bool) -> BackupRecord:
        """A pin record beside the manifest, which stays as written. Asking to pin a damaged or
        incomplete backup is the caller's mistake (exit 2), not a failure."""
        if record.status == "legacy":
            legacy.set_pinned(inside(self.root, record.path), pinned)
            return replace(record, pinned=pinned)
        refusal = pin_refusal(record)
        if refusal is not None:
            raise ConfigError(refusal)
        folder = self.folder(record)
        # Named after every record there (one of a host whose clock is ahead included): the newest name is the word.
        try:
            after = max((int(name[:20]) + 1 for name, _ in _records(folder / PINS, parse_pin, unreadable=True)
                         if _PIN_NAME.fullmatch(name)), default=0)
        except OSError:
            after = 0  # a link where the folder should be: the write below refuses it, and says so
        write_record(self.root, folder / PINS, json.dumps({"pinned": pinned, "at": utc_iso(datetime.now(UTC))}) + "\n",
                     not_before=after)
        if self._pinned(folder, record.pinned) != pinned:  # read back: what prune will read is what we say
            raise BackupToolError(pin_not_taken(record, pinned, str(folder / PINS)))
        return replace(record, pinned=pinned)

    def add_verification(self, record: BackupRecord, result: Verification, report: str) -> Path:
        if record.status == "legacy":
            path = inside(self.root, record.path)
            legacy.append_history(path, result)
            reports, stem = path.parent / "reports", path.name
        else:
            folder = self.folder(record)
            write_record(self.root, folder / VERIFICATIONS, json.dumps(result.to_json(), sort_keys=True) + "\n")
            reports, stem = folder / "reports", "verify"
        reports = inside(self.root, reports)
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


def _sweep_aside(folder: Path) -> list[str]:
    """Remove the folders deletes set aside in a database's ``folder``; the ids they were. What cannot be removed
    now stays for the next sweep: a leftover never fails the backup or the delete that found it."""
    removed = []
    for entry in _entries(str(folder)):
        if entry.name.startswith(DELETING) and entry.is_dir(follow_symlinks=False):
            with contextlib.suppress(OSError):
                _remove_aside(Path(entry.path))
                removed.append(entry.name[len(DELETING):])
    return removed


def _remove_aside(aside: Path) -> None:
    """A folder a delete set aside, removed; a link planted under that name is removed as a link."""
    if aside.is_symlink() or not aside.is_dir():
        with contextlib.suppress(FileNotFoundError):
            aside.unlink()
        return
    shutil.rmtree(aside)


def _entries(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return sorted(entries, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _records(folder: Path, parse: Callable[[object], T], unreadable: T | None = None) -> list[tuple[str, T]]:
    """Every ``*.json`` record in ``folder`` that validates, with its file name; the rest are skipped, but one
    that cannot be read at all counts as ``unreadable`` where the caller gives that (a pin: the safe word).
    The folder is opened without following a link, and its records through it: a link (or a file) where the
    folder should be raises OSError, for the caller to decide, as records from elsewhere are not ours."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return []
    found: list[tuple[str, T]] = []
    try:
        with os.scandir(dir_fd) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".json") and e.is_file(follow_symlinks=False))
        for name in names:
            try:
                found.append((name, parse(load_json(read_capped(Path(name), dir_fd=dir_fd)))))
            except OSError:
                if unreadable is not None:
                    found.append((name, unreadable))
            except (ValueError, InvalidRecord):
                continue
    finally:
        os.close(dir_fd)
    return found


def _data_wrong(path: Path, stored_bytes: int) -> str:
    """What is wrong with a backup's dump as its folder holds it (never through a link), or '' for nothing."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable: {exc.strerror or type(exc).__name__}"
    if stat.S_ISLNK(info.st_mode):
        return "a symbolic link in the repository: not followed"
    if not stat.S_ISREG(info.st_mode):
        return "not a plain file"
    return "" if info.st_size == stored_bytes else f"{info.st_size:,} bytes, not the manifest's {stored_bytes:,}"


def _said(exc: OSError | BackupToolError) -> str:
    return exc.message if isinstance(exc, BackupToolError) else (exc.strerror or type(exc).__name__)


ID_STAMP = re.compile(r"-(\d{8}T\d{6}Z)(?:-[0-9a-z]+)?$")


def dated(moment: datetime | str, form: str = "") -> datetime | None:
    """``moment`` (parsed with ``form``) if it is a time records are dated at (``YEARS``), else None: an id of
    month 13 or the year 9999, or a folder's planted mtime, read as a time stopped every listing."""
    try:
        found = datetime.strptime(moment, form).replace(tzinfo=UTC) if isinstance(moment, str) else moment
        return parse_utc(utc_iso(found))
    except (ValueError, OverflowError):
        return None


def _started(backup_id: str, folder: Path) -> datetime:
    """When the run began: the id says so to the second (the folder's mtime moves when files in it change)."""
    match = ID_STAMP.search(backup_id)
    if match and (started := dated(match[1], "%Y%m%dT%H%M%SZ")):
        return started
    try:
        return dated(datetime.fromtimestamp(folder.lstat().st_mtime, UTC)) or datetime.now(UTC)
    except (OSError, ValueError, OverflowError):
        return datetime.now(UTC)


def incomplete_record(
    backup_id: str, key: str, folder: Path, history: tuple[Verification, ...], problem: str
) -> BackupRecord:
    """What we can say about a folder with no usable manifest: its files and their age.

    With a sidecar the dump had finished, so the manifest was lost or damaged afterwards:
    "damaged", kept for the operator. Without one the run died mid-dump: "incomplete"; so it did with
    the manifest's temp still there (killed while committing, the sidecar written, the manifest not)."""
    try:
        files = [e for e in _entries(str(folder)) if e.is_file(follow_symlinks=False)]
    except OSError:
        files = []
    committing = any(e.name.startswith(f".{MANIFEST}.") and TEMP_NAME.match(e.name) for e in files)
    finished = any(e.name == MANIFEST for e in files) or (
        any(e.name.endswith(".sha256") for e in files) and not committing)
    return unreadable_record(backup_id, key, folder, history, problem, finished)


def unreadable_record(
    backup_id: str, key: str, folder: Path, history: tuple[Verification, ...], problem: str, damaged: bool
) -> BackupRecord:
    """A folder listed for what its layout says, nothing taken from its files: its name, its
    database's folder, the size of the dump where the layout puts it."""
    data = folder / f"{backup_id}{DATA_SUFFIX}"
    try:
        size = data.lstat().st_size if data.is_file() and not data.is_symlink() else 0
    except OSError:
        size = 0
    return BackupRecord(
        id=backup_id, database=database_of_key(key), created_at=utc_iso(_started(backup_id, folder)),
        finished_at="", duration_s=0.0, format="custom", compression="zstd", raw_bytes=0, stored_bytes=size,
        sha256="", file_name=data.name, status="damaged" if damaged else "incomplete", path=str(data),
        reason=problem, verifications=history, host=this_host(),
    )
