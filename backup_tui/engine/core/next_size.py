"""How big the next backup of a database will be stored: the backup's space check refuses by it, and health's
``low_space`` warns by it, so the two never disagree on what the next backup needs."""

from __future__ import annotations

from collections.abc import Sequence

from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.core.sizes import human_bytes

FIRST_BACKUP_RATIO = 0.5  # with no history, expect the stored dump to be at most half the database size
HISTORY_MARGIN = 1.25  # with history, expect up to 25% growth over the last backup
# No stored dump is past twice the database's own size: zstd shrinks what TOAST shrank, and more. The last
# backup's size, grown, may claim more (the database shrank since, or a planted size, or a planted tiny database
# size to grow from): taken at its word, a planted one would refuse every backup for space from then on.
STORED_CEILING = 2


def grown(last: BackupRecord, db_bytes: int) -> float:
    """How many times over the database (``db_bytes`` now) has grown since ``last`` was taken; 1.0 where it has
    not, or the record does not say."""
    then = last.database_bytes
    return db_bytes / then if then and db_bytes > then else 1.0


def expected_size(previous: Sequence[BackupRecord], db_bytes: int) -> tuple[int, str]:
    """The last backup (``previous``: the database's complete backups, newest first) + 25%, grown as the
    database grew since, and never past ``STORED_CEILING`` times the database's size (``db_bytes``: the
    server's word where there is a server to ask; 0 not known); for a first backup, half its size."""
    if not previous:
        return int(db_bytes * FIRST_BACKUP_RATIO), f"half the database size ({human_bytes(db_bytes)})"
    last = previous[0]
    growth = grown(last, db_bytes)
    expected = int(last.stored_bytes * HISTORY_MARGIN * growth)
    if db_bytes and expected > STORED_CEILING * db_bytes:
        return STORED_CEILING * db_bytes, (f"twice the database's size now ({human_bytes(db_bytes)}), less than "
                                           f"the last backup + 25% ({human_bytes(expected)})")
    basis = f"last backup {human_bytes(last.stored_bytes)} + 25%"
    if growth > 1.05:
        basis += f", times {growth:.1f} as the database grew to {human_bytes(db_bytes)} since"
    return expected, basis
