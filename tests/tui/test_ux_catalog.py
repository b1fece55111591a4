"""First-time-user problems in the dashboard and the backups table, pinned at 80x24 on the fixed catalog."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from rich.text import Text
from textual.content import Content
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input
from textual.widgets._footer import FooterKey

from backup_tui.engine.core.models import SAFETY_REASON_PREFIX, Verification
from backup_tui.tui.app import BackupApp
from backup_tui.tui.screens.dialogs import ConfirmDialog
from backup_tui.tui.widgets.backups import BackupsView
from backup_tui.tui.widgets.dashboard import DatabaseCard
from tests.tui.conftest import press_and_settle, running, settle, sync, wait_until
from tests.tui.fixtures import PAGILA_TABLES, FixedServices, _record, fixed_app, fixed_records
from tests.tui.test_fit_80x24 import table_lines

SIZE = (80, 24)


def card_lines(app: BackupApp, database: str) -> list[str]:
    card = next(c for c in app.main.query(DatabaseCard) if c.database == database)
    content = card.render()
    assert isinstance(content, (Text, Content))
    return content.plain.splitlines()


def table_of(app: BackupApp) -> DataTable[Any]:
    return app.main.backups.table


def column_texts(app: BackupApp, key: str) -> list[str]:
    table = table_of(app)
    return [str(table.get_cell(row, key)) for row in table.rows]


def row_texts(app: BackupApp) -> list[str]:
    table = table_of(app)
    return [" ".join(str(cell) for cell in table.get_row(row)) for row in table.rows]


async def filter_by(pilot: Pilot[Any], app: BackupApp, needle: str) -> None:
    app.main.backups.filter_to(needle)
    await settle(pilot)


# -- 1. the dashboard says which backup the verification is about ---------------------


@sync
async def test_card_names_the_verified_backup() -> None:
    app = fixed_app()
    async with running(app, SIZE):
        pagila, inventory = card_lines(app, "pagila"), card_lines(app, "inventory")
        assert pagila[2] == "verified ✓ full, 7 hours ago (newest backup)"
        # inventory's newest backup was never verified; the failed check is about an older one, named
        assert inventory[2] == "newest never verified; last ✗ quick, 9 hours ago of 20250305T030000Z"
        for card in app.main.query(DatabaseCard):
            assert card.content_size.height == 4  # nothing wraps at 80 columns
            assert all(len(line) <= card.content_size.width for line in card_lines(app, card.database))


@sync
async def test_a_card_warning_for_an_older_backup_names_it_beside_the_newest_verified() -> None:
    """A check of an older backup failed after the newest passed its own: a warning (the newest is a good
    restore point), and it must not read as about the newest, so the verification line names the backup."""
    records = fixed_records()
    older = next(r for r in records if r.id == "pagila-20250312T020000Z")
    bad = Verification(at="2025-03-14T09:00:00Z", level="quick", ok=False, problems=("sha256 mismatch",))
    records = [replace(r, verifications=(bad,)) if r is older else r for r in records]
    app = fixed_app(FixedServices(records))
    async with running(app, SIZE):
        lines = card_lines(app, "pagila")
        assert lines[0].startswith("▲ WARNING  verification of 20250312T020000Z failed")  # by time, as below
        assert lines[2] == "verified ✓ full, 7 hours ago (newest); 20250312T020000Z ✗ failed"
        card = next(c for c in app.main.query(DatabaseCard) if c.database == "pagila")
        assert all(len(line) <= card.content_size.width for line in lines)


@sync
async def test_card_does_not_credit_the_newest_with_an_older_verification() -> None:
    records = fixed_records()
    newest = next(r for r in records if r.database == "pagila")
    records = [replace(r, verifications=()) if r is newest else r for r in records]
    app = fixed_app(FixedServices(records))
    async with running(app, SIZE):
        line = card_lines(app, "pagila")[2]
        assert line.startswith("newest never verified; last ✓ quick, 3 days ago of ")
        assert line.endswith("20250311T020000Z")


@sync
async def test_card_without_any_verification() -> None:
    records = [replace(r, verifications=()) for r in fixed_records()]
    app = fixed_app(FixedServices(records))
    async with running(app, SIZE):
        assert card_lines(app, "pagila")[2] == "newest backup never verified"


# -- 2. the filter matches what the rows show ----------------------------------------


@sync
async def test_filter_matches_visible_text_only() -> None:
    app = fixed_app()
    async with running(app, SIZE) as pilot:
        await press_and_settle(pilot, "2", "slash", *"never")
        verified = column_texts(app, "verified")
        assert verified and all(text == "never" for text in verified)
        assert len(verified) == sum(1 for r in fixed_records() if r.last_verification is None)

        await filter_by(pilot, app, "NEVER")  # case-insensitive
        assert column_texts(app, "verified") == verified

        await filter_by(pilot, app, "03-1")  # a part of the dates shown (at 80 columns, in the detail pane)
        created = [record.created_at for record in app.main.backups.shown]
        assert created and all(text.startswith("2025-03-1") for text in created)
        assert len(created) == sum(1 for r in fixed_records() if r.created_at.startswith("2025-03-1"))

        await filter_by(pilot, app, "ver")  # only rows that read "never": no hidden "server 15.18"
        assert 0 < table_of(app).row_count < len(fixed_records())
        assert all("ver" in text.lower() for text in row_texts(app))

        for hidden in ("15.18", "scheduled", "zstd", "pinned", "unverified"):
            await filter_by(pilot, app, hidden)
            assert table_of(app).row_count == 0, hidden

        await filter_by(pilot, app, "inventory 20250305")  # database and id, every word must match
        assert [str(row.value) for row in table_of(app).rows] == ["inventory-20250305T030000Z"]

        await filter_by(pilot, app, "pagila ✓ full")  # across columns
        assert column_texts(app, "verified") == ["✓ full, 7 hours ago"]


@sync
async def test_a_card_opens_its_own_databases_backups_not_those_of_a_longer_name() -> None:
    """Enter on pagila's card lists pagila's backups alone: a newer backup of pagila_archive was on top, with the
    cursor, and ``r`` went on to restore it."""
    records = fixed_records()
    newest = max(r.created for r in records)
    archive = _record("pagila_archive", newest + timedelta(hours=1), 2_000_000, took=1.0, tables=PAGILA_TABLES)
    app = fixed_app(FixedServices([*records, archive]))
    async with running(app, SIZE) as pilot:
        card = next(c for c in app.main.query(DatabaseCard) if c.database == "pagila")
        card.focus()
        await press_and_settle(pilot, "enter")
        shown = app.main.backups.shown
        assert shown and {r.database for r in shown} == {"pagila"}
        assert len(shown) == sum(1 for r in records if r.database == "pagila")
        assert app.main.backups.query_one("#filter", Input).value == "db:pagila"
        await filter_by(pilot, app, "db:pagila_archive")
        assert [r.id for r in app.main.backups.shown] == [archive.id]
        await filter_by(pilot, app, "pagila")  # a bare word still finds it anywhere in the row
        assert archive.id in {r.id for r in app.main.backups.shown}


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


@sync
async def test_filter_on_a_new_catalog_load_keeps_matching_visible_text() -> None:
    app = fixed_app()
    async with running(app, SIZE) as pilot:
        await pilot.press("2")
        await filter_by(pilot, app, "never")
        count = table_of(app).row_count
        app.refresh_catalog()  # the loading thread filters too
        await settle(pilot)
        view = app.main.backups
        assert len(view.shown) == table_of(app).row_count == count
        assert all(r.last_verification is None for r in view.shown)


# -- 3. u is greyed out while there is no S3 (left out of the footer at 80 columns) -----


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


# -- 4. after a delete the cursor stays on the same row index --------------------------


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


# -- 5. S reverses the order from the keyboard, as a second click on the header does ---


def shown_ids(app: BackupApp) -> list[str | None]:
    """Row keys in display order (``DataTable.rows`` keeps insertion order)."""
    table = table_of(app)
    return [table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value for i in range(table.row_count)]


@sync
async def test_shift_s_reverses_the_order_and_the_header_says_so() -> None:
    app = fixed_app()
    async with app.run_test(size=SIZE) as pilot:
        await press_and_settle(pilot, "2")
        table, view = table_of(app), app.main.backups
        first = table.columns[next(iter(table.columns))]
        newest_first = shown_ids(app)
        created = [r.created_at for r in fixed_records()]
        assert str(first.label).endswith("▼") and len(newest_first) == len(created)
        await pilot.press("S")
        await wait_until(pilot, lambda: not view.sort_reverse and shown_ids(app) != newest_first)
        await settle(pilot)
        oldest_first = shown_ids(app)
        by_id = {r.id: r.created_at for r in fixed_records()}
        assert [by_id[key] for key in oldest_first if key] == sorted(created)
        assert str(first.label).endswith("▲")
        await pilot.press("S")
        await wait_until(pilot, lambda: shown_ids(app) == newest_first)


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
