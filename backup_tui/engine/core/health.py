"""Health of each configured database, from its backups alone.

Pure: the caller passes the records and the moment, so the dashboard, headless
and the tests all judge the same way.

Rules (in order of severity):
- failing: no valid backup; the newest valid one is older than the expected
  interval (no schedule is configured yet: daily, with two hours of slack);
  the newest valid one is dated in the future (it would keep the first rule
  quiet forever: clock skew, or a manifest planted to do just that; the
  staleness rule then judges the newest one dated before now); the newest
  valid backup's last verification failed.
- warning: an older backup's last verification failed (whenever that check
  ran: a later check of another backup does not hide it); a damaged backup,
  however old (never deleted automatically, so a person must look); no
  backup was ever verified; the newest backup's size is an anomaly (more
  than half off the median of the ones before it); the newest attempt left
  an incomplete backup.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import humanize

from backup_tui.engine.core.models import BackupRecord, Verification, parse_utc

HealthStatus = Literal["ok", "warning", "failing"]
DAILY = timedelta(hours=26)
TREND_LENGTH = 30
ANOMALY_WINDOW = 10
ANOMALY_TOLERANCE = 0.5  # more than 50% off the median of the previous backups
FUTURE_DATED = "newest backup is dated in the future (clock skew or a planted manifest)"


@dataclass(frozen=True)
class Health:
    """What the dashboard shows for one database."""

    database: str
    status: HealthStatus
    reasons: tuple[str, ...]
    last_backup: BackupRecord | None
    last_verification: Verification | None  # the most recent verification of any of its backups
    sizes: tuple[int, ...]  # stored bytes of the last valid backups, oldest first
    anomalies: tuple[int, ...]  # indexes into ``sizes``
    locations: tuple[str, ...]
    last_verified_id: str | None = None  # the backup ``last_verification`` is about

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "all checks pass"


def human_duration(seconds: float) -> str:
    """'0.4 s', '12.0 s', '3 min 05 s', '2 h 10 min': the same words in the terminal app and the CLI."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def humanize_age(delta: timedelta) -> str:
    """'just now', '5 minutes ago', 'a day ago', '2 months ago', '1 year, 2 months ago' (humanize's words);
    a moment after now reads 'in the future', which is itself a problem (see FUTURE_DATED)."""
    if delta < timedelta(0):
        return "in the future"
    if delta < timedelta(minutes=1):
        return "just now"
    # Whole units, as a clock reads: 9 h 40 min is '9 hours ago' (humanize would round it up to 10).
    unit = next(u for u in (timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)) if delta >= u)
    return humanize.naturaltime(delta // unit * unit, months=False)  # "26 days ago", not "a month ago"


def size_anomalies(sizes: Sequence[int], window: int = ANOMALY_WINDOW,
                   tolerance: float = ANOMALY_TOLERANCE) -> tuple[int, ...]:
    """Indexes whose size is more than ``tolerance`` off the median of the ``window`` before them."""
    found = []
    for i in range(3, len(sizes)):
        median = statistics.median(sizes[max(0, i - window):i])
        if median > 0 and abs(sizes[i] - median) / median > tolerance:
            found.append(i)
    return tuple(found)


def _latest_verification(records: Iterable[BackupRecord]) -> tuple[BackupRecord, Verification] | None:
    best: tuple[BackupRecord, Verification] | None = None
    for record in records:
        for verification in record.verifications:
            if best is None or verification.at > best[1].at:
                best = (record, verification)
    return best


def assess(database: str, records: Sequence[BackupRecord], now: datetime,
           expected_interval: timedelta = DAILY, host: str | None = None) -> Health:
    """Judge one database from its records (any order, any database: others are ignored). With ``host``,
    only that host's backups count: 'app' on another host sharing the repository is another history."""
    mine = sorted((r for r in records if r.database == database and (host is None or r.host in (host, ""))),
                  key=lambda r: r.created_at, reverse=True)
    valid = [r for r in mine if r.is_valid]
    sizes = tuple(r.stored_bytes for r in reversed(valid[:TREND_LENGTH]))
    anomalies = size_anomalies(sizes)
    latest = _latest_verification(valid)
    failing: list[str] = []
    warnings: list[str] = []
    newest = valid[0] if valid else None
    dated = [r for r in valid if not r.dated_after(now)]  # what the staleness rule may believe
    if newest is None:
        failing.append("no valid backup")
    elif newest is not (dated[0] if dated else None):
        failing.append(FUTURE_DATED)
    if dated and now - dated[0].created > expected_interval:
        failing.append(f"last backup {humanize_age(now - dated[0].created)} (expected daily)")
    bad = [r for r in valid if r.failed_last_check]  # by each backup's own last check, not by when it ran
    if bad:
        (failing if bad[0] is newest else warnings).append(_failed_check(bad))
    damaged = [r for r in mine if r.status == "damaged"]
    if damaged:
        more = f" (+{len(damaged) - 1} more damaged)" if len(damaged) > 1 else ""
        warnings.append(f"{'newest attempt' if damaged[0] is mine[0] else 'backup'} {damaged[0].id} is damaged{more}")
    if newest is not None and not any(v.ok for r in valid for v in r.verifications):
        warnings.append("no backup has been verified")
    if sizes and anomalies and anomalies[-1] == len(sizes) - 1:
        median = statistics.median(sizes[max(0, len(sizes) - 1 - ANOMALY_WINDOW):-1])
        change = (sizes[-1] - median) / median
        warnings.append(f"newest backup is {abs(change):.0%} {'larger' if change > 0 else 'smaller'} than usual")
    if mine and mine[0].status == "incomplete":
        warnings.append(f"newest attempt {mine[0].id} is incomplete")
    status: HealthStatus = "failing" if failing else "warning" if warnings else "ok"
    return Health(
        database=database,
        status=status,
        reasons=tuple(failing + warnings),
        last_backup=newest,
        last_verification=latest[1] if latest else None,
        sizes=sizes,
        anomalies=anomalies,
        locations=newest.locations if newest else (),
        last_verified_id=latest[0].id if latest else None,
    )


def _failed_check(bad: Sequence[BackupRecord]) -> str:
    """'verification of <id> failed: <first problem>', for the newest backup whose last check failed."""
    last = bad[0].last_verification
    problem = last.problems[0] if last is not None and last.problems else "failed"
    more = f" (+{len(bad) - 1} more failed checks)" if len(bad) > 1 else ""
    return f"verification of {bad[0].id} failed: {problem}{more}"


def assess_all(databases: Iterable[str], records: Sequence[BackupRecord], now: datetime,
               expected_interval: timedelta = DAILY, host: str | None = None) -> list[Health]:
    return [assess(db, records, now, expected_interval, host) for db in databases]


def verified_at(verification: Verification) -> datetime:
    return parse_utc(verification.at)
