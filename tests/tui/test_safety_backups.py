"""Safety backups (taken before a replace) as the app marks them, on the fixed catalog right after a replace: "· safety"
after the id on the Backups tab and in the wizard's table (a word to filter by), the card's last-backup line saying
what it was taken before, and the wizard never offering one while another backup would do."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from rich.text import Text
from textual.widgets import DataTable, Label, Static

from backup_tui.engine.core.models import SAFETY_REASON_PREFIX, BackupRecord, Verification, utc_iso
from backup_tui.tui.app import BackupApp
from backup_tui.tui.screens.restore import choose_question, preselect
from backup_tui.tui.widgets.dashboard import DatabaseCard
from tests.tui.conftest import SIZES, open_wizard, press_and_settle, rendered, running, sync, wait_until
from tests.tui.fixtures import NOW, FixedServices, fixed_app, fixed_records

REPLACED = "pagila-20250310T020000Z"  # the backup the safety backup was taken before restoring
SAFETY_ID = "pagila-20250314T092900Z"


def with_safety_backup() -> list[BackupRecord]:
    """The fixed catalog right after a restore --replace of pagila from ``REPLACED``."""
    newest = fixed_records()[0]
    moment = NOW - timedelta(minutes=1)
    safety = replace(newest, id=SAFETY_ID, created_at=utc_iso(moment), finished_at=utc_iso(moment),
                     reason=f"{SAFETY_REASON_PREFIX} {REPLACED}", verifications=(), pinned=False)
    return [safety, *fixed_records()]


def card(app: BackupApp, database: str) -> DatabaseCard:
    return next(c for c in app.main.query(DatabaseCard) if c.database == database)


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_safety_backup_is_marked_in_the_table(size: tuple[int, int]) -> None:
    app = fixed_app(FixedServices(with_safety_backup()))
    async with running(app, size) as pilot:
        await press_and_settle(pilot, "2")
        table = app.main.backups.table
        cell = table.get_cell(SAFETY_ID, "id")
        assert isinstance(cell, Text) and cell.plain == f"{SAFETY_ID} · safety"
        assert cell.plain.startswith(SAFETY_ID)  # the id itself stays whole, for eyes and searches
        dim = [span for span in cell.spans if "dim" in str(span.style)]
        assert [(span.start, span.end) for span in dim] == [(len(SAFETY_ID), len(cell.plain))]
        plain = table.get_cell(fixed_records()[0].id, "id")
        assert "safety" not in str(plain)
        await pilot.press("slash", *"safety", "enter")  # the marker is something to filter by
        await wait_until(pilot, lambda: table.row_count == 1)
        assert table.get_row_at(0)[0] == cell


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_safety_backup_is_marked_on_the_card(size: tuple[int, int]) -> None:
    app = fixed_app(FixedServices(with_safety_backup()))
    async with running(app, size):
        lines = rendered(card(app, "pagila")).splitlines()
        assert lines[1] == "last backup a minute ago (safety, before restoring 20250310T020000Z)"
        assert "safety" not in rendered(card(app, "inventory"))
        if size[0] == 80:
            assert card(app, "pagila").content_size.height == 4  # nothing wraps at 80 columns


@sync
async def test_a_scheduled_backup_is_not_marked() -> None:
    app = fixed_app()
    async with running(app, (80, 24)):
        assert "safety" not in rendered(card(app, "pagila"))
        assert card(app, "pagila").content_size.height == 4  # nothing wraps at 80 columns


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_safety_backup_is_marked_where_the_wizard_chooses_a_backup(size: tuple[int, int]) -> None:
    """The same mark as on the Backups tab (one helper), and a warning when the cursor is on it."""
    app = fixed_app(FixedServices(with_safety_backup()))
    async with running(app, size) as pilot:
        wizard = await open_wizard(pilot, app, database="pagila")
        table = wizard.query_one("#choose-table", DataTable)
        assert table.get_row_at(table.cursor_row)[0].plain == fixed_records()[0].id  # the newest verified one
        cell = table.get_cell(SAFETY_ID, table.ordered_columns[0].key)
        assert isinstance(cell, Text) and cell.plain == f"{SAFETY_ID} · safety"
        assert [(span.start, span.end) for span in cell.spans if "dim" in str(span.style)] == \
            [(len(SAFETY_ID), len(cell.plain))]
        assert sum(column.get_render_width(table) for column in table.ordered_columns) <= \
            table.scrollable_content_region.width  # nothing cut at 80 columns
        warning = wizard.query_one("#choose-warning", Static)
        assert not warning.display
        await press_and_settle(pilot, "up")
        assert warning.display and rendered(warning).startswith(f"⚠ A safety backup, taken before restoring {REPLACED}")
        await press_and_settle(pilot, "enter")
        assert rendered(wizard.query_one("#target-backup", Static)).startswith(f"Backup    {SAFETY_ID} · safety · ")


@pytest.mark.parametrize("verified", [True, False])
def test_a_safety_backup_is_never_the_one_offered_while_another_backup_is(verified: bool) -> None:
    """Verified or not, the safety backup (the data a replace restored away from, maybe) is listed and marked,
    but four keys restore the newest verified scheduled one; the question says what was passed over."""
    records = with_safety_backup()
    if verified:
        records[0] = replace(records[0], verifications=fixed_records()[0].verifications)
    assert records[0].verified_ok is verified
    index = preselect(records, None, "pagila")
    assert records[index].id == fixed_records()[0].id
    assert choose_question(records, index, None, "pagila") == \
        "Which backup? The newest verified one of pagila (newer safety backups aside) is selected."
    only_safety = [records[0]]
    assert preselect(only_safety, None, "pagila") == 0  # where it is all there is, it is offered (and warned of)
    assert preselect(records, SAFETY_ID, "pagila") == 0  # chosen on the Backups tab: as chosen
    bad = Verification(at=utc_iso(NOW), level="quick", ok=False, problems=("sha256 does not match",), duration_s=0.1)
    all_failed = [records[0], *(replace(r, verifications=(bad,)) for r in records[1:])]
    index = preselect(all_failed, None, "pagila")
    assert all_failed[index].id == SAFETY_ID  # every other backup failed its check: the safety one, not a failed one
    assert "Every other backup of pagila failed its last check" in choose_question(all_failed, index, None, "pagila")


@sync
async def test_a_question_longer_than_the_screen_wraps_whole() -> None:
    """At 80 columns the question naming the passed-over safety backups read "... aside) is", the rest cut."""
    app = fixed_app(FixedServices(with_safety_backup()))
    async with running(app, (80, 24)) as pilot:
        wizard = await open_wizard(pilot, app, database="pagila")
        label = wizard.query_one("#choose-question", Label)
        assert rendered(label).endswith("(newer safety backups aside) is selected.")
        assert len(rendered(label)) > label.size.width and label.size.height == 2  # wrapped, both lines shown
