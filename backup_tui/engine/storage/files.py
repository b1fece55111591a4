"""Small file helpers every on-disk store shares: atomic writes, history files, and who may read them."""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path

from backup_tui.engine.core.models import Verification


def atomic_write(path: Path, text: str) -> None:
    """Write via a temp file, fsync, rename, fsync the folder: all or nothing on disk."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_history(path: Path) -> tuple[Verification, ...]:
    """Verification history; a damaged line is skipped rather than hiding the rest."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ()
    results = []
    for line in text.splitlines():
        try:
            results.append(Verification.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return tuple(results)


# A dump is the whole database, customers' emails included; manifests, reports and logs name its tables.
# Everything the engine writes is its owner's alone (files 0600, folders 0700), whatever umask cron, systemd
# or a login shell hands us: the process's umask is set once, where a face starts, so every write (ours,
# tempfile's, logging's, pg_restore's) is covered without each one having to remember a mode.
PRIVATE_UMASK = 0o077
OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO
# What we create at the repository's top: tightened when an earlier run made them under a wider umask.
# The repository folder itself may be a shared mount point or /var/backups: it is left as the operator set it.
OWN_ENTRIES = ("backups", "locks", "scratch", "tmp", "logs", "restores.jsonl")
RUN_LOG_GLOB = "backup-headless-*.log"


def make_private() -> None:
    """From here on, every file and folder this process creates is readable by its owner only."""
    os.umask(PRIVATE_UMASK)


def exposed(repository: Path, log_dir: Path | None = None) -> list[Path]:
    """What we wrote that group or others can read or enter: our top-level entries, and our run logs."""
    found = []
    for path in _own_paths(repository, log_dir):
        try:
            st = path.lstat()
        except OSError:
            continue
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & OPEN_TO_OTHERS:
            found.append(path)
    return found


def tighten(repository: Path, log_dir: Path | None = None) -> list[Path]:
    """Take group and others off what an earlier run left open (ours only: owned by this user).

    A folder closed at the top closes everything below it, so the backups made before stay where they
    are, untouched, yet out of reach. Returns what changed; what cannot be changed is left to
    ``config check``, which names it.
    """
    changed = []
    for path in exposed(repository, log_dir):
        try:
            st = path.lstat()
            if st.st_uid != os.geteuid():
                continue
            os.chmod(path, stat.S_IMODE(st.st_mode) & ~OPEN_TO_OTHERS)
        except OSError:
            continue
        changed.append(path)
    return changed


def _own_paths(repository: Path, log_dir: Path | None) -> list[Path]:
    paths = [repository / name for name in OWN_ENTRIES]
    if log_dir is not None and log_dir != repository / "logs":
        # An operator's LOG_DIR may be /var/log itself: only our own files in it, never the folder.
        with contextlib.suppress(OSError):
            paths += sorted(log_dir.glob(RUN_LOG_GLOB))
    return paths
