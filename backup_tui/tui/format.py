"""How numbers, moments and a backup's state read on screen: one place, so every screen agrees."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from backup_tui.engine.core.health import human_duration, humanize_age
from backup_tui.engine.core.models import BackupRecord, Verification, parse_utc
from backup_tui.engine.storage.space import human_bytes

__all__ = ["ago", "bytes_in_text", "duration", "human_bytes", "local_time", "plural", "ratio", "status_style",
           "verification_text"]

_BYTE_COUNT = re.compile(r"\b(\d{4,}) bytes\b")


def local_time(moment: datetime, tz: tzinfo | None) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def ago(moment: datetime, now: datetime) -> str:
    return humanize_age(now - moment)


def duration(seconds: float | None) -> str:
    return "—" if seconds is None else human_duration(seconds)


def ratio(value: float | None) -> str:
    return f"{value:.1f}x" if value else "—"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def bytes_in_text(text: str) -> str:
    """'dump done: 444315028 bytes' -> 'dump done: 444.3 MB': engine messages count bytes, people read sizes."""
    return _BYTE_COUNT.sub(lambda match: human_bytes(int(match.group(1))), text)


def verification_text(verification: Verification | None, now: datetime) -> str:
    """'✓ full, 3 hours ago' / '✗ quick, 2 days ago' / 'never'."""
    if verification is None:
        return "never"
    mark = "✓" if verification.ok else "✗"
    return f"{mark} {verification.level}, {ago(parse_utc(verification.at), now)}"


def status_style(record: BackupRecord) -> str:
    """Green for a restore point we trust; red for anything else, a failed check included."""
    return "green" if record.trusted else "bold red"
