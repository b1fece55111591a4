"""How numbers, moments and a backup's state read on screen: one place, so every screen agrees."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from rich.text import Text

from backup_tui.engine.core.health import human_duration, humanize_age
from backup_tui.engine.core.models import BackupRecord, Verification, parse_utc
from backup_tui.engine.core.schedule import NEVER, next_runs
from backup_tui.engine.core.sizes import plural
from backup_tui.engine.storage.space import human_bytes

__all__ = ["SAFETY_MARK", "ago", "bytes_in_text", "copies", "duration", "human_bytes", "id_cell", "local_time",
           "locations", "marked_id", "plural", "ratio", "status_style", "verification_text"]

_BYTE_COUNT = re.compile(r"\b(\d{4,}) bytes\b")
# After the id of a backup taken by restore --replace: the state it replaced (possibly the bad data), not a
# scheduled restore point. Wherever a backup is listed or chosen.
SAFETY_MARK = " · safety"


def local_time(moment: datetime, tz: tzinfo | None) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def ago(moment: datetime, now: datetime) -> str:
    return humanize_age(now - moment)


def next_runs_said(cron: str, local: datetime, count: int) -> str:
    """A job's next ``count`` runs in local time ("Thu 06 02:00, ..."), or that no date matches its schedule."""
    return ", ".join(moment.strftime("%a %d %H:%M") for moment in next_runs(cron, local, count)) \
        or NEVER


def duration(seconds: float | None) -> str:
    return "—" if seconds is None else human_duration(seconds)


def ratio(value: float | None) -> str:
    return f"{value:.1f}x" if value else "—"


def locations(places: tuple[str, ...]) -> str:
    """The Backups tab's Where: local, s3 or local+s3."""
    return "+".join(places)


def copies(places: tuple[str, ...], s3_configured: bool) -> str:
    """Where the newest backup's copies are, on a card: with a bucket configured, whether both hold it."""
    if not s3_configured:
        return ", ".join(places)
    if "local" in places and "s3" in places:
        return "local + S3"
    if places == ("local",):
        return "local only"
    return "S3 only" if places == ("s3",) else ", ".join(places) or "nowhere"


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


def marked_id(record: BackupRecord, status: str = "") -> str:
    """The id as every list of backups shows it: its state if any, then the safety mark when it is one."""
    return record.id + status + (SAFETY_MARK if record.is_safety else "")


def id_cell(text: str, style: str = "") -> Text:
    """A ``marked_id`` for a table: the mark dimmed, the id as bright as the others (it tells rows apart)."""
    cell = Text(text, style=style, overflow="ellipsis")  # a status and a safety mark together may be cut
    if text.endswith(SAFETY_MARK):
        cell.stylize("dim", len(text) - len(SAFETY_MARK))
    return cell
