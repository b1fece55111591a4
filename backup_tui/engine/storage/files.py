"""Small file helpers every on-disk store shares: atomic writes, records written once, capped reads."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from backup_tui.engine.core.manifest import MAX_RECORD_BYTES, InvalidRecord, parse_verification
from backup_tui.engine.core.models import Verification
from backup_tui.engine.storage.paths import inside


def atomic_write(path: Path, text: str) -> None:
    """Write via a temp file, fsync, rename, fsync the folder: all or nothing on disk."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_record(root: Path, folder: Path, text: str) -> Path:
    """A new record in ``folder`` (below ``root``, through no link), never a change to an existing one:
    two hosts writing at once each add their own file. Names sort in the order they were written."""
    inside(root, folder).mkdir(exist_ok=True)
    path = inside(root, folder / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.json")
    atomic_write(path, text)
    return path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_capped(path: Path, limit: int = MAX_RECORD_BYTES) -> str:
    """A small record's text; a link is not followed, and a file larger than ``limit`` is refused
    (InvalidRecord) instead of read whole into memory."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
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
            results.append(parse_verification(json.loads(line)))
        except (ValueError, InvalidRecord):
            continue
    return tuple(results)


def append_line(path: Path, line: str) -> None:
    """One line at the end of ``path``, on disk before we return; a link there is not followed."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
