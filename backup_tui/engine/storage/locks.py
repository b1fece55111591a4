"""One lock per database against concurrent runs.

``flock`` on a file in the repository: the kernel releases it when the holder
dies, even by SIGKILL, so a crashed run never leaves a stale lock behind. The
file holds who took it, so the refusal can name the holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from backup_tui.engine.core.errors import LockHeldError
from backup_tui.engine.core.models import utc_iso


def lock_path(repository: Path, database: str) -> Path:
    return repository / "locks" / f"{database}.lock"


def describe_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return (f"pid {info['pid']} on {info['host']} ({info['operation']}, "
                f"started {info['started_at']})")
    except (OSError, ValueError, KeyError):
        return "another process"


@contextmanager
def database_lock(repository: Path, database: str, operation: str) -> Iterator[Path]:
    """Hold the database's lock for the block, or raise LockHeldError at once."""
    path = lock_path(repository, database)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeldError(
                f"database {database!r} is locked by {describe_holder(path)}: lock file {path}"
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
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
    """True while some run holds the database's lock (used by prune to spare in-flight backups)."""
    path = lock_path(repository, database)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
