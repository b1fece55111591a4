"""Recovery evidence with an injected clock: problems replayed over the period with when they started and
ended, the data-loss window, recovery times from full checks and restores."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta

from backup_tui.engine.core import evidence
from backup_tui.engine.core.models import Verification, utc_iso
from backup_tui.engine.core.runs import RunRecord
from backup_tui.engine.core.thresholds import Thresholds
from tests.tui.fixtures import NOW, PAGILA_TABLES, _record

DAY = timedelta(days=1)


def _limits(_: str) -> Thresholds:
    return Thresholds(min_size_bytes=0)


def test_a_gap_in_backups_is_a_problem_with_its_start_and_end_and_the_worst_data_loss_window() -> None:
    start = NOW - 10 * DAY
    days = [0, 1, 2, 6, 7, 8, 9]  # nothing on days 3 to 5
    records = [_record("app", start + d * DAY, 2_000_000, took=1.0, tables=PAGILA_TABLES) for d in days]
    check = Verification(at=utc_iso(start + 30 * timedelta(minutes=1)), level="full", ok=True, duration_s=42.0,
                         row_counts={t: [n, n] for t, n in PAGILA_TABLES.items()})
    records[0] = replace(records[0], verifications=(check,))
    found = evidence.build(["app"], records, [], start, NOW, _limits)["databases"]["app"]
    too_old = [p for p in found["problems"] if p["rule"] == "too_old"]
    assert [(p["started_at"], p["ended_at"]) for p in too_old] == [
        (utc_iso(start + 3 * DAY + timedelta(hours=2)), utc_iso(start + 6 * DAY))]  # the first hour past 25 h
    assert found["data_loss_window"]["worst_s"] == 4 * DAY.total_seconds()
    assert found["recovery_time_s"] == {"last": 42.0, "median": 42.0, "max": 42.0}
    [proof] = found["verifications"]
    assert (proof["tables"], proof["tables_matching"]) == (len(PAGILA_TABLES), len(PAGILA_TABLES))
    assert found["restores"] == [] and len(found["backups"]) == 7


def test_a_restore_is_told_apart_from_a_verification_and_rendered_in_every_format() -> None:
    record = _record("app", NOW - DAY, 2_000_000, took=1.0, tables={"public.t": 3})
    restored = Verification(at=utc_iso(NOW - DAY / 2), level="full", ok=True, duration_s=9.5,
                            checks=("restored into 'app_copy' (new database) and row counts match the manifest",),
                            row_counts={"public.t": [3, 3]})
    found = evidence.build(["app"], [replace(record, verifications=(restored,))], [], NOW - 7 * DAY, NOW, _limits)
    [restore] = found["databases"]["app"]["restores"]
    assert (restore["id"], restore["duration_s"], restore["row_counts"]) == (
        record.id, 9.5, {"public.t": {"manifest": 3, "restored": 3}})
    markdown = evidence.to_markdown(found)
    assert "| restore | ok | 9.5 s | 1/1 |" in markdown and "- restores: 1 (1 matched)" in markdown
    page = evidence.to_html(found)
    assert page.startswith("<!DOCTYPE html>") and "<td>restore</td>" in page and "<script" not in page


def test_a_restore_of_an_old_scripts_dump_is_not_counted_as_matched() -> None:
    """The old scripts' dumps record no row counts: their restore went through with nothing to hold it against."""
    record = replace(_record("app", NOW - DAY, 2_000_000, took=1.0, tables={}), row_counts={})
    restored = Verification(at=utc_iso(NOW - DAY / 2), level="full", ok=True, duration_s=9.5,
                            checks=("restored into 'app_copy' (new database)",))
    found = evidence.build(["app"], [replace(record, verifications=(restored,))], [], NOW - 7 * DAY, NOW, _limits)
    assert "- restores: 1 (0 matched, 1 without row counts to compare)" in evidence.to_markdown(found)


def test_a_years_report_over_a_busy_catalog_takes_seconds_not_minutes() -> None:
    records = [_record("app", NOW - i * timedelta(hours=6), 2_000_000, took=1.0, tables={"t": 1})
               for i in range(1460)]  # four a day for a year
    started = time.monotonic()
    evidence.build(["app"], records, [], NOW - 365 * DAY, NOW, _limits)
    took = time.monotonic() - started
    print(f"report over 1460 backups and a year: {took:.2f} s")
    assert took < 60


def test_a_failed_verify_run_and_a_failed_prune_run_are_two_problems_each_with_its_own_end() -> None:
    hour = timedelta(hours=1)
    records = [_record("app", NOW - d * DAY, 2_000_000, took=1.0, tables={"t": 1}) for d in range(8, -1, -1)]

    def run(operation: str, at: datetime, ok: bool, backup_id: str = "") -> RunRecord:
        return RunRecord(operation, "app", "", 1, "backup-headless", utc_iso(at - hour), utc_iso(at), 1.0, ok,
                         0 if ok else 1, "" if ok else "bucket unreachable", backup_id)

    runs = [run("prune", NOW - 6 * DAY, False), run("verify", NOW - 4 * DAY, False, records[-5].id),
            run("prune", NOW - 2 * DAY, True)]
    found = evidence.build(["app"], records, runs, NOW - 7 * DAY, NOW, _limits)["databases"]["app"]
    failed = [(p["message"].split(":")[0], p["started_at"], p["ended_at"]) for p in found["problems"]
              if p["rule"] == "failed_run"]
    assert failed == [("prune failed", utc_iso(NOW - 6 * DAY), utc_iso(NOW - 2 * DAY)),
                      (f"verify of {records[-5].id} failed", utc_iso(NOW - 4 * DAY), None)]


def test_a_pipe_in_a_problem_or_an_id_stays_in_its_cell_in_the_markdown_and_the_page() -> None:
    record = _record("app", NOW - DAY, 2_000_000, took=1.0, tables={"t": 1})
    record = replace(record, id="app-a|b", verifications=(
        Verification(at=utc_iso(NOW - DAY / 2), level="quick", ok=True, duration_s=1.0),))
    failed = RunRecord("backup", "app", "", 1, "backup-headless", utc_iso(NOW - DAY / 4), utc_iso(NOW - DAY / 4),
                       1.0, False, 1, "disk | full")
    found = evidence.build(["app"], [record], [failed], NOW - 7 * DAY, NOW, _limits)
    markdown = evidence.to_markdown(found)
    assert "| app-a\\|b | quick | ok |" in markdown and "| backup failed: disk \\| full (at " in markdown
    page = evidence.to_html(found)
    assert "<td>app-a|b</td>" in page and "<td>backup failed: disk | full" in page
    assert all(row.count("<td>") in (4, 6) for row in page.splitlines() if row.startswith("<tr><td>"))


def test_backups_retention_pruned_since_count_from_the_journal_with_no_false_gap() -> None:
    """Retention keeps a week of dailies and the Sundays: the month's other backups are gone from the catalog, not
    from the period."""
    taken = [(NOW - d * DAY).replace(hour=2, minute=0) for d in range(30, -1, -1)]
    records = [_record("app", m, 2_000_000, took=1.0, tables={"t": 1}) for m in taken]
    runs = [RunRecord("backup", "app", "", 1, "backup-headless", r.created_at, r.finished_at, 1.0, True, 0, "", r.id)
            for r in records]
    kept = [r for r in records if NOW - r.created < 7 * DAY or r.created.weekday() == 6]
    found = evidence.build(["app"], kept, runs, NOW - 30 * DAY, NOW, _limits)
    item = found["databases"]["app"]
    assert len(item["backups"]) == 30 and sum(1 for b in item["backups"] if b["status"] == "pruned") == 30 - len(kept)
    assert item["data_loss_window"]["worst_s"] == DAY.total_seconds()
    assert not [p for p in item["problems"] if p["rule"] in ("too_old", "no_backup")]
    assert f"- backups taken: 30 ({30 - len(kept)} since pruned: known from the run journal" in evidence.to_markdown(
        found)


def test_problems_already_there_when_the_period_began_are_listed_first() -> None:
    records = [_record("app", NOW - d * DAY, 2_000_000, took=1.0, tables={"t": 1}) for d in (3, 2)]
    found = evidence.build(["app"], records, [], NOW - 7 * DAY, NOW, _limits)["databases"]["app"]
    starts = [p["started_at"] for p in found["problems"]]
    assert starts[0] == f"before {utc_iso(NOW - 7 * DAY)}" and len(starts) > 1


def test_the_report_says_its_host_and_which_backups_taken_are_no_restore_point() -> None:
    """'backups taken: 7' counted a damaged one with the good, and only the JSON named the host."""
    records = [_record("app", NOW - d * DAY, 2_000_000, took=1.0, tables={"t": 1}) for d in range(7)]
    records[2] = replace(records[2], status="damaged")
    markdown = evidence.to_markdown(evidence.build(["app"], records, [], NOW - 7 * DAY, NOW, _limits, host="web-1"))
    assert "Host web-1: the backups and runs of other hosts sharing the repository are not counted." in markdown
    assert "- backups taken: 7 (1 damaged)" in markdown
