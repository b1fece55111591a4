"""Pin or unpin a backup, every copy of it, as one decision for both faces.

The pin is written while holding the backup's lock as a reader: a delete or a prune checks the pins again
under its own hold of that lock (``delete.remove_planned``), so a pin set while their question was open is
seen, and none lands between that check and the removal.
"""

from __future__ import annotations

from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.locks import reading_backup


def set_pinned(ctx: Context, record: BackupRecord, pinned: bool) -> BackupRecord:
    """``record`` pinned (or not) in every repository that still holds it; NotFoundError when none does. The
    lock is this host's (the repository's ``locks/``): a prune on another host sharing the bucket is not held
    off by it."""
    with reading_backup(ctx.settings.repository, record.id):
        return ctx.catalog.set_pinned(record, pinned)
