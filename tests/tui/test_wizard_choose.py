"""The restore wizard's first page, which backup, on the fixed catalog: opened for a database it lists that
database's backups and selects the newest verified one, never one whose check failed; opened on a row it lists
that row's database, selects the row and follows the cursor, warning about a failed check; the question says what
is selected, and the ids are whole at 80 columns."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from textual.widgets import DataTable, Label, Static

from backup_tui.engine.core.models import BackupRecord, Verification
from backup_tui.tui.screens.restore import RestoreWizard
from tests.tui.conftest import open_wizard, press_and_settle, rendered, running, settle, sync, to_plan, wait_until
from tests.tui.fixtures import FAILED_ID, FixedServices, fixed_app, fixed_records


def failed(record: BackupRecord) -> BackupRecord:
    bad = Verification(at="2025-03-14T08:00:00Z", level="full", ok=False, problems=("checksum mismatch",))
    return replace(record, verifications=(*record.verifications, bad))


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


@sync
async def test_opened_on_one_backup_it_lists_that_database_only_and_follows_the_cursor() -> None:
    app = fixed_app()
    async with running(app, (120, 40)) as pilot:
        wizard = await open_wizard(pilot, app, backup_id=FAILED_ID)
        assert {r.database for r in wizard.records} == {"inventory"}
        question = wizard.query_one("#choose-question", Label)
        assert rendered(question) == f"Which backup? Selected: {FAILED_ID}, the row highlighted on the Backups tab."
        warning = wizard.query_one("#choose-warning", Static)
        assert warning.display and "last verification FAILED" in rendered(warning)

        table: DataTable[Any] = wizard.query_one("#choose-table", DataTable)
        other = next(i for i, r in enumerate(wizard.records) if r.id != FAILED_ID and not r.failed_last_check)
        table.move_cursor(row=other, animate=False)
        await settle(pilot)
        assert rendered(question) == f"Which backup? Selected: {wizard.records[other].id}."
        assert not warning.display

        await to_plan(pilot, wizard)
        assert wizard.plan is not None and wizard.plan.backup_id == wizard.records[other].id
        named = rendered(wizard.query_one("#target-backup", Static))
        assert named.startswith(f"Backup    {wizard.records[other].id} · ")


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


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
@sync
async def test_wizard_ids_are_whole(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        wizard = await open_wizard(pilot, app, database="pagila")
        table: DataTable[Any] = wizard.query_one("#choose-table", DataTable)
        assert sum(c.get_render_width(table) for c in table.columns.values()) <= table.scrollable_content_region.width
        assert str(table.get_row_at(0)[0]) == fixed_records()[0].id  # a Text: a safety mark may follow
