"""Where a run keeps its own state (locks, records of what it is creating): in the repository, or,
when the repository cannot be written (a read-only disaster-recovery mount), in a private folder of
this machine keyed by the repository's path. Reading a repository never needs to write to it."""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from pathlib import Path

from backup_tui.engine.storage.paths import inside


def writable(repository: Path) -> bool:
    """False on a read-only mount or a folder we may not write; a repository not made yet is writable."""
    probe = repository
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return os.access(probe, os.W_OK)


def state_dir(repository: Path, what: str) -> Path:
    """``<repository>/<what>``, or its stand-in outside a repository we cannot write. A link planted as
    ``<what>`` is refused (``OutsideRepository``), never followed: journals, scratch records and notices are
    written there, and what a sweep finds there is removed."""
    if writable(repository):
        return inside(repository, repository / what)
    key = hashlib.sha256(os.fsencode(os.path.abspath(repository))).hexdigest()[:16]
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"backup-tui-{os.getuid()}-{key}"
    base.mkdir(mode=0o700, exist_ok=True)
    if base.is_symlink() or base.stat().st_uid != os.getuid():
        raise PermissionError(f"{base} is not ours: refusing to keep run state there")
    return base / what


def this_host() -> str:
    """The name backups taken here carry, and the one retention and health go by on this machine."""
    return socket.gethostname()
