"""How long a restore will take, from recorded history only: no figure where there is nothing to go by.

A replace is two parts: the safety backup of the database being replaced (from this database's past
backups: their durations against its size then, scaled to its size now), and the restore with its
checks and swap (from past restores: ``fit_duration``). The plan says each part; its total is given
only when every part has a basis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backup_tui.engine.core.models import BackupRecord

SAFETY_BACKUP = "safety backup"
RESTORE = "restore"
HISTORY_POINTS = 20  # the newest runs only: the machine, the server and the data change


@dataclass(frozen=True)
class EstimatePart:
    """One phase of a restore and its seconds, None when no past run of a comparable size says."""

    phase: str  # SAFETY_BACKUP or RESTORE (which takes in its checks and the swap)
    seconds: float | None


def fit_duration(points: Sequence[tuple[float, float]], size: int) -> float | None:
    """Seconds for ``size`` bytes, from (bytes, seconds) of past runs.

    A run costs a fixed part (create, counts, connections) plus a part per byte. With sizes
    that differ enough (4x), a least-squares line tells the two apart. Otherwise the history only
    speaks for runs of about its own size: scale by the bytes within 4x of it, and give no
    figure beyond (a mean of rates made a 400 MB restore after a few 3 MB ones look ten times
    slower than it was).
    """
    if not points or size <= 0:
        return None
    sizes = [x for x, _ in points]
    if len(points) >= 2 and max(sizes) >= 4 * min(sizes):
        n = len(points)
        mean_x, mean_y = sum(sizes) / n, sum(y for _, y in points) / n
        var = sum((x - mean_x) ** 2 for x in sizes)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var
        if slope > 0:
            fixed = max(0.0, mean_y - slope * mean_x)
            return round(fixed + slope * size, 1)
    if not min(sizes) / 4 <= size <= max(sizes) * 4:
        return None
    return round(size * sum(y for _, y in points) / sum(sizes), 1)


def backup_points(records: Iterable[BackupRecord]) -> list[tuple[float, float]]:
    """(database size when it was taken, seconds it took) of past backups, newest first as given; a record
    that does not say its database's size (legacy, or an old manifest) or says nonsense gives no point."""
    points = []
    for record in records:
        try:
            size = float(record.database_bytes)
            seconds = float(record.duration_s)
        except (TypeError, ValueError, OverflowError):  # the repository's word: a manifest may say anything
            continue
        if size > 0 and math.isfinite(seconds) and seconds > 0:
            points.append((size, seconds))
        if len(points) == HISTORY_POINTS:
            break
    return points


def safety_backup_seconds(own: Iterable[BackupRecord], others: Iterable[BackupRecord], db_bytes: int) -> float | None:
    """The safety backup of a ``db_bytes`` database: from its own past backups; when it has none that say
    their size, from the other databases' on this repository (the same machine and tool); else None."""
    points = backup_points(own) or backup_points(others)
    return fit_duration(points, db_bytes)


def total_seconds(parts: Sequence[EstimatePart]) -> float | None:
    """The whole, only when every part has a basis: a total that leaves out the longest phase misleads."""
    if not parts or any(part.seconds is None for part in parts):
        return None
    return round(sum(part.seconds or 0.0 for part in parts), 1)


def estimate_said(parts: Sequence[EstimatePart], duration: Callable[[float], str]) -> str:
    """The plan's time, in the same words in the app and the CLI: a replace's parts named, on one line of
    an 80-column page."""
    total = total_seconds(parts)
    if len(parts) <= 1:
        return (f"about {duration(total)} (from past restores)" if total is not None
                else "no estimate yet: no past restore of a comparable size to go by")
    known = ", ".join(f"{part.phase} {duration(part.seconds)}" for part in parts if part.seconds is not None)
    if total is not None:
        return f"about {duration(total)} ({known})"
    missing = " or ".join("backup" if part.phase == SAFETY_BACKUP else "restore" for part in parts
                          if part.seconds is None)
    return f"no estimate yet: no past {missing} of a comparable size" + (f" ({known})" if known else "")
