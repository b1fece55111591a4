"""Findings of the first on-call trial of --demo (80x24 and 120x36), pinned on the fixed catalog."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from rich.text import Text
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Label, RadioButton, RadioSet, RichLog, Static

from backup_tui.engine.core.models import BackupRecord, Verification
from backup_tui.engine.core.progress import StepFinished, StepStarted
from backup_tui.tui import format as fmt
from backup_tui.tui.app import BackupApp
from backup_tui.tui.jobs import Job
from backup_tui.tui.screens.dialogs import ConfirmDialog, QuitDialog
from backup_tui.tui.screens.restore import RestoreWizard
from backup_tui.tui.widgets.backups import COLUMNS, ORDER, BackupsView
from backup_tui.tui.widgets.dashboard import DatabaseCard
from backup_tui.tui.widgets.jobs import JobsView
from backup_tui.tui.widgets.trend import trend_text
from tests.tui.conftest import held_restore, press_and_settle, rendered, right_edge, running, settle, sync, wait_until
from tests.tui.fixtures import NOW, FixedServices, fixed_app, fixed_records

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]
FAILED_ID = "inventory-20250305T030000Z"  # the fixed catalog's backup whose only verification failed



def failed(record: BackupRecord) -> BackupRecord:
    bad = Verification(at="2025-03-14T08:00:00Z", level="full", ok=False, problems=("checksum mismatch",))
    return replace(record, verifications=(*record.verifications, bad))


def ok(record: BackupRecord) -> BackupRecord:
    return replace(record, verifications=(Verification(at="2025-03-14T08:00:00Z", level="quick", ok=True),))


def screen_lines(app: BackupApp) -> list[str]:
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


async def select(pilot: Pilot[Any], app: BackupApp, backup_id: str) -> BackupsView:
    await press_and_settle(pilot, "2")
    view = app.main.backups
    view.table.move_cursor(row=view.table.get_row_index(backup_id), animate=False)
    await settle(pilot)
    return view


# -- 1. a backup whose last verification failed is not "valid" -------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_a_failed_check_reads_failed_everywhere(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        view = await select(pilot, app, FAILED_ID)
        detail = rendered(view.query_one("#detail", Static))
        assert detail.startswith(f"{FAILED_ID}  failed check") and "valid" not in detail.splitlines()[0]
        cell = view.table.get_cell(FAILED_ID, "id")
        assert isinstance(cell, Text) and cell.plain == f"{FAILED_ID} (failed check)" and "red" in str(cell.style)
        assert any(f"{FAILED_ID} (failed check)" in line for line in screen_lines(app))  # whole, on screen


@sync
async def test_the_filter_finds_what_the_rows_show_and_the_hint_suggests() -> None:
    damaged = replace(fixed_records()[5], status="damaged")
    records = [damaged if r.id == damaged.id else r for r in fixed_records()]
    app = fixed_app(FixedServices(records))
    async with running(app, (80, 24)) as pilot:
        await pilot.press("2")
        view = app.main.backups
        box = view.query_one("#filter", Input)
        words = box.placeholder.split(":", 1)[1].split("…")[0].split(",")
        for word in [w.strip() for w in words]:
            view.filter_to(word)
            await settle(pilot)
            assert view.table.row_count > 0, word
        view.filter_to("failed")
        await settle(pilot)
        assert [r.id for r in view.shown] == [FAILED_ID]
        view.filter_to("damaged")
        await settle(pilot)
        assert [r.id for r in view.shown] == [damaged.id]


# -- 2. the delete dialog says when the last good backup would go ------------------------


async def delete_dialog_text(pilot: Pilot[Any], app: BackupApp, backup_id: str) -> str:
    await select(pilot, app, backup_id)
    await pilot.press("d")
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    return rendered(app.screen.query_one("#dialog-message", Label))


@sync
async def test_delete_says_it_is_the_last_verified_backup() -> None:
    records = [ok(r) if r.id == "inventory-20250309T030000Z" else r for r in fixed_records()]
    app = fixed_app(FixedServices(records))
    async with running(app, (80, 24)) as pilot:
        text = await delete_dialog_text(pilot, app, "inventory-20250309T030000Z")
        assert "This is the last verified backup of inventory." in text
        assert "newest" not in text  # two newer good (unverified) backups remain
        await pilot.press("escape")
        text = await delete_dialog_text(pilot, app, "inventory-20250311T030000Z")
        assert "Retention always keeps it: it is the newest valid backup of inventory in local." in text
        assert "verified" not in text
        await pilot.press("escape")
        text = await delete_dialog_text(pilot, app, "pagila-20250313T020000Z")  # neither: plain question
        assert "This is" not in text


@sync
async def test_delete_of_the_only_good_backup() -> None:
    kept = (FAILED_ID, "inventory-20250311T030000Z")
    records = [r for r in fixed_records() if r.database == "pagila" or r.id in kept]
    app = fixed_app(FixedServices(records))
    async with running(app, (80, 24)) as pilot:
        text = await delete_dialog_text(pilot, app, "inventory-20250311T030000Z")
        assert "This is the only valid backup of inventory." in text
        await pilot.press("escape")
        text = await delete_dialog_text(pilot, app, FAILED_ID)
        assert "This is" not in text  # its check failed: it is not the good one


# -- 3. the restore chooser: a failed newest backup, one database's backups -------------------


@sync
async def test_wizard_for_a_database_whose_only_backup_failed() -> None:
    records = [r for r in fixed_records() if r.database == "pagila" or r.id == FAILED_ID]
    app = fixed_app(FixedServices(records))
    async with running(app, (80, 24)) as pilot:
        app.open_restore(database="inventory")
        await settle(pilot)
        wizard = app.screen
        assert isinstance(wizard, RestoreWizard)
        table = wizard.query_one("#choose-table", DataTable)
        assert [str(key.value) for key in table.rows] == [FAILED_ID]  # only the card's database
        question = rendered(wizard.query_one("#choose-question", Label))
        assert "failed its last verification" in question and "verified yet" not in question


@sync
async def test_wizard_does_not_preselect_a_failed_newest_backup() -> None:
    newest = "inventory-20250311T030000Z"
    records = [failed(r) if r.id == newest else r for r in fixed_records()]
    app = fixed_app(FixedServices(records))
    async with running(app, (80, 24)) as pilot:
        await press_and_settle(pilot, "tab")  # the second card: inventory
        assert app.main.dashboard.focused_database() == "inventory"
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, RestoreWizard))
        await settle(pilot)
        wizard = app.screen
        assert isinstance(wizard, RestoreWizard)
        assert {r.database for r in wizard.records} == {"inventory"}
        assert wizard.record.id == "inventory-20250309T030000Z"  # the newest that did not fail
        question = rendered(wizard.query_one("#choose-question", Label))
        assert "The newest backup of inventory failed its last verification" in question


# -- 4. 80 columns: id, state and the whole verification; Help and Quit in the footer ------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_backups_table_fits_what_matters(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        await press_and_settle(pilot, "2")
        table = app.main.backups.table
        keys = [str(key.value) for key in table.columns]
        # 80x24 and 120x36: the whole width, the detail pane under the table
        assert keys[0] == "id" and {"id", "verified", "size", "pin"} <= set(keys)
        assert sum(column.get_render_width(table) for column in table.columns.values()) \
            <= table.scrollable_content_region.width
        lines = "\n".join(screen_lines(app))
        for record in fixed_records()[:5]:
            assert fmt.verification_text(record.last_verification, NOW) in lines
        assert "q Quit" in lines and "f1 Help" in lines and "b Backup" in lines


@sync
async def test_all_columns_when_there_is_room() -> None:
    app = fixed_app()
    async with running(app, (220, 40)) as pilot:
        await press_and_settle(pilot, "2")
        assert [str(key.value) for key in app.main.backups.table.columns] == list(ORDER)  # every one, id first
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: str(next(iter(app.main.backups.table.columns)).value) == "id")
        await settle(pilot)
        assert app.main.backups.table.row_count == len(fixed_records())


@sync
async def test_jobs_progress_and_time_are_on_screen_at_80_columns() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        app.new_backup("pagila")
        await wait_until(pilot, lambda: not app.running_jobs)
        await press_and_settle(pilot, "3")
        table: DataTable[Any] = app.main.query_one("#jobs-table", DataTable)
        assert right_edge(table, "elapsed") <= table.scrollable_content_region.width
        assert table.columns[next(k for k in table.columns if k.value == "state")].width >= len("cancelled")


# -- 6. backup commands in the palette only where the backup is shown ---------------------


@sync
async def test_palette_offers_backup_commands_on_the_backups_tab_only() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        await press_and_settle(pilot, "2")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert any(title.startswith("Delete ") for title in titles)
        assert not any(title.startswith("Upload ") for title in titles)  # no S3
        await press_and_settle(pilot, "1")
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert not any(title.split()[0] in ("Delete", "Verify", "Restore", "Pin", "Unpin") for title in titles)


# -- 7. sort arrow, detail scroll, log filter, State width ------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_the_sort_arrow_always_marks_the_sort_in_force(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        await press_and_settle(pilot, "2")
        view = app.main.backups
        for _ in COLUMNS:
            await press_and_settle(pilot, "s")
            column = COLUMNS[view.sort_column]
            header = "".join(segment.text for segment in view.table.render_line(0))
            if column.key in [str(key.value) for key in view.table.columns]:
                assert f"{column.label} ▼" in header, (column.key, header)
            else:
                assert f"ID · by {column.label} ▼" in header, (column.key, header)
            assert header.count("▼") == 1


@sync
async def test_the_detail_pane_starts_at_the_top_for_another_backup() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        view = await select(pilot, app, "pagila-20250314T020000Z")
        pane = view.query_one("#detail-pane", VerticalScroll)
        pane.scroll_end(animate=False)
        await settle(pilot)
        assert pane.scroll_y > 0
        await press_and_settle(pilot, "down")
        assert pane.scroll_y == 0 and rendered(view.query_one("#detail", Static)).startswith("pagila-20250313")


@sync
async def test_a_new_job_clears_the_log_filter_set_by_enter() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        app.new_backup("pagila")
        await wait_until(pilot, lambda: not app.running_jobs)
        await press_and_settle(pilot, "3", "enter")
        jobs = app.main.query_one(JobsView)
        assert jobs.needle == "backup #1"
        app.new_backup("inventory")
        await wait_until(pilot, lambda: not app.running_jobs)
        await settle(pilot)
        assert jobs.needle == "" and app.main.query_one("#log-filter", Input).value == ""
        assert any("backup #2" in str(line.text) for line in app.main.query_one("#activity", RichLog).lines)


@sync
async def test_cancelled_fits_the_state_column() -> None:
    app = fixed_app(FixedServices(hold_restore=True))
    async with running(app, (80, 24)) as pilot:
        job = await held_restore(pilot, app)
        job.cancel.cancel()
        await wait_until(pilot, lambda: not app.running_jobs)
        await press_and_settle(pilot, "3")
        assert any("cancelled" in line for line in screen_lines(app))


# -- 8. wizard target step, quit dialog, trend, texts ------------------------------------------


@sync
async def test_target_step_error_and_tab_order() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        app.open_restore()
        await settle(pilot)
        wizard = app.screen
        assert isinstance(wizard, RestoreWizard)
        wizard.query_one("#to-target", Button).press()
        await settle(pilot)
        assert "shift+tab" in rendered(wizard.query_one("#target Label.question", Label))
        wizard.query_one("#target-name", Input).value = ""
        await press_and_settle(pilot, "enter")
        error = wizard.query_one("#target-error", Static)
        assert "Type a name" in rendered(error)
        await pilot.press("shift+tab")
        assert app.focused is wizard.query_one("#mode", RadioSet)
        wizard.query_one("#mode-replace", RadioButton).value = True
        await settle(pilot)
        assert rendered(error) == ""
        marks = [str(wizard.query_one(f"#mode-{m}", RadioButton).render())[:3] for m in ("new", "replace")]
        assert marks == ["▐ ▌", "▐●▌"]  # the choice shows on a terminal without colour too
        await pilot.press("tab")
        assert getattr(app.focused, "id", None) == "to-plan"  # forward, not Back


@sync
async def test_quit_dialog_says_keep_running() -> None:
    app = fixed_app(FixedServices(hold_restore=True))
    async with running(app, (80, 24)) as pilot:
        job = await held_restore(pilot, app)
        await settle(pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitDialog))
        assert str(app.screen.query_one("#no", Button).label) == "Keep running"
        await press_and_settle(pilot, "escape")
        job.cancel.cancel()
        await wait_until(pilot, lambda: not app.running_jobs)


@sync
async def test_the_size_trend_does_not_magnify_a_small_spread() -> None:
    app = fixed_app()
    async with running(app, (80, 24)):
        card = next(c for c in app.main.dashboard.query(DatabaseCard) if c.database == "inventory")
        trend = rendered(card).splitlines()[3].removeprefix("size trend ")
        assert len(trend) == 4 and set(trend) <= set("▃▄▅")  # 61.3 to 61.9 KB: flat-ish
    assert trend_text([23682, 23947, 24011, 23991], []).plain == "▄▅▅▅"
    assert trend_text([100, 200, 300, 400], []).plain == "▁▃▆█"  # a real spread keeps its range


@sync
async def test_plurals_and_sizes_read_as_words() -> None:
    one = replace(fixed_records()[0], row_counts={"public.items": 3})
    app = fixed_app(FixedServices([one]))
    async with running(app, (80, 24)) as pilot:
        view = await select(pilot, app, one.id)
        assert "Row counts (1 table)" in rendered(view.query_one("#detail", Static))
    job = Job(1, "backup", "backup pagila", "pagila", NOW)
    job.apply(StepStarted("dump"), NOW)
    entry = job.apply(StepFinished("dump", detail="444315028 bytes"), NOW)
    assert job.steps[0].detail == "444.3 MB" and entry is not None and entry.message == "dump done: 444.3 MB"
