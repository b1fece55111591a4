"""Every path the engine touches in a repository is derived from its layout and checked here.

The repository is untrusted input: another host, a person or an attacker may have written any file
in it. A name read from a file never becomes a path on its own; a path built from the layout must
stay below the repository's root and never pass through a symbolic link (a link planted inside
would send a delete, a write or a truncate outside). The root itself may be a link (a mount point
reached through /var/backups, say): only what lies below it is checked.
"""

from __future__ import annotations

import os
from pathlib import Path

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import BackupToolError


class OutsideRepository(BackupToolError):
    """A path that would leave the repository, or pass through a link in it: never acted upon."""


def inside(root: Path, path: Path | str) -> Path:
    """``path`` if it lies below ``root`` and no part of it below ``root`` is a symbolic link."""
    base = os.path.normpath(os.path.abspath(root))
    full = os.path.normpath(os.path.abspath(path))
    rel = os.path.relpath(full, base)
    if rel == os.curdir:
        return Path(full)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        raise OutsideRepository(f"{full} is outside the repository {base}: not touched")
    probe = base
    for part in rel.split(os.sep):
        probe = os.path.join(probe, part)
        if os.path.islink(probe):
            raise OutsideRepository(f"{probe} is a symbolic link inside the repository {base}: not followed")
    return Path(full)


def log_folder(settings: Settings) -> Path:
    """Where run logs and ``metrics.json`` are written. The default, ``<repository>/logs``, lies in the untrusted
    repository: a link there (to /etc, to another host's folder) is refused (``OutsideRepository``), never written
    through. A ``log_dir`` the operator set is the operator's, links and all."""
    return settings.logs if settings.log_dir is not None else inside(settings.repository, settings.logs)


def is_inside(root: Path, path: Path | str) -> bool:
    try:
        inside(root, path)
    except OutsideRepository:
        return False
    return True
