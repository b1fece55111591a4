"""Findings of the second new-user trial of --demo, pinned on the fixed catalog."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from rich.text import Text
from textual.widgets import DataTable, Input, Label, Markdown, Static, TabbedContent

from backup_tui.engine.core.models import SAFETY_REASON_PREFIX, BackupRecord, Verification, utc_iso
from backup_tui.tui.app import BackupApp
from backup_tui.tui.screens.help import HELP
from backup_tui.tui.screens.restore import choose_question, preselect
from backup_tui.tui.widgets.backups import PRIORITY
from backup_tui.tui.widgets.dashboard import DatabaseCard
from tests.tui.conftest import open_wizard, press_and_settle, rendered, right_edge, running, settle, sync, wait_until
from tests.tui.fixtures import NOW, FixedServices, fixed_app, fixed_records

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]
REPLACED = "pagila-20250310T020000Z"  # the backup the safety backup was taken before restoring
SAFETY_ID = "pagila-20250314T092900Z"
# The columns' places, whichever of them are shown: the id first, as in the restore wizard.
ORDER = ("id", "created", "age", "database", "size", "ratio", "took", "verified", "where", "host", "pin")



def with_safety_backup() -> list[BackupRecord]:
    """The fixed catalog right after a restore --replace of pagila from ``REPLACED``."""
    newest = fixed_records()[0]
    moment = NOW - timedelta(minutes=1)
    safety = replace(newest, id=SAFETY_ID, created_at=utc_iso(moment), finished_at=utc_iso(moment),
                     reason=f"{SAFETY_REASON_PREFIX} {REPLACED}", verifications=(), pinned=False)
    return [safety, *fixed_records()]


def card(app: BackupApp, database: str) -> DatabaseCard:
    return next(c for c in app.main.query(DatabaseCard) if c.database == database)


# -- 1. arrows move between the dashboard's cards -----------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_arrows_move_between_cards(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        dashboard = app.main.dashboard
        assert dashboard.focused_database() == "pagila"
        await pilot.press("down")
        assert dashboard.focused_database() == "inventory"
        await pilot.press("down")  # the last card: stays there
        assert dashboard.focused_database() == "inventory"
        await pilot.press("up")
        assert dashboard.focused_database() == "pagila"
        await pilot.press("up")
        assert dashboard.focused_database() == "pagila"
        await press_and_settle(pilot, "down", "enter")  # the next key acts on the card the arrow selected
        assert app.main.backups.needle == "db:inventory"


def test_help_lists_the_dashboard_arrows() -> None:
    assert any(line.startswith("| dashboard | `↑` `↓`") for line in HELP.splitlines())


@sync
async def test_help_screen_shows_the_arrows() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        await press_and_settle(pilot, "f1")
        assert "↑" in app.screen.query_one(Markdown).source


# -- 2. a safety backup is marked as one ----------------------------------------------------


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


@sync
async def test_a_scheduled_backup_is_not_marked() -> None:
    app = fixed_app()
    async with running(app, (80, 24)):
        assert "safety" not in rendered(card(app, "pagila"))
        assert card(app, "pagila").content_size.height == 4  # nothing wraps at 80 columns


# -- 3. the table's columns: one priority, one order, at every width ------------------------


def on_screen(app: BackupApp) -> list[str]:
    table = app.main.backups.table
    return [str(key.value) for key in table.columns
            if right_edge(table, str(key.value)) <= table.scrollable_content_region.width]


@pytest.mark.parametrize("size", [(50, 15), (80, 24), (100, 30), (120, 40), (180, 40)],
                         ids=lambda size: f"{size[0]}x{size[1]}")
@sync
async def test_columns_follow_the_priority_in_a_fixed_order(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        await press_and_settle(pilot, "2")
        shown = on_screen(app)
        keys = [str(key.value) for key in app.main.backups.table.columns]
        assert shown == keys  # no column is cut off at the right edge
        assert set(shown) == set(PRIORITY[:len(shown)]), shown  # the most useful ones, none skipped
        assert shown == [key for key in ORDER if key in shown], shown  # never moved
        if size[0] >= 80:  # a wider terminal never shows fewer than an 80-column one, detail pane or not
            assert set(PRIORITY[:4]) <= set(shown), shown
        if size == (80, 24):
            assert shown == ["id", "size", "verified", "pin"]  # the README's narrow terminal


@sync
async def test_resizing_never_moves_a_column() -> None:
    app = fixed_app()
    async with running(app, (180, 40)) as pilot:
        await press_and_settle(pilot, "2")
        for width in (100, 80, 50, 120, 180):
            await pilot.resize_terminal(width, 30)
            await settle(pilot)
            await settle(pilot)
            shown = on_screen(app)
            assert shown[0] == "id" and shown == [key for key in ORDER if key in shown], (width, shown)
            assert set(shown) == set(PRIORITY[:len(shown)]), (width, shown)


# -- 4. esc clears the filter after enter too -----------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_escape_clears_a_kept_filter(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        await press_and_settle(pilot, "2")
        view, table = app.main.backups, app.main.backups.table
        everything = table.row_count
        await pilot.press("slash", *"inventory", "enter")
        await wait_until(pilot, lambda: table.row_count == 4)
        assert table.has_focus
        await pilot.press("escape")
        await wait_until(pilot, lambda: table.row_count == everything)
        box = view.query_one("#filter", Input)
        assert view.needle == "" and box.value == "" and not box.display and table.has_focus


@sync
async def test_escape_without_a_filter_changes_nothing() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        await press_and_settle(pilot, "2")
        table = app.main.backups.table
        rows, cursor = table.row_count, table.cursor_row
        await press_and_settle(pilot, "down", "escape")
        assert table.has_focus and table.row_count == rows and table.cursor_row == cursor + 1
        assert app.main.query_one(TabbedContent).active == "backups"

