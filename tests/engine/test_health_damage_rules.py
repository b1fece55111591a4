"""A problem about one backup names it, and its advice is the remedy that clears it: a damaged backup with a
newer one checked good is a warning whose remedy is deleting it; a damaged backup with no good one after it is
critical until a newer backup passes a check; a verify that found damage is judged by the backup's recorded
check, not by its run (whose advice, ``verify --all``, would fail again on the damaged backup for ever)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from backup_tui.engine.core.errors import EXIT_FAILED, EXIT_VERIFY
from backup_tui.engine.core.health import Health, Problem, Surroundings, assess
from backup_tui.engine.core.models import BackupRecord, Verification, parse_utc, utc_iso
from backup_tui.engine.core.notices import problem_notice
from backup_tui.engine.core.runs import RunRecord
from backup_tui.tui.screens.problems import problems_text
from backup_tui.tui.widgets.dashboard import alerts_text, card_text
from tests.tui.fixtures import NOW, PAGILA_TABLES, _record

DAY = timedelta(days=1)
BIT_FLIP = "checksum mismatch: the stored bytes changed since the backup (bit flip?)"


def _daily(days: int) -> list[BackupRecord]:
    """One backup a day at 02:00, newest first, the newest fully verified at 03:00."""
    last = NOW.replace(hour=2, minute=0)
    records = [_record("app", last - i * DAY, 2_000_000, took=1.0, tables=PAGILA_TABLES) for i in range(days)]
    records[0] = replace(records[0], verifications=(_check(last + timedelta(hours=1), True),))
    return records


def _check(at: datetime, ok: bool) -> Verification:
    return Verification(at=utc_iso(at), level="full" if ok else "quick", ok=ok, duration_s=0.5,
                        problems=() if ok else (BIT_FLIP,), checks=("sha256",) if ok else ())


def _failed(record: BackupRecord, at: datetime = NOW - timedelta(hours=1)) -> BackupRecord:
    return replace(record, verifications=(*record.verifications, _check(at, False)))


def _verify_run(backup_id: str, exit_code: int, at: datetime, error: str) -> RunRecord:
    return RunRecord(operation="verify", database="app", host="h", pid=1, front_end="backup-headless",
                     started_at=utc_iso(at - timedelta(seconds=3)), finished_at=utc_iso(at), duration_s=3.0,
                     ok=exit_code == 0, exit_code=exit_code, error=error, backup_id=backup_id)


def _only(health: Health) -> Problem:
    assert len(health.problems) == 1, health.problems
    return health.problems[0]


def _said_everywhere(health: Health, backup_id: str) -> None:
    """The card, the alerts line and the Problems screen all name the backup (they read the same rules); the
    card, which is the database's, by its time and suffix, as its other lines name backups."""
    assert backup_id.removeprefix(f"{health.database}-") in card_text(health, NOW, None, busy=False).plain
    assert backup_id in alerts_text([health]).plain
    assert backup_id in problems_text([health]).plain


def test_an_older_damaged_backup_with_a_newer_one_checked_is_a_warning_whose_remedy_is_deleting_it() -> None:
    records = _daily(5)
    records[2] = _failed(records[2])
    damaged = records[2].id
    problem = _only(assess("app", records, NOW))
    assert (problem.severity, problem.rule, problem.backup_id) == ("warning", "older_failed_check", damaged)
    assert damaged in problem.message and BIT_FLIP in problem.message
    assert f"backup-headless delete {damaged}" in problem.advice and records[0].id in problem.advice
    assert "verify" not in problem.advice.replace(records[0].id, "")  # no check that is bound to fail again
    _said_everywhere(assess("app", records, NOW), damaged)
    deleted = [r for r in records if r.id != damaged]
    assert assess("app", deleted, NOW).status == "ok"  # the remedy done, the problem is gone


def test_a_pinned_damaged_backup_is_told_the_delete_that_goes_past_the_pin() -> None:
    records = _daily(5)
    records[3] = replace(_failed(records[3]), pinned=True)
    assert _only(assess("app", records, NOW)).advice.count(f"backup-headless delete {records[3].id} --force") == 1


def test_a_damaged_newest_backup_stays_critical_until_a_newer_backup_passes_a_check() -> None:
    records = _daily(5)
    records[0] = _failed(records[0])
    damaged = records[0].id
    health = assess("app", records, NOW)
    problem = _only(health)
    assert (health.status, problem.rule, problem.backup_id) == ("failing", "failed_check", damaged)
    assert "take a new backup now (backup-headless backup --database app) and verify it" in problem.advice
    _said_everywhere(health, damaged)

    later = NOW + timedelta(hours=2)
    new = _record("app", NOW + timedelta(hours=1), 2_000_000, took=1.0, tables=PAGILA_TABLES)
    taken = assess("app", [new, *records], later)  # taken, not yet checked: nothing good is known after it
    assert [(p.severity, p.rule) for p in taken.problems] == [("critical", "failed_check")]
    assert taken.problems[0].advice.startswith(f"verify a newer backup: backup-headless verify {new.id}")

    checked = replace(new, verifications=(_check(later, True),))
    calmer = _only(assess("app", [checked, *records], later))
    assert (calmer.severity, calmer.rule, calmer.backup_id) == ("warning", "older_failed_check", damaged)
    assert assess("app", [checked, *records[1:]], later).status == "ok"  # and deleting it clears that


def test_a_damaged_backup_checked_good_again_is_no_problem() -> None:
    records = _daily(3)
    records[0] = _failed(records[0])
    records[0] = replace(records[0], verifications=(*records[0].verifications, _check(NOW, True)))
    assert assess("app", records, NOW).status == "ok"


def test_a_verify_that_found_damage_is_judged_by_the_backups_check_not_by_its_run() -> None:
    """The trial's case: 'verify failed ...' named no backup, and verify --all failed again for ever."""
    records = _daily(5)
    records[2] = _failed(records[2])
    damaged = records[2].id
    runs = [_verify_run(records[0].id, 0, NOW - 2 * DAY, ""),
            _verify_run(damaged, EXIT_VERIFY, NOW - timedelta(hours=1), BIT_FLIP)]
    health = assess("app", records, NOW, around=Surroundings(runs=runs))
    problem = _only(health)
    assert (problem.rule, problem.backup_id) == ("older_failed_check", damaged)
    assert "--all" not in problem.advice
    assert health.last_run == runs[-1]
    # verify --all ran again: the damaged one fails again, last; the others pass. Nothing changes.
    again = [*runs, _verify_run(records[0].id, 0, NOW, ""), _verify_run(damaged, EXIT_VERIFY, NOW, BIT_FLIP)]
    assert assess("app", records, NOW, around=Surroundings(runs=again)).problems == health.problems
    gone = [r for r in records if r.id != damaged]  # deleted: the journal still holds its failed runs
    assert assess("app", gone, NOW, around=Surroundings(runs=again)).status == "ok"


def test_a_verify_that_could_not_judge_is_a_failed_run_naming_its_backup_and_the_check_to_run_again() -> None:
    records = _daily(5)
    target = records[1].id
    runs = [_verify_run(records[0].id, 0, NOW - DAY, ""),
            _verify_run(target, EXIT_FAILED, NOW - timedelta(hours=2), "S3 at s3://b unreachable"),
            _verify_run(target, EXIT_FAILED, NOW - timedelta(hours=1), "S3 at s3://b unreachable")]
    health = assess("app", records, NOW, around=Surroundings(runs=runs))
    problem = _only(health)
    assert (problem.severity, problem.rule, problem.backup_id) == ("critical", "failed_run", target)
    when = parse_utc(runs[-1].finished_at).strftime("%Y-%m-%d %H:%M UTC")
    assert problem.message.startswith(f"verify of {target} failed: ")
    assert problem.message.endswith(f"(at {when}, 2 runs in a row)")
    assert problem.advice.endswith(f"then run backup-headless verify {target}")
    _said_everywhere(health, target)
    fixed = [*runs, _verify_run(target, 0, NOW, "")]
    assert assess("app", records, NOW, around=Surroundings(runs=fixed)).status == "ok"


def test_a_damaged_manifest_is_told_the_delete_that_removes_it() -> None:
    records = _daily(5)
    records[3] = replace(records[3], status="damaged")
    problem = _only(assess("app", records, NOW))
    assert (problem.severity, problem.rule, problem.backup_id) == ("warning", "damaged", records[3].id)
    assert f"then delete it: backup-headless delete {records[3].id}" in problem.advice
    # first the way to its data: a backup that lost only its manifest may be the one copy of its day
    assert f"backup-headless restore {records[3].id} says how to load it by hand" in problem.advice


def test_a_notice_names_the_backup_its_problem_is_about() -> None:
    records = _daily(5)
    records[0] = _failed(records[0])
    notice = problem_notice(_only(assess("app", records, NOW)), "web-1", None)
    assert records[0].id in notice.title and f"problem:     verification of {records[0].id}" in notice.body


def test_an_incomplete_attempt_is_told_what_removes_it_on_the_disk_and_in_the_bucket() -> None:
    """A streamed backup's leftover in the bucket said "the next backup removes it", which it never does: prune
    removes a bucket place without its manifest once the bucket's lock time has passed."""
    attempt = replace(_record("app", NOW - timedelta(minutes=30), 2_000_000, took=1.0, tables=PAGILA_TABLES),
                      status="incomplete")
    for locations, remover in ((("local",), "the next backup removes it"),
                               (("s3",), "prune removes it from the bucket once [s3] lock_ttl_seconds have passed")):
        problem = _only(assess("app", [replace(attempt, locations=locations), *_daily(2)], NOW))
        assert problem.rule == "incomplete" and remover in problem.advice, problem
