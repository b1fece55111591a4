"""Grandfather-father-son retention over a simulated year, with an injected clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from backup_tui.engine.config import RetentionConfig
from backup_tui.engine.models import BackupRecord, utc_iso
from backup_tui.engine.retention import plan_retention


def make(moment: datetime, db: str = "app", **kw: object) -> BackupRecord:
    return BackupRecord(
        id=f"{db}-{moment:%Y%m%dT%H%M%SZ}", database=db, created_at=utc_iso(moment), finished_at=utc_iso(moment),
        duration_s=1.0, format="custom", compression="zstd", raw_bytes=100, stored_bytes=10, sha256="0" * 64,
        file_name="x.dump.zst", **kw,  # type: ignore[arg-type]
    )


def expected_keep(created: list[datetime], policy: RetentionConfig) -> set[datetime]:
    """An independent statement of the rule: newest per period, for the N newest periods."""
    keep = {max(created)}
    for count, key in ((policy.daily, lambda t: t.date()), (policy.weekly, lambda t: t.isocalendar()[:2]),
                       (policy.monthly, lambda t: (t.year, t.month))):
        periods: dict[object, datetime] = {}
        for t in created:
            periods[key(t)] = max(periods.get(key(t), t), t)
        newest = sorted(periods.values(), reverse=True)[:count]
        keep.update(newest)
    return keep


def test_simulated_year_keeps_exactly_the_right_set() -> None:
    policy = RetentionConfig(daily=7, weekly=4, monthly=12)
    start = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
    alive: list[BackupRecord] = []
    ever: list[datetime] = []
    for day in range(365):
        now = start + timedelta(days=day)
        alive.append(make(now))
        if day % 3 == 0:  # a second, manual backup some days: only the newest of the day is the daily
            alive.append(make(now + timedelta(hours=5)))
        ever.extend(r.created for r in alive[-2:] if r.created not in ever)
        decisions = plan_retention(alive, policy, now=now + timedelta(hours=6))
        alive = [d.record for d in decisions if d.keep]
    created = [r.created for r in alive]
    # Pruning every day leaves exactly what the rule keeps from every backup ever taken...
    assert set(created) == expected_keep(ever, policy)
    # ...and that is the right set: 7 newest days, 4 newest weeks, 12 newest months.
    days = {t.date() for t in created}
    last = start + timedelta(days=364)
    for back in range(7):
        assert (last - timedelta(days=back)).date() in days
    months = {(t.year, t.month) for t in created}
    assert len(months) == 12
    assert len(alive) <= 7 + 4 + 12
    assert len(alive) >= 12


def test_full_year_in_one_pass_matches_independent_rule() -> None:
    policy = RetentionConfig(daily=7, weekly=4, monthly=12)
    start = datetime(2025, 3, 3, 1, 30, tzinfo=UTC)
    records = [make(start + timedelta(hours=13 * i)) for i in range(700)]
    now = records[-1].created + timedelta(hours=1)
    decisions = plan_retention(records, policy, now=now)
    kept = {d.record.created for d in decisions if d.keep}
    assert kept == expected_keep([r.created for r in records], policy)
    for d in decisions:
        assert d.reasons, d
        if not d.keep:
            assert d.reasons[0].startswith("expired")


def test_pinned_and_newest_valid_are_never_deleted() -> None:
    policy = RetentionConfig(daily=0, weekly=0, monthly=0)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    old_pinned = make(base, pinned=True)
    middle = make(base + timedelta(days=3))
    newest = make(base + timedelta(days=10))
    broken_newer = replace(make(base + timedelta(days=11)), status="incomplete")
    decisions = {d.record.id: d for d in plan_retention([old_pinned, middle, newest, broken_newer], policy,
                                                       now=base + timedelta(days=12))}
    assert decisions[old_pinned.id].keep and "pinned" in decisions[old_pinned.id].reasons
    assert decisions[newest.id].keep and "newest valid backup" in decisions[newest.id].reasons
    assert not decisions[middle.id].keep
    assert not decisions[broken_newer.id].keep  # incomplete, no run holds the lock


def test_incomplete_is_spared_while_a_run_holds_the_lock_and_damaged_is_kept() -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    running = replace(make(base), status="incomplete")
    damaged = replace(make(base - timedelta(days=400)), status="damaged",
                      reason="manifest altered: its checksum does not match")
    decisions = plan_retention([running, damaged], RetentionConfig(), now=base, in_progress=lambda db: True)
    assert all(d.keep for d in decisions)
    assert decisions[-1].reasons[0].startswith("damaged (manifest altered")  # what is wrong, not a guess


def test_databases_are_independent() -> None:
    base = datetime(2026, 5, 1, tzinfo=UTC)
    records = [make(base + timedelta(days=i), db) for i in range(3) for db in ("a", "b")]
    decisions = plan_retention(records, RetentionConfig(daily=1, weekly=0, monthly=0), now=base + timedelta(days=5))
    kept = sorted(d.record.id for d in decisions if d.keep)
    assert kept == ["a-20260503T000000Z", "b-20260503T000000Z"]
