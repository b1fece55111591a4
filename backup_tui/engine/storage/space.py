"""Free-space checks: refuse before starting, with the figures, rather than fill a disk."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from backup_tui.engine.core.errors import SpaceError
from backup_tui.engine.core.sizes import human_bytes as human_bytes  # noqa: PLC0414  # re-exported for storage callers


def free_bytes(path: Path) -> int:
    """Free bytes on the filesystem that holds ``path`` (or its nearest existing parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_space(path: Path, needed: int, reserve: int, what: str) -> int:
    """Raise SpaceError when ``needed`` plus the reserve do not fit; returns the free bytes."""
    free = free_bytes(path)
    if needed + reserve > free:
        extra = f" plus {human_bytes(reserve)} kept free" if reserve else ""
        raise SpaceError(
            f"not enough space for {what} in {path}: need about {human_bytes(needed)}{extra}, "
            f"{human_bytes(free)} free"
        )
    return free


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def disk_full(exc: BaseException, path: Path, what: str) -> SpaceError | None:
    """A write that failed for want of space (disk, quota, file size limit), as one line; else None."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL:
        return SpaceError(f"disk full in {path} while {what} ({exc.strerror})")
    return None
