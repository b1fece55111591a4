"""Grandfather-father-son retention, computed from timestamps in one catalog.

Walking from newest to oldest, a backup is kept when it is the newest of a
calendar day (UTC) among the N newest days that have backups; likewise for ISO
weeks and months. Pinned backups and the newest valid backup are always kept.
No copying between folders: one backup can be a daily, a weekly and a monthly.

Only backups that can be trusted as restore points hold slots: one whose last
verification failed is kept for a person but holds none (else a corrupt backup
would push out the good ones of its period), and a safety backup taken before a
restore holds none (else it would push out the backup just restored from). It
is kept while the daily window still reaches its day.
Pure logic: the clock comes in as ``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from backup_tui.engine.core.models import BackupRecord, PruneDecision
from backup_tui.engine.core.sizes import plural

Bucket = Callable[[datetime], str]


@dataclass(frozen=True)
class RetentionConfig:
    """How many backups of each period to keep, per database and source."""

    daily: int = 7
    weekly: int = 4
    monthly: int = 12


def day_key(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


BUCKETS: tuple[tuple[str, Bucket], ...] = (
    ("daily", day_key),
    ("weekly", lambda t: "{}-W{:02d}".format(*t.isocalendar()[:2])),
    ("monthly", lambda t: t.strftime("%Y-%m")),
)

SAFETY_KEPT = "safety backup taken before a restore, kept while its day is in the daily window"
SAFETY_GONE = "safety backup taken before a restore, older than the daily window"


@dataclass(frozen=True)
class _Slots:
    """Who holds each kept period, per bucket name, newest period first."""

    holders: dict[str, dict[str, BackupRecord]]
    daily_limit: int

    def holder_of(self, record: BackupRecord) -> tuple[str, BackupRecord] | None:
        """The finest kept period of ``record`` and the newer backup holding it."""
        for name, bucket in BUCKETS:
            key = bucket(record.created)
            if key in self.holders[name]:
                return key, self.holders[name][key]
        return None

    def daily_window_reaches(self, record: BackupRecord) -> bool:
        """Whether the record's day is no older than the oldest daily slot; a window not yet full reaches all."""
        daily = self.holders["daily"]
        if self.daily_limit <= 0:
            return False
        return len(daily) < self.daily_limit or day_key(record.created) >= min(daily)


def plan_retention(
    records: Iterable[BackupRecord],
    policy: RetentionConfig,
    *,
    now: datetime,
    in_progress: Callable[[str], bool] = lambda database: False,
    this_host: str | None = None,
) -> list[PruneDecision]:
    """Decide keep/delete for every record, with the reasons, newest first per database and host.

    Backups of databases of the same name on two hosts are two histories: one host's newer backup
    never supersedes the other's. With ``this_host``, the other hosts' backups are planned but kept:
    each host prunes its own (its lock, its policy, its view of what runs)."""
    by_source: dict[tuple[str, str], list[BackupRecord]] = {}
    for record in records:
        by_source.setdefault((record.database, record.host), []).append(record)
    decisions: list[PruneDecision] = []
    for database, host in sorted(by_source):
        planned = _plan_database(by_source[(database, host)], policy, now, in_progress(database))
        if this_host is not None and host != this_host:
            planned = [_theirs(d, host) for d in planned]
        decisions.extend(planned)
    return decisions


def _theirs(decision: PruneDecision, host: str) -> PruneDecision:
    if decision.keep:
        return decision
    return PruneDecision(decision.record, True, (f"made on {host}: its own prune decides ({decision.reasons[0]})",))


def failed_verification(record: BackupRecord) -> str | None:
    """Why the record is known bad (its newest verification failed), or None: never verified counts as good."""
    verdict = record.verdict  # a quick pass after a failed test restore does not make it a restore point
    if verdict is None or verdict.ok:
        return None
    which = "last verification" if verdict is record.last_verification else "test restore"
    return f"{which} failed ({verdict.at}): kept for a person to look at, holds no retention slot"


def newest_valid(records: Iterable[BackupRecord], now: datetime) -> BackupRecord | None:
    """The backup retention always keeps of one database and host's ``records``: the newest trusted one dated
    before ``now``; a safety backup only when no other is. A delete asks for more than a yes to remove it."""
    ordered = sorted(records, key=lambda r: (r.created, r.id), reverse=True)
    trusted = [r for r in ordered if r.trusted and not r.dated_after(now)]
    chosen = [r for r in trusted if not r.is_safety] or trusted
    return chosen[0] if chosen else None


def outranks(other: BackupRecord, own: BackupRecord, now: datetime) -> bool:
    """``other`` is a reason ``own`` is not what ``newest_valid`` keeps of their database and host: one record
    that does is enough to know, without the rest (a delete from a bucket still being read stops there)."""
    if other.database != own.database or other.host != own.host or not other.trusted or other.dated_after(now):
        return False
    newer = (other.created, other.id) > (own.created, own.id)
    return (own.is_safety and not other.is_safety) or (newer and (own.is_safety or not other.is_safety))


def delete_guards(own: BackupRecord, listed: Iterable[BackupRecord], now: datetime, location: str) -> list[str]:
    """What retention of one repository keeps of ``own`` whatever its counts say: a pin, its newest valid
    backup (of its database and host among ``listed``). A delete asks for more than a yes past these."""
    said = ["pinned"] if own.pinned else []
    newest = newest_valid((r for r in listed if r.database == own.database and r.host == own.host), now)
    if newest is not None and newest.id == own.id:
        said.append(f"the newest valid backup of {own.database} in {location}")
    return said


def _fill_slots(counted: list[BackupRecord], policy: RetentionConfig) -> _Slots:
    """The newest backup of each of the N newest periods, per bucket, from newest-first ``counted``."""
    limits = {"daily": policy.daily, "weekly": policy.weekly, "monthly": policy.monthly}
    holders: dict[str, dict[str, BackupRecord]] = {}
    for name, bucket in BUCKETS:
        held = holders[name] = {}
        for record in counted:
            key = bucket(record.created)
            if key not in held:
                if len(held) >= limits[name]:
                    break
                held[key] = record
    return _Slots(holders, policy.daily)


def _plan_database(
    records: list[BackupRecord], policy: RetentionConfig, now: datetime, running: bool
) -> list[PruneDecision]:
    ordered = sorted(records, key=lambda r: (r.created, r.id), reverse=True)
    # A backup dated in the future holds no slot and is not the newest (it is kept, see _decide): a planted or
    # skewed date would otherwise take a daily slot and the "newest" title from the backups that are real.
    trusted = [r for r in ordered if r.trusted and not r.dated_after(now)]
    counted = [r for r in trusted if not r.is_safety]
    slots = _fill_slots(counted, policy)
    reasons: dict[str, list[str]] = {r.id: [] for r in ordered}
    newest = newest_valid(ordered, now)
    if newest is not None:
        reasons[newest.id].append("newest valid backup")
    for name, held in slots.holders.items():
        for key, record in held.items():
            reasons[record.id].append(f"{name} {key}")
    return [_decide(r, reasons[r.id], slots, policy, now, running) for r in ordered]


def _decide(
    record: BackupRecord, why: list[str], slots: _Slots, policy: RetentionConfig, now: datetime, running: bool
) -> PruneDecision:
    if record.status == "damaged":
        return PruneDecision(record, True, (f"damaged ({record.reason}): kept for an operator to inspect",))
    if record.status == "incomplete":
        if running:
            return PruneDecision(record, True, ("incomplete: a run holding the lock may be writing it",))
        return PruneDecision(record, False, ("incomplete: no manifest (interrupted run)",))
    if record.pinned:
        why.insert(0, "pinned")
    if record.dated_after(now):
        why.append("dated in the future (clock skew or a planted manifest): holds no slot, kept for a person")
    failure = failed_verification(record)
    if failure is not None:
        return PruneDecision(record, True, (failure, *why))
    if record.is_safety and slots.daily_window_reaches(record):
        why.append(SAFETY_KEPT)
    if why:
        return PruneDecision(record, True, tuple(why))
    return PruneDecision(record, False, (_why_not(record, slots, policy, now),))


def _why_not(record: BackupRecord, slots: _Slots, policy: RetentionConfig, now: datetime) -> str:
    """Why a trusted backup goes: a newer one holds its period, or it is older than every period kept."""
    if record.is_safety:
        return SAFETY_GONE
    held = slots.holder_of(record)
    if held is not None:
        key, holder = held
        return f"superseded: {holder.id} is the newer backup of {key}"
    age = (now - record.created).days
    return (f"expired: {plural(age, 'day')} old, not the newest of any of the {policy.daily} daily, "
            f"{policy.weekly} weekly or {policy.monthly} monthly periods kept")
