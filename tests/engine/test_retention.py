"""Grandfather-father-son retention over a simulated year, with an injected clock."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from backup_tui.engine.core.models import SAFETY_REASON_PREFIX, BackupRecord, PruneDecision, Verification, utc_iso
from backup_tui.engine.core.retention import (
    SAFETY_GONE,
    SAFETY_KEPT,
    RetentionConfig,
    newest_valid,
    outranks,
    plan_retention,
)


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
    kept_ids = {d.record.id for d in decisions if d.keep}
    for d in decisions:
        assert d.reasons, d
        if not d.keep and d.reasons[0].startswith("superseded: "):
            holder = d.reasons[0].split()[1]
            assert holder in kept_ids and holder > d.record.id, d  # a newer backup holding its period
        elif not d.keep:
            assert d.reasons[0].startswith("expired"), d


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


# --- backups that must not hold a slot: failed verification (P1), safety backups (P2) ---

def verified(record: BackupRecord, *results: bool) -> BackupRecord:
    """``record`` with a verification history, oldest first, one hour apart after its creation."""
    history = tuple(Verification(at=utc_iso(record.created + timedelta(hours=1 + i)), level="full", ok=ok)
                    for i, ok in enumerate(results))
    return replace(record, verifications=history)


def safety_for(restored: BackupRecord, moment: datetime) -> BackupRecord:
    """The backup restore --replace takes first, with the reason restore writes."""
    return make(moment, reason=f"{SAFETY_REASON_PREFIX} {restored.id}")


def plan(records: list[BackupRecord], now: datetime, policy: RetentionConfig | None = None) -> dict[str, PruneDecision]:
    return {d.record.id: d for d in plan_retention(records, policy or RetentionConfig(), now=now)}


def test_failed_verification_same_day_the_good_ones_keep_the_slot() -> None:
    day = datetime(2026, 11, 23, tzinfo=UTC)
    early, middle = make(day + timedelta(hours=1)), make(day + timedelta(hours=9))
    corrupt = verified(make(day + timedelta(hours=17)), False)
    decisions = plan([early, middle, corrupt], now=day + timedelta(hours=20))
    assert decisions[middle.id].keep
    assert decisions[middle.id].reasons == ("newest valid backup", "daily 2026-11-23", "weekly 2026-W48",
                                            "monthly 2026-11")
    assert decisions[corrupt.id].keep
    assert decisions[corrupt.id].reasons == ("last verification failed (2026-11-23T18:00:00Z): kept for a person "
                                             "to look at, holds no retention slot",)
    assert not decisions[early.id].keep
    assert decisions[early.id].reasons == (f"superseded: {middle.id} is the newer backup of 2026-11-23",)


def test_failed_verification_at_the_end_of_a_month_does_not_take_the_monthly() -> None:
    start = datetime(2026, 10, 1, 2, 15, tzinfo=UTC)
    records = [make(start + timedelta(days=i)) for i in range(61)]  # Oct 1 .. Nov 30
    oct30, oct31 = records[29], records[30]
    assert (oct30.created.day, oct31.created.day) == (30, 31)
    records[30] = oct31 = verified(oct31, True, False)  # passed once, then bit-flipped
    decisions = plan(records, now=records[-1].created + timedelta(hours=1))
    assert decisions[oct30.id].keep and "monthly 2026-10" in decisions[oct30.id].reasons
    assert decisions[oct31.id].keep and decisions[oct31.id].reasons[0].startswith("last verification failed")
    assert not any("monthly" in r for r in decisions[oct31.id].reasons)
    october = [d for d in decisions.values() if d.record.created.month == 10]
    assert sorted(d.record.id for d in october if d.keep) == [oct30.id, oct31.id]


def test_failed_verification_of_a_legacy_backup() -> None:
    day = datetime(2025, 6, 10, 3, 0, tzinfo=UTC)
    older, newer = (replace(make(t), status="legacy", reason="legacy daily", format="plain", compression="gzip")
                    for t in (day, day + timedelta(days=1)))
    newer = verified(newer, False)
    policy = RetentionConfig(daily=1, weekly=0, monthly=0)
    decisions = plan([older, newer], now=day + timedelta(days=2), policy=policy)
    assert decisions[older.id].keep
    assert decisions[older.id].reasons == ("newest valid backup", "daily 2025-06-10")
    assert decisions[newer.id].keep and decisions[newer.id].reasons[0].startswith("last verification failed")


def test_only_the_last_verification_counts() -> None:
    day = datetime(2026, 3, 2, tzinfo=UTC)
    policy = RetentionConfig(daily=1, weekly=0, monthly=0)
    older = make(day + timedelta(hours=1))
    for history, newer_counts in (((), True), ((True,), True), ((False, True), True), ((True, False), False)):
        newer = verified(make(day + timedelta(hours=2)), *history)
        decisions = plan([older, newer], now=day + timedelta(hours=12), policy=policy)
        holder = newer if newer_counts else older
        assert decisions[holder.id].reasons == ("newest valid backup", "daily 2026-03-02"), history
        assert decisions[newer.id].keep
        assert decisions[older.id].keep is not newer_counts, history


def test_a_quick_pass_does_not_overrule_a_failed_test_restore() -> None:
    """A quick check proves the stored bytes, not that they restore: after a failed full verification it
    gives the backup no slot back (prune would delete the older backup that does restore); a full check
    that passes again does."""
    day = datetime(2026, 3, 2, tzinfo=UTC)
    policy = RetentionConfig(daily=1, weekly=0, monthly=0)
    older = make(day + timedelta(hours=1))
    newer = make(day + timedelta(hours=2))
    full_failed = Verification(at=utc_iso(day + timedelta(hours=3)), level="full", ok=False, problems=("COPY failed",))
    quick_ok = Verification(at=utc_iso(day + timedelta(hours=4)), level="quick", ok=True)
    full_ok = Verification(at=utc_iso(day + timedelta(hours=5)), level="full", ok=True)

    newer = replace(newer, verifications=(full_failed, quick_ok))
    assert newer.failed_last_check and not newer.trusted and not newer.verified_ok
    decisions = plan([older, newer], now=day + timedelta(hours=12), policy=policy)
    assert decisions[older.id].keep and decisions[older.id].reasons == ("newest valid backup", "daily 2026-03-02")
    assert decisions[newer.id].reasons[0] == ("test restore failed (2026-03-02T03:00:00Z): kept for a person to "
                                              "look at, holds no retention slot")

    newer = replace(newer, verifications=(full_failed, quick_ok, full_ok))
    assert newer.trusted and newer.verified_ok
    decisions = plan([older, newer], now=day + timedelta(hours=12), policy=policy)
    assert not decisions[older.id].keep and decisions[newer.id].keep


def test_failed_and_pinned_says_both() -> None:
    day = datetime(2026, 3, 2, tzinfo=UTC)
    bad = verified(make(day, pinned=True), False)
    (decision,) = plan([bad], now=day + timedelta(days=400)).values()
    assert decision.keep
    assert decision.reasons[0].startswith("last verification failed") and "pinned" in decision.reasons


def test_safety_backup_does_not_push_out_the_backup_restored_from() -> None:
    day = datetime(2026, 11, 23, tzinfo=UTC)
    older = make(day + timedelta(hours=1))
    restored = make(day + timedelta(hours=2, minutes=15))
    safety = safety_for(restored, day + timedelta(hours=14))
    assert safety.is_safety and not restored.is_safety
    decisions = plan([older, restored, safety], now=day + timedelta(hours=15))
    assert decisions[restored.id].keep
    assert decisions[restored.id].reasons[:2] == ("newest valid backup", "daily 2026-11-23")
    assert decisions[safety.id].keep and decisions[safety.id].reasons == (SAFETY_KEPT,)
    assert not decisions[older.id].keep


def test_safety_backup_goes_once_its_day_leaves_the_daily_window() -> None:
    policy = RetentionConfig(daily=7, weekly=4, monthly=12)
    start = datetime(2026, 11, 23, 2, 15, tzinfo=UTC)
    restored = make(start)
    safety = safety_for(restored, start + timedelta(hours=12))
    alive = [restored, safety]
    for day in range(1, 10):
        now = start + timedelta(days=day)
        alive.append(make(now))
        decisions = plan(alive, now=now + timedelta(hours=1), policy=policy)
        alive = [d.record for d in decisions.values() if d.keep]
        if day <= 6:  # 2026-11-23 is still one of the 7 days holding a daily slot
            assert decisions[safety.id].keep and decisions[safety.id].reasons == (SAFETY_KEPT,), day
            assert "daily 2026-11-23" in decisions[restored.id].reasons
        elif day == 7:
            assert not decisions[safety.id].keep
            assert decisions[safety.id].reasons == (SAFETY_GONE,)
            assert safety not in alive
    assert all(not r.is_safety for r in alive)


def test_safety_backup_on_a_later_day_leaves_that_day_to_the_scheduled_backup() -> None:
    day = datetime(2026, 11, 23, tzinfo=UTC)
    restored = make(day - timedelta(days=3))
    scheduled = make(day + timedelta(hours=2, minutes=15))
    safety = safety_for(restored, day + timedelta(hours=14))
    decisions = plan([restored, scheduled, safety], now=day + timedelta(hours=15))
    assert decisions[scheduled.id].reasons[:2] == ("newest valid backup", "daily 2026-11-23")
    assert decisions[restored.id].keep and "daily 2026-11-20" in decisions[restored.id].reasons
    assert decisions[safety.id].reasons == (SAFETY_KEPT,)


def test_safety_backup_is_the_newest_valid_when_nothing_else_is() -> None:
    day = datetime(2026, 11, 23, tzinfo=UTC)
    corrupt = verified(make(day - timedelta(days=30)), False)
    older_safety = safety_for(corrupt, day - timedelta(days=20))
    safety = safety_for(corrupt, day)
    policy = RetentionConfig(daily=0, weekly=0, monthly=0)
    decisions = plan([corrupt, older_safety, safety], now=day + timedelta(hours=1), policy=policy)
    assert decisions[safety.id].keep and decisions[safety.id].reasons == ("newest valid backup",)
    assert not decisions[older_safety.id].keep and decisions[older_safety.id].reasons == (SAFETY_GONE,)
    assert decisions[corrupt.id].keep


def test_superseded_names_the_holder_and_expired_is_for_backups_past_every_period() -> None:
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    policy = RetentionConfig(daily=1, weekly=1, monthly=0)
    last_week = make(monday - timedelta(days=3))
    mon = make(monday + timedelta(hours=2))
    tue_early, tue_late = make(monday + timedelta(days=1, hours=2)), make(monday + timedelta(days=1, hours=9))
    decisions = plan([last_week, mon, tue_early, tue_late], now=monday + timedelta(days=1, hours=10), policy=policy)
    assert [d.keep for d in decisions.values()] == [True, False, False, False]
    assert decisions[tue_early.id].reasons == (f"superseded: {tue_late.id} is the newer backup of 2026-11-24",)
    assert decisions[mon.id].reasons == (f"superseded: {tue_late.id} is the newer backup of 2026-W48",)
    assert decisions[last_week.id].reasons == ("expired: 4 days old, not the newest of any of the 1 daily, "
                                               "1 weekly or 0 monthly periods kept",)
    gone = plan([last_week, mon, tue_late], now=monday + timedelta(days=1, hours=10),
                policy=RetentionConfig(daily=0, weekly=0, monthly=0))[mon.id]  # only the newest kept
    assert gone.reasons[0].startswith("expired: 1 day old, not"), gone.reasons


def test_two_hosts_backups_of_one_database_name_are_kept_apart() -> None:
    """'app' on web-1 and 'app' on web-2 share a repository: each keeps its own newest backup, and
    the prune of one host never deletes the other's, even what the other's policy lets go."""
    policy = RetentionConfig(daily=1, weekly=1, monthly=1)
    now = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    web1 = [make(now - timedelta(hours=h), host="web-1") for h in (1, 2)]
    web2 = [replace(make(now - timedelta(hours=h), host="web-2"), id=f"web2-{h}") for h in (5, 6)]
    decided = {d.record.id: d for d in plan_retention(web1 + web2, policy, now=now, this_host="web-1")}
    assert decided[web1[0].id].keep and "newest valid backup" in decided[web1[0].id].reasons
    assert decided["web2-5"].keep and "newest valid backup" in decided["web2-5"].reasons
    assert not decided[web1[1].id].keep, "this host's own older backup goes"
    assert decided["web2-6"].keep and decided["web2-6"].reasons[0].startswith("made on web-2: its own prune decides")
    on_web2 = {d.record.id: d.keep for d in plan_retention(web1 + web2, policy, now=now, this_host="web-2")}
    assert on_web2 == {web1[0].id: True, web1[1].id: True, "web2-5": True, "web2-6": False}


def test_a_backup_dated_in_the_future_holds_no_slot_and_costs_no_real_backup() -> None:
    """A planted or skewed date must not take the newest title or a daily slot from the real backups."""
    policy = RetentionConfig(daily=2, weekly=0, monthly=0)
    now = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    real = [make(now - timedelta(days=d)) for d in (0, 1)]
    planted = make(now + timedelta(days=400))
    decided = {d.record.id: d for d in plan_retention([*real, planted], policy, now=now)}
    assert all(decided[r.id].keep for r in real)
    assert "newest valid backup" in decided[real[0].id].reasons
    assert decided[planted.id].keep and "newest valid backup" not in decided[planted.id].reasons
    assert any(reason.startswith("dated in the future") for reason in decided[planted.id].reasons)


def test_one_record_that_outranks_a_backup_is_enough_to_know_retention_does_not_keep_it() -> None:
    """``outranks`` against ``newest_valid`` on every set of up to five records of mixed kinds: a backup is
    what newest_valid keeps exactly when nothing outranks it (what a delete from a bucket still being read uses)."""
    day = datetime(2026, 11, 23, tzinfo=UTC)
    now = day + timedelta(days=3)
    kinds: list[Callable[[datetime], BackupRecord]] = [
        make, lambda t: verified(make(t), False), lambda t: safety_for(make(day), t),
        lambda t: make(t, status="damaged"), lambda t: make(t, host="other"), lambda t: make(t, db="else"),
    ]
    cases = 0
    for picks in itertools.product(range(len(kinds)), repeat=4):
        records = [kinds[k](day + timedelta(hours=i)) for i, k in enumerate(picks)] + [make(now + timedelta(days=2))]
        for own in records:
            same = [r for r in records if r.database == own.database and r.host == own.host]
            kept = newest_valid(same, now)
            alone = own.trusted and not own.dated_after(now) and not any(outranks(r, own, now) for r in records)
            assert (kept is not None and kept.id == own.id) == alone, (own, records)
            cases += 1
    assert cases == 6 ** 4 * 5


def test_a_time_written_with_an_offset_sorts_by_when_it_was() -> None:
    """"23:00+14:00" is 09:00 UTC: a manifest of another host that writes offsets must not make a backup of
    09:00 the newer one of the day, and the 13:43 backup the one superseded."""
    day = datetime(2026, 12, 7, tzinfo=UTC)
    policy = RetentionConfig(daily=1, weekly=0, monthly=0)
    ours = make(day + timedelta(hours=13, minutes=43))
    theirs = replace(make(day + timedelta(hours=9)), id="app-20261207T090000Z-bbbb",
                     created_at="2026-12-07T23:00:00+14:00")
    decisions = plan([ours, theirs], now=day + timedelta(hours=14), policy=policy)
    assert decisions[ours.id].keep and decisions[ours.id].reasons[0] == "newest valid backup"
    assert not decisions[theirs.id].keep
