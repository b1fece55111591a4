"""Grandfather-father-son retention, computed from timestamps in one catalog.

Walking from newest to oldest, a backup is kept when it is the newest of a
calendar day (UTC) among the N newest days that have backups; likewise for ISO
weeks and months. Pinned backups and the newest valid backup are always kept.
No copying between folders: one backup can be a daily, a weekly and a monthly.
Pure logic: the clock comes in as ``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from backup_tui.engine.config import RetentionConfig
from backup_tui.engine.models import BackupRecord, PruneDecision

Bucket = Callable[[datetime], str]

BUCKETS: tuple[tuple[str, Bucket], ...] = (
    ("daily", lambda t: t.strftime("%Y-%m-%d")),
    ("weekly", lambda t: "{}-W{:02d}".format(*t.isocalendar()[:2])),
    ("monthly", lambda t: t.strftime("%Y-%m")),
)


def plan_retention(
    records: Iterable[BackupRecord],
    policy: RetentionConfig,
    *,
    now: datetime,
    in_progress: Callable[[str], bool] = lambda database: False,
) -> list[PruneDecision]:
    """Decide keep/delete for every record, with the reasons, newest first per database."""
    by_db: dict[str, list[BackupRecord]] = {}
    for record in records:
        by_db.setdefault(record.database, []).append(record)
    decisions: list[PruneDecision] = []
    for database in sorted(by_db):
        decisions.extend(_plan_database(by_db[database], policy, now, in_progress(database)))
    return decisions


def _plan_database(
    records: list[BackupRecord], policy: RetentionConfig, now: datetime, running: bool
) -> list[PruneDecision]:
    ordered = sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)
    valid = [r for r in ordered if r.is_valid]
    reasons: dict[str, list[str]] = {r.id: [] for r in ordered}
    if valid:
        reasons[valid[0].id].append("newest valid backup")
    limits = {"daily": policy.daily, "weekly": policy.weekly, "monthly": policy.monthly}
    for name, bucket in BUCKETS:
        remaining, last_key = limits[name], None
        for record in valid:
            if remaining <= 0:
                break
            key = bucket(record.created)
            if key != last_key:
                reasons[record.id].append(f"{name} {key}")
                remaining -= 1
                last_key = key
    decisions = []
    for record in ordered:
        why = reasons[record.id]
        if record.pinned:
            why.insert(0, "pinned")
        if record.is_valid and record.created > now:
            why.append("dated in the future (clock skew?)")
        if record.status == "damaged":
            decisions.append(PruneDecision(record, True, (f"damaged ({record.reason}): kept for an operator "
                                                          "to inspect",)))
        elif record.status == "incomplete":
            if running:
                decisions.append(PruneDecision(record, True, ("incomplete: a run holding the lock may be "
                                                              "writing it",)))
            else:
                decisions.append(PruneDecision(record, False, ("incomplete: no manifest (interrupted run)",)))
        elif why:
            decisions.append(PruneDecision(record, True, tuple(why)))
        else:
            age = (now - record.created).days
            decisions.append(PruneDecision(record, False, (
                f"expired: {age} days old, not the newest of any of the {policy.daily} daily, "
                f"{policy.weekly} weekly or {policy.monthly} monthly periods kept",
            )))
    return decisions
