"""One lock per database against concurrent runs.

``flock`` on a file in the repository: the kernel releases it when the holder
dies, even by SIGKILL, so a crashed run never leaves a stale lock behind. The
file holds who took it, so the refusal can name the holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from backup_tui.engine.core.errors import BackupToolError, LockHeldError
from backup_tui.engine.core.manifest import InvalidRecord
from backup_tui.engine.core.models import utc_iso
from backup_tui.engine.core.names import folder_key
from backup_tui.engine.core.untrusted_json import load_json
from backup_tui.engine.storage.files import RECORD_LIMIT, read_capped
from backup_tui.engine.storage.paths import OutsideRepository, inside
from backup_tui.engine.storage.state import state_dir, this_host

# How long a run tries again for a lock found taken: ``is_locked`` (prune's plan, a dry run, the app's refresh) holds
# it shared for microseconds to look, and a backup that asked in that instant exited 3 naming a run long gone.
PROBE_GRACE_S = 0.5


def lock_path(repository: Path, database: str) -> Path:
    """One file per database name (two names never share one), in the repository's ``locks/`` folder
    or, for a repository we cannot write, its stand-in (``storage.state``)."""
    return state_dir(repository, "locks") / f"{folder_key(database)}.lock"


def _open_lock(path: Path) -> int:
    """The lock file's descriptor; a link planted as ``locks/`` or as the file itself is not followed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return _plain(inside(path.parent.parent, path), os.O_RDWR | os.O_CREAT)


def _plain(path: Path, flags: int) -> int:
    """``path`` opened without following a link or waiting on a FIFO, and only if it is a plain file: a FIFO or a
    folder planted under a lock's name ended every run of the database with "unexpected OSError"."""
    refusal = BackupToolError(f"lock file {path} is not a plain file: remove it (no run of ours made it)")
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    except IsADirectoryError:
        raise refusal from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise refusal
    return fd


def describe_holder(path: Path) -> str:
    try:
        info = load_json(read_capped(path, RECORD_LIMIT))
        return (f"pid {info['pid']} on {info['host']} ({info['operation']}, "
                f"started {info['started_at']})")
    except (OSError, ValueError, KeyError, TypeError, InvalidRecord):
        return "another process"


@contextmanager
def database_lock(repository: Path, database: str, operation: str) -> Iterator[Path]:
    """Hold the database's lock for the block, or raise LockHeldError at once."""
    path = lock_path(repository, database)
    fd = _open_lock(path)
    try:
        if not _took_past_probes(fd):
            raise LockHeldError(f"database {database!r} is locked by {describe_holder(path)}: lock file {path}")
        holder = {
            "pid": os.getpid(),
            "host": this_host(),
            "operation": operation,
            "command": " ".join(sys.argv[:3]),
            "started_at": utc_iso(datetime.now(UTC)),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield path
    finally:
        os.close(fd)


def is_locked(repository: Path, database: str) -> bool:
    """True while some run holds the database's lock (used by prune to spare in-flight backups). A link
    planted as ``locks/`` holds no lock of ours: False (whoever then writes stops at taking its own)."""
    try:
        path = lock_path(repository, database)
    except OutsideRepository:
        return False
    if not path.exists() or path.is_symlink():
        return False
    try:
        fd = _plain(path, os.O_RDONLY)
    except BackupToolError:
        return False  # no lock of ours: whoever then writes stops at taking its own, saying why
    try:
        return not _took(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


def locked_by(repository: Path, database: str) -> str:
    """Who holds the database's lock, as a run that meets it says ("pid N on HOST (backup, started ...)"); '' while
    no run holds it: what a plan says the real run would stop at."""
    return describe_holder(lock_path(repository, database)) if is_locked(repository, database) else ""


def _took(fd: int, kind: int) -> bool:
    """Take the lock ``kind`` on ``fd`` without waiting; False when another process holds it."""
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _took_past_probes(fd: int) -> bool:
    """The lock taken for a run, tried again for ``PROBE_GRACE_S`` past a look; False while a run holds it."""
    deadline = time.monotonic() + PROBE_GRACE_S
    while not _took(fd, fcntl.LOCK_EX):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def _backup_lock_path(repository: Path, backup_id: str) -> Path:
    return state_dir(repository, "locks") / f"backup-{folder_key(backup_id)}.lock"


@contextmanager
def reading_backup(repository: Path, backup_id: str) -> Iterator[None]:
    """Held while a verify or a restore reads a backup: many readers at once, and prune spares it."""
    fd = _open_lock(_backup_lock_path(repository, backup_id))
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


@contextmanager
def deleting_backup(repository: Path, backup_id: str) -> Iterator[bool]:
    """Yields False while someone reads the backup (prune then leaves it for the next run), else True
    with the readers kept out until the block ends."""
    fd = _open_lock(_backup_lock_path(repository, backup_id))
    try:
        if not _took(fd, fcntl.LOCK_EX):
            yield False
            return
        yield True
    finally:
        os.close(fd)


def drop_backup_lock(repository: Path, backup_id: str) -> None:
    """The lock file of a backup whose every copy went, from inside ``deleting_backup``'s block. Only then: a
    reader queued on the file holds a file no longer in the folder, and the next delete would make a new
    one and take it at once, beside that reader; of a backup that is gone, nothing is left to protect."""
    _backup_lock_path(repository, backup_id).unlink(missing_ok=True)
