"""Health, attacked: a backup dated in the future must not hush the staleness alarm, and a damaged backup or a
failed check reaches the dashboard whatever its position in the catalog and whenever the check ran."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from backup_tui.engine.core.health import FUTURE_DATED, HealthReport, assess
from backup_tui.engine.core.models import FUTURE_SLACK, BackupRecord, Verification, utc_iso
from backup_tui.engine.ops.metrics import samples
from backup_tui.tui.widgets.dashboard import alerts_text, card_text
from tests.tui.fixtures import NOW, PAGILA_TABLES, _record

DAY = timedelta(days=1)


def _daily(days: int, *, stale_by: timedelta = timedelta(0)) -> list[BackupRecord]:
    """One backup a day at 02:00, the newest ``stale_by`` before today's, newest first."""
    last = NOW.replace(hour=2, minute=0) - stale_by
    return [_record("app", last - i * DAY, 2_000_000, took=1.0, tables=PAGILA_TABLES) for i in range(days)]


def _check(at: datetime, ok: bool) -> Verification:
    return Verification(at=utc_iso(at), level="full" if ok else "quick", ok=ok, checks=("sha256",),
                        problems=() if ok else ("sha256 does not match",), duration_s=0.1)


def _planted(records: list[BackupRecord], ahead: timedelta) -> list[BackupRecord]:
    """A copy of the newest backup with a manifest dated ``ahead`` of now (as a wrong clock or an attacker)."""
    moment = NOW + ahead
    planted = _record("app", moment, 2_000_000, took=1.0, tables=PAGILA_TABLES,
                      verifications=(_check(moment, True),))
    return [planted, *records]


@pytest.mark.parametrize("ahead", [FUTURE_SLACK + timedelta(seconds=1), timedelta(hours=1), 400 * DAY,
                                   3650 * DAY])
def test_a_backup_dated_in_the_future_never_hides_that_backups_stopped(ahead: timedelta) -> None:
    stale = _daily(10, stale_by=5 * DAY)
    assert assess("app", stale, NOW).status == "failing"  # without the planted one: the alarm rings
    health = assess("app", _planted(stale, ahead), NOW)
    assert health.status == "failing"
    assert FUTURE_DATED in health.reasons
    assert any(r.startswith("last backup 5 days ago") for r in health.reasons), health.reasons


def test_the_age_metrics_read_the_newest_backup_dated_before_now_not_a_future_dated_one() -> None:
    """An alert on the age series (``backup_tui_last_backup_age_seconds > 26 h``) rings for stopped backups with
    a planted future manifest too: the series was that manifest's, negative, for as long as its date lay ahead."""
    stale = _daily(10, stale_by=5 * DAY)
    health = assess("app", _planted(stale, 400 * DAY), NOW)
    found = {name: value for name, _, _, value in samples(HealthReport(checked_at=NOW, host="h", databases=(health,)))}
    assert found["last_backup_age_seconds"] == (NOW - stale[0].created).total_seconds() > 5 * DAY.total_seconds()
    assert found["last_backup_timestamp_seconds"] == stale[0].created.timestamp()


@pytest.mark.parametrize("ahead", [timedelta(hours=1), 3650 * DAY])
def test_a_future_dated_backup_is_a_problem_even_when_backups_are_fresh(ahead: timedelta) -> None:
    fresh = [replace(r, verifications=(_check(r.created + timedelta(minutes=5), True),)) for r in _daily(5)]
    assert assess("app", fresh, NOW).status == "ok"
    health = assess("app", _planted(fresh, ahead), NOW)
    assert (health.status, health.reasons[0]) == ("failing", FUTURE_DATED)
    assert "in the future" in card_text(health, NOW, None, busy=False).plain
    assert FUTURE_DATED in alerts_text([health]).plain


def test_clock_jitter_within_the_slack_is_not_an_alarm() -> None:
    fresh = [replace(r, verifications=(_check(r.created + timedelta(minutes=5), True),)) for r in _daily(5)]
    health = assess("app", _planted(fresh, FUTURE_SLACK - timedelta(seconds=1)), NOW)
    assert health.status == "ok", health.reasons


def _with_checks(old_index: int, old_ok: bool, newest_ok: bool, old_first: bool) -> list[BackupRecord]:
    records = _daily(8)
    early, late = NOW - timedelta(hours=3), NOW - timedelta(hours=1)
    old_at, new_at = (early, late) if old_first else (late, early)
    records[0] = replace(records[0], verifications=(_check(new_at, newest_ok),))
    records[old_index] = replace(records[old_index], verifications=(_check(old_at, old_ok),))
    return records


@pytest.mark.parametrize("old_index", [1, 4, 7])
def test_an_older_failed_check_is_a_warning_whenever_it_ran(old_index: int) -> None:
    verdicts = set()
    for old_first in (True, False):
        health = assess("app", _with_checks(old_index, old_ok=False, newest_ok=True, old_first=old_first), NOW)
        verdicts.add((health.status, health.reasons))
        failed_id = _daily(8)[old_index].id
        assert health.status == "warning"
        assert any(f"verification of {failed_id} failed" in r for r in health.reasons)
        assert failed_id in alerts_text([health]).plain
    assert len(verdicts) == 1  # the order the checks ran in changes nothing


@pytest.mark.parametrize("old_index", [1, 4, 7])
def test_a_failed_check_of_the_newest_is_failing_whatever_passed_since(old_index: int) -> None:
    for old_first in (True, False):
        health = assess("app", _with_checks(old_index, old_ok=True, newest_ok=False, old_first=old_first), NOW)
        assert health.status == "failing"
        assert health.reasons[0].startswith(f"verification of {_daily(8)[0].id} failed")


def test_a_failed_check_passed_again_is_no_longer_a_problem() -> None:
    records = _with_checks(3, old_ok=False, newest_ok=True, old_first=True)
    records[3] = replace(records[3], verifications=(*records[3].verifications, _check(NOW, True)))
    assert assess("app", records, NOW).status == "ok"


def test_a_backup_known_not_to_restore_is_no_restore_point_for_recovery_or_the_data_loss_window() -> None:
    """The newest backup passed a test restore, then its bytes failed a quick check (a bit flipped): the
    recovery evidence and the data-loss window both go to the next backup that restores; with none, there is
    no restore point at all (None), not the failed one's age."""
    records = _daily(3)
    restored = Verification(at=utc_iso(NOW - timedelta(hours=5)), level="full", ok=True, duration_s=42.0)
    flipped = _check(NOW - timedelta(hours=1), False)
    records[0] = replace(records[0], verifications=(restored, flipped))
    records[1] = replace(records[1], verifications=(replace(restored, duration_s=7.0),))
    health = assess("app", records, NOW)
    assert health.recovery is not None and health.recovery[0] == records[1].id
    assert health.data_loss_s == (NOW - records[1].created).total_seconds()

    only = [records[0]]
    health = assess("app", only, NOW)
    assert health.recovery is None and health.data_loss_s is None and health.status == "failing"


@pytest.mark.parametrize("position", [0, 1, 3, 7])
def test_a_damaged_backup_reaches_the_dashboard_wherever_it_is(position: int) -> None:
    records = [replace(r, verifications=(_check(r.created + timedelta(minutes=5), True),)) for r in _daily(8)]
    damaged_id = records[position].id
    records[position] = replace(records[position], status="damaged", verifications=())
    health = assess("app", records, NOW)
    assert health.status == ("failing" if position == 0 else "warning")  # today's being damaged: yesterday's is stale
    assert [r for r in health.reasons if damaged_id in r and "damaged" in r], health.reasons
    assert damaged_id in alerts_text([health]).plain


def test_several_problems_are_all_counted() -> None:
    records = _daily(8)
    for i in (2, 5):
        records[i] = replace(records[i], status="damaged")
    for i in (1, 3, 6):
        records[i] = replace(records[i], verifications=(_check(NOW - timedelta(hours=i), False),))
    records[0] = replace(records[0], verifications=(_check(NOW, True),))
    reasons = assess("app", records, NOW).reasons
    assert f"verification of {records[1].id} failed: sha256 does not match (+2 more failed checks)" in reasons
    assert f"backup {records[2].id} is damaged (+1 more damaged)" in reasons


def test_every_mix_of_checks_gives_one_verdict_regardless_of_when_they_ran() -> None:
    """The property behind the two tests above, over every pass/fail mix of three backups' last checks."""
    for results in itertools.product([True, False], repeat=3):
        verdicts = set()
        for order in itertools.permutations(range(3)):
            records = _daily(3)
            for rank, index in enumerate(order):
                records[index] = replace(records[index],
                                         verifications=(_check(NOW - timedelta(hours=3 - rank), results[index]),))
            health = assess("app", records, NOW)
            verdicts.add((health.status, tuple(r for r in health.reasons)))
        assert len(verdicts) == 1, (results, verdicts)


def test_another_hosts_backups_of_the_same_name_are_another_history() -> None:
    """'app' on web-2 backed up an hour ago does not make web-1's 'app', last backed up a week ago, healthy."""
    mine = replace(_record("app", NOW - 7 * DAY, 10_000, took=1.0, tables={}), host="web-1")
    theirs = replace(_record("app", NOW - timedelta(hours=1), 10_000, took=1.0, tables={}), id="app-2", host="web-2")
    assert assess("app", [mine, theirs], NOW, host="web-1").status == "failing"
    assert assess("app", [mine, theirs], NOW, host="web-2").status != "failing"
