"""Small file helpers every on-disk store shares: atomic writes and history files."""

from __future__ import annotations

import json
import os
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
