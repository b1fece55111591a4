"""First-time-user problems, pinned at 80x24 and 120x36 on the fixed catalog: keys, focus and texts."""

from __future__ import annotations

import dataclasses
from datetime import UTC
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Static, TabbedContent

from backup_tui.engine.core.models import BackupRecord, RestorePlan
from backup_tui.tui.app import BackupApp
from backup_tui.tui.jobs import Job, Step
from backup_tui.tui.screens.dialogs import QuitDialog
from backup_tui.tui.screens.restore import safety_note
from backup_tui.tui.widgets.jobs import JobsView
from tests.tui.conftest import (
    held_restore,
    open_plan,
    open_wizard,
    press_and_settle,
    rendered,
    right_edge,
    running,
    settle,
    sync,
    to_plan,
    wait_until,
)
from tests.tui.fixtures import NOW, FixedServices, fixed_app, fixed_plan, fixed_records

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]



def record_where(unverified: bool = False, failed: bool = False) -> BackupRecord:
    for record in fixed_records():
        last = record.last_verification
        if unverified and last is None and record.database == "pagila":
            return record
        if failed and last is not None and not last.ok:
            return record
    raise LookupError("no such record in the fixed catalog")



async def backups(pilot: Pilot[Any], app: BackupApp, count: int) -> None:
    for _ in range(count):
        app.new_backup("pagila")
        await wait_until(pilot, lambda: not app.running_jobs)
    await settle(pilot)


# -- 1. escape leaves the log filter -------------------------------------------------


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


# -- 2. the State column fits at 80 columns --------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_state_column_is_on_screen(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        await backups(pilot, app, 1)
        await press_and_settle(pilot, "3")
        table: DataTable[Any] = app.main.query_one("#jobs-table", DataTable)
        assert right_edge(table, "state") <= table.scrollable_content_region.width


# -- 3. a new job is selected and visible; enter shows a job ---------------------------


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


# -- 4. the quit dialog follows the jobs --------------------------------------------


@sync
async def test_quit_dialog_updates_when_the_job_ends() -> None:
    services = FixedServices(hold_restore=True)
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        job = await held_restore(pilot, app, "copy")
        app.push_screen(QuitDialog(lambda: app.running_jobs))
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, QuitDialog)
        assert "1 job(s) running" in str(dialog.query_one("#dialog-message", Label).render())
        services.release.set()
        await wait_until(pilot, lambda: not job.running)
        await settle(pilot)
        assert "nothing is running now" in str(dialog.query_one("#dialog-message", Label).render())
        assert str(dialog.query_one("#no", Button).label) == "Stay"  # "Keep running" is for running jobs
        assert str(dialog.query_one("#yes", Button).label) == "Quit"


# -- 5a. unverified or failed backups warn on the plan -------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_plan_warns_about_an_unverified_backup(size: tuple[int, int]) -> None:
    app = fixed_app()
    record = record_where(unverified=True)
    async with running(app, size) as pilot:
        wizard = await open_wizard(pilot, app, backup_id=record.id)
        question = str(wizard.query_one("#choose-question", Label).render())
        assert f"Selected: {record.id}, the row highlighted on the Backups tab." in question
        assert "newest verified" not in question
        assert wizard.record.id == record.id
        await to_plan(pilot, wizard, replace=True)
        text = rendered(wizard.query_one("#plan-text", Static))
        assert "never been verified" in text
        # The warning and the rollback come before the steps, so they are on screen at 80x24.
        assert text.index("never been verified") < text.index("Rollback") < text.index("Steps")
        assert text.index("Space") < text.index("Steps")


@sync
async def test_plan_warns_about_a_failed_verification() -> None:
    app = fixed_app()
    record = record_where(failed=True)
    async with running(app, (80, 24)) as pilot:
        wizard = await open_plan(pilot, app, backup_id=record.id)
        text = rendered(wizard.query_one("#plan-text", Static))
        assert "last verification FAILED" in text and "bit flip" in text


@sync
async def test_first_page_says_what_is_selected() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        wizard = await open_wizard(pilot, app, database="inventory")
        question = str(wizard.query_one("#choose-question", Label).render())
        assert "None of inventory is verified yet" in question
        wizard.dismiss()
        await settle(pilot)
        wizard = await open_wizard(pilot, app, database="pagila")
        assert "newest verified one of pagila" in str(wizard.query_one("#choose-question", Label).render())
        # The first page's warning, not the plan's: the plan page is composed once it is first shown.
        assert "never been verified" not in rendered(wizard.query_one("#choose-warning", Static))


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
@sync
async def test_wizard_ids_are_whole(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        wizard = await open_wizard(pilot, app, database="pagila")
        table: DataTable[Any] = wizard.query_one("#choose-table", DataTable)
        assert sum(c.get_render_width(table) for c in table.columns.values()) <= table.scrollable_content_region.width
        assert str(table.get_row_at(0)[0]) == fixed_records()[0].id  # a Text: a safety mark may follow


# -- 5d. the typed confirmation --------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_replace_confirmation_says_when_the_name_does_not_match(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        wizard = await open_plan(pilot, app, database="pagila", replace=True)
        wizard.query_one("#run", Button).press()
        await settle(pilot)
        assert wizard.step == "confirm"
        box = wizard.query_one("#confirm-name", Input)
        assert box.placeholder == "type the database name" and box.has_focus
        await press_and_settle(pilot, "enter")
        error = wizard.query_one("#confirm-error", Static)
        assert wizard.step == "confirm" and "does not match" in rendered(error)
        await press_and_settle(pilot, *"pagil", "enter")
        assert wizard.step == "confirm" and "does not match" in rendered(error)
        await press_and_settle(pilot, "a")
        assert rendered(error) == ""
        assert not wizard.query_one("#run-replace", Button).disabled
        await press_and_settle(pilot, "space")  # a space after it, which no one sees, does not count
        assert not wizard.query_one("#run-replace", Button).disabled
        await press_and_settle(pilot, "x")
        assert wizard.query_one("#run-replace", Button).disabled


# -- 5e. a cancelled restore ------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_cancelled_restore_hides_the_bar(size: tuple[int, int]) -> None:
    app = fixed_app(FixedServices(hold_restore=True))
    async with running(app, size) as pilot:
        wizard = await open_plan(pilot, app, database="pagila")
        wizard.query_one("#run", Button).press()
        await wait_until(pilot, lambda: wizard.job is not None and wizard.job.bytes_done > 0)
        await settle(pilot)
        assert wizard.query_one("#progress-bar", ProgressBar).display
        wizard.query_one("#cancel-restore", Button).press()
        await wait_until(pilot, lambda: wizard.job is not None and not wizard.job.running)
        await settle(pilot)
        assert not wizard.query_one("#progress-bar", ProgressBar).display
        assert "Cancelled during restore" in rendered(wizard.query_one("#progress-bytes", Static))
        assert "restore cancelled: dropped" in rendered(wizard.query_one("#progress-outcome", Static))
        assert wizard.query_one("#close-failed", Button).has_focus


def test_safety_note_names_the_kept_backup() -> None:
    job = Job(1, "restore", "restore x", "pagila", NOW.astimezone(UTC))
    assert safety_note(job) == ""
    job.steps.append(Step("safety backup", "pagila-20250314T093000Z", "ok"))
    assert "pagila-20250314T093000Z" in safety_note(job) and "stays in the repository" in safety_note(job)


class RolesMissing(FixedServices):
    """A server that lacks the role owning the backup's objects: the engine's plan says so."""

    def plan_restore(self, record: BackupRecord, target_db: str | None, replace: bool,
                     no_owner: bool = False) -> RestorePlan:
        return dataclasses.replace(fixed_plan(record, target_db, replace), missing_roles=("app_owner",),
                                   no_owner=no_owner)


@sync
async def test_plan_that_would_be_refused_says_why_and_cannot_run() -> None:
    app = fixed_app(RolesMissing())
    async with running(app, (80, 24)) as pilot:
        wizard = await open_plan(pilot, app, database="pagila")
        text = rendered(wizard.query_one("#plan-text", Static))
        assert "Cannot restore here" in text and "app_owner" in text
        assert "or restore with “Without owners” below" in text and "--" not in text
        assert text.index("Cannot restore here") < text.index("Steps")  # on screen at 80x24
        assert wizard.query_one("#run", Button).disabled

        await pilot.click("#plan-no-owner")  # plan again, owners and privileges left out
        await wait_until(pilot, lambda: wizard.plan is not None and wizard.plan.no_owner)
        text = rendered(wizard.query_one("#plan-text", Static))
        assert "Cannot restore here" not in text and "objects will belong to the user we connect as" in text
        assert not wizard.query_one("#run", Button).disabled
        assert not wizard.query_one("#plan-no-owner", Button).display
