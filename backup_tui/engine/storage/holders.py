"""Who holds what, looked at without taking anything: a monitor must never take a lock a backup is about
to ask for (the backup would fail with 'locked'), so held locks are read from the kernel's table."""

from __future__ import annotations

import os
from pathlib import Path

from backup_tui.engine.core.manifest import InvalidRecord
from backup_tui.engine.core.untrusted_json import load_json
from backup_tui.engine.storage.files import RECORD_LIMIT, read_capped
from backup_tui.engine.storage.locks import lock_path
from backup_tui.engine.storage.paths import OutsideRepository
from backup_tui.engine.storage.state import this_host

PROC_LOCKS = Path("/proc/locks")
PID_MAX = 1 << 22  # Linux's ceiling for pid_max: a record's pid above it names no process there ever was


def record_pid(value: object) -> int:
    """The pid a record of the repository names, checked: a whole number a process could have, else
    ValueError (the record is skipped like any unreadable one; it is somebody's word, not ours)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= PID_MAX:
        raise ValueError(f"not a process id: {value!r}")
    return value


def alive(pid: int) -> bool:
    """A process of this machine runs under ``pid`` (another user's counts)."""
    if not 0 < pid <= PID_MAX:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def held_inodes(table: Path = PROC_LOCKS) -> set[tuple[int, int]]:
    """(device, inode) of every file an flock is held on, from /proc/locks (empty where there is none)."""
    held: set[tuple[int, int]] = set()
    try:
        lines = table.read_text().splitlines()
    except OSError:
        return held
    for line in lines:
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[0].endswith("->"):
            continue  # "->" marks a waiter, not a holder
        try:
            major, minor, inode = fields[5].split(":")
            held.add((os.makedev(int(major, 16), int(minor, 16)), int(inode)))
        except ValueError:
            continue
    return held


def gone_lock_holder(repository: Path, database: str, held: set[tuple[int, int]]) -> str | None:
    """The database's lock is held while the run it names, on this machine, is gone (its descriptor lives
    on in some other process): a line that says so, else None."""
    try:
        path = lock_path(repository, database)
        info = path.lstat()
    except (OSError, OutsideRepository):  # a link planted as locks/ holds no lock of ours
        return None
    if (info.st_dev, info.st_ino) not in held:
        return None
    try:
        holder = load_json(read_capped(path, RECORD_LIMIT))
        pid, host = record_pid(holder["pid"]), str(holder["host"])
    except (OSError, ValueError, KeyError, TypeError, InvalidRecord):
        return None
    if host != this_host() or alive(pid):
        return None
    return (f"lock {path} is held, but the run that took it (pid {pid}, {holder.get('operation', '?')}, "
            f"started {holder.get('started_at', '?')}) is gone")
