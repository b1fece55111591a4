"""Where a run keeps its own state (locks, records of what it is creating): in the repository, or,
when the repository cannot be written (a read-only disaster-recovery mount), in a private folder of
this machine keyed by the repository's path. Reading a repository never needs to write to it."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import tempfile
from pathlib import Path

from backup_tui.engine.core.errors import ConfigError
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
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return _own_folder(Path(runtime) / f"backup-tui-{os.getuid()}-{key}") / what
    try:  # a folder of this user's: the temp folder's name below, anyone could make first
        state_home = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        return _own_folder(state_home / "backup-tui" / key, parents=True) / what
    except (OSError, RuntimeError):
        pass  # no home, or one we cannot write (a service user's, a read-only one under systemd)
    return _own_folder(Path(tempfile.gettempdir()) / f"backup-tui-{os.getuid()}-{key}") / what


def _own_folder(base: Path, parents: bool = False) -> Path:
    """``base``, made if missing (0700), refused when it is a link or another user's: in the temp folder anyone
    could have made it first, to read or plant the records and locks kept there."""
    if parents:
        base.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    base.mkdir(mode=0o700, exist_ok=True)
    st = base.lstat()
    if stat.S_ISLNK(st.st_mode):
        raise ConfigError(f"{base} is a link, not followed: remove it, or set XDG_RUNTIME_DIR to a folder of "
                          "your own")
    if st.st_uid != os.getuid():
        raise ConfigError(f"{base} belongs to another user (uid {st.st_uid}), not to us: remove it, or set "
                          "XDG_RUNTIME_DIR to a folder of your own")
    return base


def this_host() -> str:
    """The name backups taken here carry, and the one retention and health go by on this machine."""
    return socket.gethostname()
