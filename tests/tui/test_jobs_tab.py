"""The Jobs tab and its log, at 80x24 and 120x36 on the fixed catalog: the log's filter (esc leaves and clears it,
enter keeps it, a new job clears one that enter set), a new job selected and in view, enter on a job filtering the
log to it, and the State, progress and time columns on screen at 80 columns."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RichLog, TabbedContent

from backup_tui.tui.app import BackupApp
from backup_tui.tui.widgets.jobs import JobsView
from tests.tui.conftest import (
    SIZES,
    held_restore,
    press_and_settle,
    right_edge,
    running,
    screen_lines,
    settle,
    sync,
    wait_until,
)
from tests.tui.fixtures import FixedServices, fixed_app


async def backups(pilot: Pilot[Any], app: BackupApp, count: int) -> None:
    for _ in range(count):
        app.new_backup("pagila")
        await wait_until(pilot, lambda: not app.running_jobs)
    await settle(pilot)


# -- the log's filter -------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_escape_leaves_the_log_filter(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        await press_and_settle(pilot, "3", "slash", *"dump")
        box = app.main.query_one("#log-filter", Input)
        assert box.has_focus and box.value == "dump"
        await press_and_settle(pilot, "escape")
        assert box.value == "" and app.main.jobs.needle == ""
        assert app.main.query_one("#jobs-table", DataTable).has_focus
        await press_and_settle(pilot, "1")
        assert app.main.query_one(TabbedContent).active == "dashboard"


@sync
async def test_enter_keeps_the_log_filter_and_leaves_the_box() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        await press_and_settle(pilot, "3", "slash", *"dump", "enter")
        assert app.main.jobs.needle == "dump"
        assert app.main.query_one("#jobs-table", DataTable).has_focus


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


# -- a new job is selected and visible; enter shows a job -------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_new_job_is_selected_and_visible(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        await backups(pilot, app, 12)
        await press_and_settle(pilot, "3")
        table: DataTable[Any] = app.main.query_one("#jobs-table", DataTable)
        table.move_cursor(row=11, animate=False)
        await settle(pilot)
        assert table.cursor_row == 11 and table.scroll_y > 0  # looking at the oldest job
        await backups(pilot, app, 1)
        assert table.cursor_row == 0 and table.scroll_y == 0
        view = app.main.query_one(JobsView)
        assert view.selected is not None and view.selected.id == max(app.jobs)


@sync
async def test_enter_on_a_job_shows_it() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        await backups(pilot, app, 2)
        await press_and_settle(pilot, "3", "down", "enter")  # the older one: backup #1
        view = app.main.query_one(JobsView)
        assert view.needle == "backup #1"
        assert all(entry.source == "backup #1" for entry in view.entries if view._matches(entry))
        assert any(view._matches(entry) for entry in view.entries)
        assert any("done" in n.message and "dump" in n.message for n in app._notifications)


# -- the State, progress and time columns fit at 80 columns -----------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_state_column_is_on_screen(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        await backups(pilot, app, 1)
        await press_and_settle(pilot, "3")
        table: DataTable[Any] = app.main.query_one("#jobs-table", DataTable)
        assert right_edge(table, "state") <= table.scrollable_content_region.width


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


@sync
async def test_cancelled_fits_the_state_column() -> None:
    app = fixed_app(FixedServices(hold_restore=True))
    async with running(app, (80, 24)) as pilot:
        job = await held_restore(pilot, app)
        job.cancel.cancel()
        await wait_until(pilot, lambda: not app.running_jobs)
        await press_and_settle(pilot, "3")
        assert any("cancelled" in line for line in screen_lines(app))
