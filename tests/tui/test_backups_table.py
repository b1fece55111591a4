"""The Backups tab's table on the fixed catalog, at every width: which columns show (one priority, one fixed order,
the id first and whole, nothing cut at the right edge), a failed check marked on its row, the detail pane, the
cursor kept where the operator left it as rows come and go, and the keys and commands offered for a backup."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.text import Text
from textual.containers import VerticalScroll
from textual.coordinate import Coordinate
from textual.widgets import Static
from textual.widgets._footer import FooterKey

from backup_tui.engine.core.models import SAFETY_REASON_PREFIX, Verification
from backup_tui.engine.core.progress import StepFinished, StepStarted
from backup_tui.tui import format as fmt
from backup_tui.tui.app import BackupApp
from backup_tui.tui.jobs import Job
from backup_tui.tui.widgets.backups import PRIORITY
from tests.tui.conftest import (
    SIZE,
    SIZES,
    press_and_settle,
    rendered,
    right_edge,
    running,
    screen_lines,
    select,
    settle,
    sync,
    table_of,
    wait_until,
)
from tests.tui.fixtures import FAILED_ID, NOW, FixedServices, fixed_app, fixed_records
from tests.tui.test_fit_80x24 import table_lines

# The columns' places, whichever of them are shown: the id first, as in the restore wizard. Written out here,
# not taken from the widget, so that the tests hold the widget to it.
ORDER = ("id", "created", "age", "database", "size", "ratio", "took", "verified", "where", "host", "pin")


def on_screen(app: BackupApp) -> list[str]:
    table = app.main.backups.table
    return [str(key.value) for key in table.columns
            if right_edge(table, str(key.value)) <= table.scrollable_content_region.width]


# -- the columns: one priority, one order, at every width; what matters fits at 80 ----------------------------


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


@sync
async def test_one_long_status_leaves_the_size_in_the_table_at_80_columns() -> None:
    """A safety backup whose check failed reads "(failed check) · safety" after its id: the ID column took 52
    cells for that one row, and at 80 columns every row lost its size. The column keeps room for the status
    whole; that row's safety mark is cut, with an ellipsis (the detail pane has it)."""
    records = fixed_records()
    newest = max((r for r in records if r.database == "pagila"), key=lambda r: r.created_at)
    failed = Verification(at="2025-03-14T09:00:00Z", level="full", ok=False, problems=("x",))
    records = [replace(r, verifications=(failed,), reason=SAFETY_REASON_PREFIX + "pagila-20250313T020000Z")
               if r is newest else r for r in records]
    app = fixed_app(FixedServices(records))
    async with running(app, SIZE) as pilot:
        await press_and_settle(pilot, "2")
        table = table_of(app)
        assert [str(c.label).split(" ")[0] for c in table.columns.values()] == ["ID", "Size", "Verified"]
        row = table_lines(table)[1]
        assert f"{newest.id} (failed check) ·…" in row and "2.5 MB" in row, row


# -- a backup whose last verification failed is not "valid" ----------------------------------------------------


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


# -- the detail pane -------------------------------------------------------------------------------------------


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


# -- the cursor stays where the operator left it -----------------------------------------------------------------


@sync
async def test_cursor_stays_in_place_when_many_rows_go() -> None:
    """Past ten gone rows the table is rebuilt: the cursor still stays at its index."""
    services = FixedServices()
    app = fixed_app(services)
    async with running(app, SIZE) as pilot:
        await press_and_settle(pilot, "2", *["down"] * 5)
        table = table_of(app)
        ids = [str(row.value) for row in table.rows]
        gone = set(ids[:12])  # the selected row and the eleven around it
        services.records = [r for r in services.records if r.id not in gone]
        app.refresh_catalog()
        await wait_until(pilot, lambda: table.row_count == len(ids) - len(gone))
        await settle(pilot)
        assert table.cursor_row == 5
        selected = app.main.backups.selected
        assert selected is not None and selected.id == ids[5 + len(gone)]


@sync
async def test_backups_taken_while_another_tab_shows_stay_in_sight_above_the_selected_one() -> None:
    """The table hidden behind the dashboard while backups are taken: the selected (older) row keeps its place
    in view and the new rows above it are on screen, not scrolled out of sight (the newest read as days old)."""
    app = fixed_app()
    async with running(app, SIZE) as pilot:
        await press_and_settle(pilot, "2", "down", "down", "down", "down", "down")
        table = table_of(app)
        selected = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key
        await press_and_settle(pilot, "1")
        for _ in range(3):
            await press_and_settle(pilot, "b")
            await wait_until(pilot, lambda: not any(job.running for job in app.jobs.values()))
            await settle(pilot)
        await press_and_settle(pilot, "2")
        await pilot.pause(0.05)
        assert table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key == selected
        assert table.cursor_row == 8 and table.scroll_y == 0  # the three new backups and the five before, in view
        assert str(table.get_cell_at(Coordinate(0, 0))).startswith("pagila-20")


# -- the keys and commands for a backup: u greyed out without S3, the palette's commands on this tab only ---------


@pytest.mark.parametrize(("size", "in_footer"), [((80, 24), False), ((120, 36), True)])
@sync
async def test_upload_key_is_greyed_out_without_s3(size: tuple[int, int], in_footer: bool) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        await press_and_settle(pilot, "2", "u")
        assert not app._notifications and app.screen is app.main
        upload = [b for b in app.screen.active_bindings.values() if b.binding.key == "u"]
        assert [b.enabled for b in upload] == ([False] if in_footer else [])
        keys = {key.key for key in app.main.query(FooterKey)}
        assert {"q", "f1"} <= keys and ("u" in keys) == in_footer


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
