"""Small file helpers every on-disk store shares: atomic writes, records written once, capped reads, and who
may read them."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path

from backup_tui.engine.core.manifest import MAX_RECORD_BYTES, InvalidRecord, parse_verification
from backup_tui.engine.core.models import Verification
from backup_tui.engine.core.untrusted_json import load_json
from backup_tui.engine.storage.paths import inside

# A record of ours (scratch, swap journal, lock holder) is a few hundred bytes: past this it is not one.
RECORD_LIMIT = 64 * 1024


def atomic_write(path: Path, text: str, mode: int | None = None,
                 before_rename: Callable[[], None] | None = None) -> None:
    """Write via a temp file, fsync, rename, fsync the folder: all or nothing on disk. ``mode``: the file's,
    whatever the umask, set before it takes the name (a textfile node_exporter reads, a systemd unit).
    ``before_rename``: work done while the whole temp lies there, as a sign of the write under way (a
    backup's sidecar, written while its manifest's temp says the commit was not done).

    Each writer has a temp name of its own (``.{name}.{16 hex}.tmp``, created with O_EXCL, never through a
    link), so two processes writing one path at once each rename only their own whole file into place: the
    last rename wins, neither can publish the other's half-written bytes. On failure only our own temp is
    removed. What a crash left (a temp older than STALE_TEMP_SECONDS, or the fixed ``.{name}.tmp`` older
    versions used) is swept by the next write into the same folder; readers list only ``*.json`` names, so a
    temp is never read as a record meanwhile.
    """
    folder = path.parent
    fd, tmp = _own_temp(path)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # ours alone: the name was made for this write and created exclusively
        raise
    fsync_dir(folder)
    sweep_stale_temps(folder, also=f".{path.name}.tmp")


# A record is written in milliseconds: a temp this old belongs to a writer that died (or stopped for an hour,
# whose rename then fails cleanly: it cannot publish anything half-written).
STALE_TEMP_SECONDS = 3600
TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{16}\.tmp$")


def _own_temp(path: Path) -> tuple[int, Path]:
    """A temp file only this writer uses, beside ``path``; a name taken (by anyone, a link too) is not reused."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp name beside {path}")


def sweep_stale_temps(folder: Path, older_than: float = STALE_TEMP_SECONDS, also: str = "") -> list[str]:
    """Remove the temps dead writers left in ``folder``: our name pattern (and ``also``, the fixed name older
    versions used for one path), nothing below it, a link removed as a link, never followed. A live writer's
    temp is younger and stays. Returns the names removed."""
    removed: list[str] = []
    limit = time.time() - older_than
    try:
        with os.scandir(folder) as entries:
            candidates = [e for e in entries if TEMP_NAME.match(e.name) or e.name == also]
    except OSError:
        return removed
    for entry in candidates:
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_mtime >= limit:
                continue
            os.unlink(entry.path)
            removed.append(entry.name)
    return removed


def write_record(root: Path, folder: Path, text: str, not_before: int = 0) -> Path:
    """A new record in ``folder`` (below ``root``, through no link), never a change to an existing one:
    two hosts writing at once each add their own file. Names sort in the order they were written;
    ``not_before`` makes it sort after a record named by a clock ahead of ours."""
    inside(root, folder).mkdir(exist_ok=True)
    path = inside(root, folder / f"{max(time.time_ns(), not_before):020d}-{secrets.token_hex(4)}.json")
    atomic_write(path, text)
    return path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_capped(path: Path, limit: int = MAX_RECORD_BYTES, *, dir_fd: int | None = None) -> str:
    """A small record's text; a link is not followed, and a file larger than ``limit`` is refused
    (InvalidRecord) instead of read whole into memory. Only a plain file is read: a FIFO planted under a
    record's name would block the reader for ever (opened without waiting, then refused), a device never ends.
    ``dir_fd``: ``path`` is a name in that folder, opened without following a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):  # as reading it would say: callers take a folder for an OSError, as before
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise InvalidRecord(f"{path.name} is not a plain file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InvalidRecord(f"{path.name} is larger than {limit // (1024 * 1024)} MiB")
    return data.decode("utf-8", errors="replace")


def read_history(path: Path) -> tuple[Verification, ...]:
    """An append-only verification history; a damaged line is skipped rather than hiding the rest."""
    try:
        text = read_capped(path)
    except (OSError, InvalidRecord):
        return ()
    results = []
    for line in text.splitlines():
        try:
            results.append(parse_verification(load_json(line)))
        except (ValueError, InvalidRecord):
            continue
    return tuple(results)


def append_line(path: Path, line: str) -> None:
    """One line at the end of ``path``, on disk before we return; a link there is not followed, and only a plain
    file is written (a FIFO planted under its name held a restore that had finished, for ever)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a plain file", str(path))
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


# A dump is the whole database, customers' emails included; manifests, reports and logs name its tables.
# Everything the engine writes is its owner's alone (files 0600, folders 0700), whatever umask cron, systemd
# or a login shell hands us: the process's umask is set once, where a face starts, so every write (ours,
# tempfile's, logging's, pg_restore's) is covered without each one having to remember a mode.
PRIVATE_UMASK = 0o077
OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO
# What we create at the repository's top: tightened when an earlier run made them under a wider umask.
# The repository folder itself may be a shared mount point or /var/backups: it is left as the operator set it.
OWN_ENTRIES = ("backups", "locks", "scratch", "runs", "tmp", "logs", "restores.jsonl")
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
        try:  # through a descriptor opened without following a link: one swapped in since is not chmod'ed
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if st.st_uid != os.geteuid():
                continue
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & ~OPEN_TO_OTHERS)
        except OSError:
            continue
        finally:
            os.close(fd)
        changed.append(path)
    return changed


def _own_paths(repository: Path, log_dir: Path | None) -> list[Path]:
    paths = [repository / name for name in OWN_ENTRIES]
    if log_dir is not None and log_dir != repository / "logs":
        # An operator's LOG_DIR may be /var/log itself: only our own files in it, never the folder.
        with contextlib.suppress(OSError):
            paths += sorted(log_dir.glob(RUN_LOG_GLOB))
    return paths
