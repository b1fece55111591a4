"""Fast checks of the pure parts: health rules, job state from events, the entry point's error path."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from backup_tui.engine.core.errors import BackupToolError, ConfigError
from backup_tui.engine.core.health import assess, humanize_age, size_anomalies
from backup_tui.engine.core.models import BackupRecord, RestorePlan, Verification
from backup_tui.engine.core.progress import BytesProgress, LogLine, StepFinished, StepStarted
from backup_tui.engine.devtools import demo
from backup_tui.tui import plan_ahead
from backup_tui.tui.__main__ import main
from backup_tui.tui.jobs import Job, ThrottledReporter
from backup_tui.tui.plan_ahead import PlanAhead
from backup_tui.tui.widgets.backups import detail_text
from backup_tui.tui.widgets.trend import trend_text
from headless.output import record_details
from tests.tui.conftest import sync
from tests.tui.fixtures import NOW, fixed_plan, fixed_records


def test_healthy_database_is_ok() -> None:
    health = assess("pagila", fixed_records(), NOW)
    assert health.status == "ok", health.reasons
    assert len(health.sizes) == 30
    assert health.anomalies == (17,)  # the one-day spike
    assert health.last_backup is not None and health.last_backup.id == "pagila-20250314T020000Z"


def test_stale_database_with_a_failed_verification_is_failing() -> None:
    health = assess("inventory", fixed_records(), NOW)
    assert health.status == "failing"
    assert health.reasons[0] == "last backup 3 days ago (expected daily)"
    assert any("verification of inventory-20250305T030000Z failed" in r for r in health.reasons)


def test_no_backup_is_failing_and_never_verified_is_a_warning() -> None:
    assert assess("orders", fixed_records(), NOW).reasons == ("no valid backup",)
    fresh = [replace(r, verifications=()) for r in fixed_records() if r.database == "pagila"]
    health = assess("pagila", fresh, NOW)
    assert (health.status, health.reasons) == ("warning", ("no backup has been verified",))


def test_a_shrunken_newest_backup_is_a_warning() -> None:
    records = fixed_records()
    records[0] = replace(records[0], stored_bytes=records[0].stored_bytes // 3)
    health = assess("pagila", records, NOW)
    assert health.status == "warning"
    assert any("smaller than usual" in reason for reason in health.reasons), health.reasons


def test_size_anomalies_and_age_wording() -> None:
    assert size_anomalies([100, 101, 99, 100, 300, 100]) == (4,)
    assert size_anomalies([100, 200]) == ()
    assert humanize_age(timedelta(hours=3, minutes=5)) == "3 hours ago"
    assert humanize_age(timedelta(seconds=20)) == "just now"
    assert humanize_age(timedelta(days=1)) == "24 hours ago"
    assert humanize_age(timedelta(hours=43, minutes=50)) == "43 hours ago"  # an age alert's: not "a day ago"
    assert humanize_age(timedelta(days=2, hours=5)) == "2 days ago"
    assert humanize_age(timedelta(days=400)) == "1 year, 35 days ago"


def test_trend_marks_anomalies_and_ignores_them_for_scale() -> None:
    text = trend_text([10, 20, 30, 900], [3])
    assert text.plain == "▁▅██"
    assert any("red" in str(span.style) for span in text.spans)


def test_job_folds_engine_events() -> None:
    job = Job(1, "restore", "restore x", "db", NOW)
    job.apply(StepStarted("restore", "x -> y"), NOW)
    job.apply(BytesProgress("restore", 50, 200), NOW)
    job.apply(BytesProgress("restore", 100, 200), NOW + timedelta(seconds=10))
    entry = job.apply(LogLine("warning", "slow disk"), NOW)
    assert entry is not None and entry.level == "warning"
    assert job.current_step == "restore"
    assert job.eta_seconds(NOW + timedelta(seconds=10)) == pytest.approx(10.0)
    job.apply(StepFinished("restore"), NOW)
    job.finish("done", "ok", NOW + timedelta(seconds=12))
    assert job.steps[0].state == "ok" and job.elapsed_seconds(NOW) == 12


def test_throttled_reporter_drops_byte_floods_but_never_steps() -> None:
    sent: list[object] = []
    ticks = iter([0.0, 0.01, 0.02, 0.5])
    reporter = ThrottledReporter(sent.append, lambda: next(ticks))
    for done in (1, 2, 3):
        reporter(BytesProgress("dump", done))
    reporter(StepStarted("commit"))
    reporter(BytesProgress("dump", 4))
    assert sent == [BytesProgress("dump", 1), StepStarted("commit"), BytesProgress("dump", 4)]


def test_failed_verification_reads_in_the_table() -> None:
    from backup_tui.tui import format as fmt

    bad = Verification(at="2025-03-14T07:30:00Z", level="quick", ok=False, problems=("x",))
    assert fmt.verification_text(bad, NOW) == "✗ quick, 2 hours ago"
    assert fmt.verification_text(None, NOW) == "never"


def test_demo_without_postgresql_exits_2_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    def missing(*args: object, **kwargs: object) -> None:
        raise ConfigError("PostgreSQL server binaries (initdb, pg_ctl) not found: install them")

    monkeypatch.setattr(demo, "start_sandbox", missing)
    assert main(["--demo"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "backup-tui --demo: PostgreSQL server binaries (initdb, pg_ctl) not found: install them"


def test_bad_config_file_exits_2(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", "/nonexistent/backup-tui.toml"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_table_plan_touches_only_what_changed() -> None:
    from backup_tui.tui.widgets.backups import INDEX, TableState, plan_table, prepare

    records = fixed_records()
    state = TableState("", 0, True)
    first = plan_table(prepare(records, NOW, UTC), state, ())
    assert first.rebuild and len(first.rows) == len(records)

    same = plan_table(prepare(list(records), NOW, UTC), state, first.rows)
    assert (same.rebuild, same.removed, same.added, same.changed, same.reorder) == (False, (), (), (), False)

    newest = replace(records[0], id="pagila-20250314T090000Z", created_at="2025-03-14T09:00:00Z")
    pinned = replace(records[5], pinned=True)
    changed = [newest, *records[:5], pinned, *records[6:-1]]  # one new, one pinned, the oldest gone
    plan = plan_table(prepare(changed, NOW, UTC), state, first.rows)
    assert not plan.rebuild
    assert [key for key, _ in plan.added] == [newest.id]
    assert plan.removed == (records[-1].id,)
    assert [(key, index) for key, index, _ in plan.changed] == [(pinned.id, INDEX["pin"])]  # the pin column only
    assert plan.reorder  # the new backup belongs on top, add_row puts it last

    filtered = plan_table(prepare(records, NOW, UTC), TableState("inventory", 0, True), first.rows)
    assert filtered.rebuild and all(r.database == "inventory" for r in filtered.shown)


@sync
async def test_catalog_table_finds_rows_like_the_stock_table() -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from backup_tui.tui.widgets.backups import CatalogTable

    class Tables(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(id="stock")
            yield CatalogTable(id="ours")

    app = Tables()
    async with app.run_test() as pilot:
        tables = [app.query_one("#stock", DataTable), app.query_one("#ours", CatalogTable)]
        for table in tables:
            table.add_column("n", key="n")
            for n in (3, 1, 2, 5, 4):
                table.add_row(str(n), key=f"k{n}")
            table.sort("n")
            table.remove_row("k2")
        await pilot.pause()
        stock, ours = (table._y_offsets for table in tables)
        assert len(ours) == len(stock) == 4
        assert [(key.value, y) for key, y in ours] == [(key.value, y) for key, y in stock] == [
            ("k1", 0), ("k3", 0), ("k4", 0), ("k5", 0)]
        assert [str(cell) for cell in tables[1].get_column("n")] == ["1", "3", "4", "5"]


@sync
async def test_catalog_table_given_its_widths_lays_out_like_the_stock_table_measuring_itself() -> None:
    """The widths the catalog's worker measures (``content_widths``) make the table the stock one makes by
    measuring every cell on the event loop: the same columns, scrollable size and lines, a wider cell later too."""
    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from backup_tui.tui.widgets.backups import CatalogTable

    rows = [("alpha-20250314T020000Z", Text("1.2 GB", justify="right"), "valid"),
            ("beta-20250315T020000Z", Text("980 KB", justify="right"), "failed check"),
            ("gamma-20250316T020000Z", Text("12 MB", justify="right"), "not read yet")]

    class Tables(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(id="stock")
            yield CatalogTable(id="ours")

    app = Tables()
    async with app.run_test(size=(120, 20)) as pilot:
        stock, ours = app.query_one("#stock", DataTable), app.query_one("#ours", CatalogTable)
        for table in (stock, ours):
            for key in ("id", "size", "status"):
                table.add_column(key.title(), key=key)
        ours.give_widths({"id": 22, "size": 6, "status": 12})  # cell_len of each column's widest cell
        for table in (stock, ours):
            for n, row in enumerate(rows):
                table.add_row(*row, key=f"k{n}")
        await pilot.pause()
        ours.give_widths({"status": len("verified ✓ (full)")})
        for table in (stock, ours):
            table.update_cell("k0", "status", "verified ✓ (full)", update_width=table is stock)
        await pilot.pause()
        assert [c.get_render_width(ours) for c in ours.columns.values()] == \
            [c.get_render_width(stock) for c in stock.columns.values()]
        assert ours.virtual_size == stock.virtual_size
        lines = [ours.render_line(y).text for y in range(5)]
        assert lines == [stock.render_line(y).text for y in range(5)]
        assert "alpha-20250314T020000Z  1.2 GB  verified ✓ (full)" in lines[1], lines
        ours.give_widths({"id": 30})  # a wider cell in a row the filter hides: the drawn rows follow at once
        await pilot.pause()
        wider = [ours.render_line(y).text for y in range(2)]
        assert wider[0].index("Size") == lines[0].index("Size") + 8, wider
        assert wider[1].index("1.2 GB") == lines[1].index("1.2 GB") + 8, wider


@sync
async def test_a_refresh_keeps_the_records_and_rows_that_did_not_change() -> None:
    from tests.tui.conftest import settle
    from tests.tui.fixtures import FixedServices, fixed_app

    services = FixedServices()
    app = fixed_app(services)
    async with app.run_test() as pilot:
        await settle(pilot)
        before, table = list(app.records), app.main.backups.table
        updates = table._update_count
        app.refresh_catalog()
        await settle(pilot)
        assert all(new is old for new, old in zip(app.records, before, strict=True))
        assert table._update_count == updates  # nothing changed: the table was not touched

        services.records[3] = replace(services.records[3], pinned=True)
        app.refresh_catalog()
        await settle(pilot)
        assert app.records[3] is not before[3] and app.records[4] is before[4]
        assert table.get_cell(before[3].id, "pin") == "📌"
        assert [key for key, _ in app.main.backups._applied] == [r.id for r in app.main.backups.shown]


def test_the_detail_pane_names_what_a_verification_could_not_do_here() -> None:
    note = "no test restore: this server lacks what the backup needs (extension(s): postgis)"
    quick = Verification(at="2025-03-14T08:00:00Z", level="quick", ok=True, checks=("sha256",), not_done=(note,))
    record = replace(fixed_records()[0], verifications=(quick,))
    text = detail_text(record, NOW, UTC)
    assert "quick (" in text.plain and f"\n      {note}" in text.plain
    assert any(span.style == "yellow" and text.plain[span.start:span.end].strip() == note for span in text.spans)


def test_the_detail_pane_says_an_unknown_raw_size_as_show_does() -> None:
    # The old scripts' .meta seldom records it: "0 B raw" read as an empty dump
    old = replace(fixed_records()[0], raw_bytes=0, status="legacy", format="plain", compression="gzip")
    assert ", ? raw (" in detail_text(old, NOW, UTC).plain
    assert ", ? raw" not in detail_text(fixed_records()[0], NOW, UTC).plain


def test_a_plan_guessed_ahead_is_taken_once_for_the_same_question_while_fresh(
        monkeypatch: pytest.MonkeyPatch) -> None:
    record = fixed_records()[0]
    asked: list[str | None] = []

    def make(r: BackupRecord, target: str | None, replace: bool, no_owner: bool) -> RestorePlan:
        asked.append(target)
        if target == "refused":
            raise BackupToolError("target exists")
        return fixed_plan(r, target, replace)

    ahead = PlanAhead(make)
    ahead.start(record, "copy")
    ahead.start(record, "copy")  # the same guess: not asked again
    plan = ahead.take(record, "copy", False, False)
    assert plan is not None and plan.target_db == "copy" and asked == ["copy"]
    assert ahead.take(record, "copy", False, False) is None, "taken once"
    ahead.start(record, "copy")
    assert ahead.take(record, None, True, False) is None, "a replace is another question"
    ahead.start(record, "refused")
    with pytest.raises(BackupToolError, match="target exists"):
        ahead.take(record, "refused", False, False)
    ahead.start(record, "old")
    monkeypatch.setattr(plan_ahead, "FRESH_S", -1.0)
    assert ahead.take(record, "old", False, False) is None, "too old to show as the plan"


def test_the_demo_opens_with_pagila_healthy_and_inventory_failing() -> None:
    """The demo shows one healthy database and one in trouble: pagila's dumps (about 1 MB) sat at the default
    size floor, and every demo opened on a warning that taught its user to look past warnings."""
    from backup_tui.engine.ops.health import check_health

    made = demo.start_demo(days=3)
    try:
        report = check_health(made.settings, datetime.now(UTC))
    finally:
        made.cleanup()
    status = {h.database: (h.status, h.reasons) for h in report.databases}
    assert status["pagila"] == ("ok", ())
    assert status["inventory"][0] == "failing"


def test_the_detail_pane_says_what_is_wrong_with_a_damaged_backup_beside_its_state_not_as_its_reason() -> None:
    # The listing puts the damage in the reason field: "reason its data file is missing" read as why it was taken
    damaged = replace(fixed_records()[0], status="damaged", reason="its data file is missing")
    lines = detail_text(damaged, NOW, UTC).plain.splitlines()
    assert lines[0] == f"{damaged.id}  damaged (its data file is missing)"
    assert "reason" not in lines[2], lines[2]
    unread = replace(damaged, finished_at="", duration_s=0.0)  # its manifest lost: nothing says how long it took
    assert "took ?" in detail_text(unread, NOW, UTC).plain
    assert "duration        ?" in record_details(unread)  # show says it alike
    valid = detail_text(fixed_records()[0], NOW, UTC).plain.splitlines()
    assert valid[0] == f"{fixed_records()[0].id}  valid" and valid[2].endswith("· reason scheduled")
