"""The delete dialog on the Backups tab, on the fixed catalog: it says when the backup is the last verified one,
the newest valid one (which retention always keeps) or the only valid one of its database, and after a delete
the cursor stays at the same row."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Button, Label

from backup_tui.engine.core.models import BackupRecord, Verification
from backup_tui.tui.app import BackupApp
from backup_tui.tui.screens.dialogs import ConfirmDialog
from backup_tui.tui.widgets.backups import BackupsView
from tests.tui.conftest import SIZE, press_and_settle, rendered, running, select, settle, sync, table_of, wait_until
from tests.tui.fixtures import FAILED_ID, FixedServices, fixed_app, fixed_records


def ok(record: BackupRecord) -> BackupRecord:
    return replace(record, verifications=(Verification(at="2025-03-14T08:00:00Z", level="quick", ok=True),))


async def delete_dialog_text(pilot: Pilot[Any], app: BackupApp, backup_id: str) -> str:
    await select(pilot, app, backup_id)
    await pilot.press("d")
    await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
    return rendered(app.screen.query_one("#dialog-message", Label))


# -- the dialog says when the last good backup would go -------------------------------------------------------


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


# -- after a delete the cursor stays on the same row index ------------------------------------------------------


async def delete_selected(pilot: Pilot[Any], app: BackupApp, services: FixedServices) -> str:
    view: BackupsView = app.main.backups
    selected = view.selected
    assert selected is not None
    await press_and_settle(pilot, "d")
    dialog = app.screen
    assert isinstance(dialog, ConfirmDialog)
    dialog.query_one("#yes", Button).press()
    await wait_until(pilot, lambda: all(r.id != selected.id for r in services.records))
    await wait_until(pilot, lambda: selected.id not in table_of(app).rows)
    await settle(pilot)
    return selected.id


@sync
async def test_cursor_stays_in_place_after_a_delete() -> None:
    services = FixedServices()
    app = fixed_app(services)
    async with running(app, SIZE) as pilot:
        await press_and_settle(pilot, "2", "down", "down")
        table = table_of(app)
        assert table.cursor_row == 2
        below = [str(row.value) for row in table.rows][3]
        await delete_selected(pilot, app, services)
        assert table.cursor_row == 2
        selected = app.main.backups.selected
        assert selected is not None and selected.id == below  # the next backup down, not the newest

        table.move_cursor(row=table.row_count - 1, animate=False)
        await settle(pilot)
        above = [str(row.value) for row in table.rows][-2]
        await delete_selected(pilot, app, services)
        assert table.cursor_row == table.row_count - 1
        selected = app.main.backups.selected
        assert selected is not None and selected.id == above  # the last row went: the one before it


@sync
async def test_delete_of_the_only_good_backup_says_so_beside_another_hosts_of_that_name() -> None:
    """A bucket shared by a fleet: web1's 'inventory' is another database of the same name. Its backups do not make
    this host's only good one not the only one; and a backup of web1's says whose it is."""
    kept = (FAILED_ID, "inventory-20250311T030000Z")
    records = [r for r in fixed_records() if r.database == "pagila" or r.id in kept]
    theirs = replace(next(r for r in records if r.id == kept[1]), id="inventory-20250312T030000Z",
                     created_at="2025-03-12T03:00:00Z", host="web1", locations=("s3",))
    app = fixed_app(FixedServices([*records, theirs]))
    async with running(app, (80, 24)) as pilot:
        text = await delete_dialog_text(pilot, app, "inventory-20250311T030000Z")
        assert "This is the only valid backup of inventory." in text
        assert "web1" not in text
        await pilot.press("escape")
        text = await delete_dialog_text(pilot, app, theirs.id)
        assert "It was taken on web1: that host's inventory, not this one's." in text
        assert "This is the only valid backup of inventory." in text  # web1's only one, too
