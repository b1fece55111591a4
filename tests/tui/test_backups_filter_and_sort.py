"""The Backups tab's filter and sort, on the fixed catalog: the filter matches the text the rows show (every word,
any case, the words its hint suggests), a card's enter filters to that database alone, esc clears a filter kept by
enter; s and S change the order and the header's arrow marks the sort in force."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import Input, TabbedContent

from backup_tui.tui.app import BackupApp
from backup_tui.tui.widgets.backups import COLUMNS
from backup_tui.tui.widgets.dashboard import DatabaseCard
from tests.tui.conftest import SIZE, SIZES, press_and_settle, running, settle, sync, table_of, wait_until
from tests.tui.fixtures import FAILED_ID, PAGILA_TABLES, FixedServices, _record, fixed_app, fixed_records


def column_texts(app: BackupApp, key: str) -> list[str]:
    table = table_of(app)
    return [str(table.get_cell(row, key)) for row in table.rows]


def row_texts(app: BackupApp) -> list[str]:
    table = table_of(app)
    return [" ".join(str(cell) for cell in table.get_row(row)) for row in table.rows]


async def filter_by(pilot: Pilot[Any], app: BackupApp, needle: str) -> None:
    app.main.backups.filter_to(needle)
    await settle(pilot)


# -- the filter matches what the rows show -------------------------------------------------------------------


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


# -- esc clears the filter, after enter too ------------------------------------------------------------------


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


# -- the sort: the arrow marks the sort in force, S reverses it ------------------------------------------------


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
