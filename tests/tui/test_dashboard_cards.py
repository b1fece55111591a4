"""The dashboard's cards on the fixed catalog: the verification line names the backup it is about (never crediting
the newest with an older one's check), nothing wraps at 80 columns, the size trend keeps a small spread flat, and
the arrows move between the cards, as the help says."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.text import Text
from textual.content import Content
from textual.widgets import Markdown

from backup_tui.engine.core.models import Verification
from backup_tui.tui.app import BackupApp
from backup_tui.tui.screens.help import HELP
from backup_tui.tui.widgets.dashboard import DatabaseCard
from backup_tui.tui.widgets.trend import trend_text
from tests.tui.conftest import SIZE, SIZES, press_and_settle, rendered, running, sync
from tests.tui.fixtures import FixedServices, fixed_app, fixed_records


def card_lines(app: BackupApp, database: str) -> list[str]:
    card = next(c for c in app.main.query(DatabaseCard) if c.database == database)
    content = card.render()
    assert isinstance(content, (Text, Content))
    return content.plain.splitlines()


# -- the card says which backup the verification is about ---------------------------------------------------


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


# -- the size trend -----------------------------------------------------------------------------------------


@sync
async def test_the_size_trend_does_not_magnify_a_small_spread() -> None:
    app = fixed_app()
    async with running(app, (80, 24)):
        card = next(c for c in app.main.dashboard.query(DatabaseCard) if c.database == "inventory")
        trend = rendered(card).splitlines()[3].removeprefix("size trend ")
        assert len(trend) == 4 and set(trend) <= set("▃▄▅")  # 61.3 to 61.9 KB: flat-ish
    assert trend_text([23682, 23947, 24011, 23991], []).plain == "▄▅▅▅"
    assert trend_text([100, 200, 300, 400], []).plain == "▁▃▆█"  # a real spread keeps its range


# -- arrows move between the cards ----------------------------------------------------------------------------


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
