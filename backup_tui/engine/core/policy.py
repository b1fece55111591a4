"""What may be done with a backup: decided here once, for the engine, the TUI's keys and the CLI."""

from __future__ import annotations

from backup_tui.engine.core.models import BackupRecord


def can_pin(record: BackupRecord) -> bool:
    """Complete backups, ours or the old scripts' (their pin is a marker beside them)."""
    return record.is_valid


def can_restore(record: BackupRecord) -> bool:
    """Complete backups; one that failed its last check may still be chosen, with a warning."""
    return record.is_valid


def pin_refusal(record: BackupRecord) -> str | None:
    """Why a pin is refused, in the words every front end shows; None when it may be pinned."""
    if can_pin(record):
        return None
    return f"{record.id} is {record.status} ({record.reason}): only complete backups can be pinned"


def pin_not_taken(record: BackupRecord, pinned: bool, where: str) -> str:
    """A pin written that its records, read back, do not say (a record named after ours): what prune would read."""
    return (f"{record.id}: the pin was written but its records still say {'unpinned' if pinned else 'pinned'}; "
            f"see {where}")
