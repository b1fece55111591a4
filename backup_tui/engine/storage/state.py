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
    temp = Path(tempfile.gettempdir()) / f"backup-tui-{os.getuid()}-{key}"
    try:  # a folder of this user's: the temp folder's name below, anyone could make first
        state_home = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
        if not (state_home / "backup-tui" / key).exists() and _earlier_releases(temp):
            return temp / what
        return _own_folder(state_home / "backup-tui" / key, parents=True) / what
    except (OSError, RuntimeError):
        pass  # no home, or one we cannot write (a service user's, a read-only one under systemd)
    return _own_folder(temp) / what


def _earlier_releases(temp: Path) -> bool:
    """The temp folder holds our state, written by a release before the state folder was used: kept there, the
    swap journals, scratch records, run journal and notices state of a host upgraded are still read (moved
    aside, a swap killed on a disaster-recovery mount went unhealed and unsaid, its database closed). Only a
    folder of ours, not a link: one another user made first is passed by, as a missing one is."""
    try:
        st = temp.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()


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
