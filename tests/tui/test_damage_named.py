"""The terminal app's side of damage a restore's plan finds: recorded by the engine, it reaches the dashboard
card (which names the backup) and the Backups tab (failed check) as soon as the wizard says why it refused.
The real app on a real cluster, with a real backup whose stored bytes were damaged on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Static

from backup_tui.engine.config import Settings
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.tui.screens.restore import RestoreWizard
from backup_tui.tui.widgets.dashboard import DatabaseCard
from tests.tui.conftest import press_and_settle, rendered, running, settle, sync, wait_until
from tests.tui.test_flows import make_app

pytestmark = pytest.mark.slow


@sync
async def test_damage_the_plan_found_reaches_the_card_naming_the_backup_at_80x24(settings: Settings) -> None:
    record = run_backup(Context(settings), settings.databases[0])
    stored = Path(record.path)
    stored.write_bytes(b"\0\0\0\0" + stored.read_bytes()[4:])  # the stream's first frame no longer begins
    app, _ = make_app(settings)
    async with running(app, (80, 24)) as pilot:
        [card] = app.main.dashboard.query(DatabaseCard)
        assert "FAILING" not in rendered(card)  # never verified: a warning only, until something reads it
        await press_and_settle(pilot, "r", "enter")
        wizard = app.screen
        assert isinstance(wizard, RestoreWizard) and wizard.step == "target"
        await pilot.press("enter")  # on to the plan: the engine reads the archive, refuses and records it
        await wait_until(pilot, lambda: "choose another backup" in rendered(wizard.query_one("#target-error",
                                                                                             Static)))
        short = record.id.removeprefix(f"{record.database}-")  # the card is the database's: its backups by time
        await wait_until(pilot, lambda: f"verification of {short} " in rendered(card))  # named whole at 80 columns
        await press_and_settle(pilot, "escape", "escape")
        assert "FAILING" in rendered(card)
        alerts = " ".join(rendered(app.main.dashboard.query_one("#alerts", Static)).split())  # as one text: the
        assert f"verification of {record.id} failed" in alerts or "! shows all" in alerts  # id's length moves wraps
        problems = [p.message for h in app.health for p in h.problems]
        assert any(record.id in m and "zstd stream is corrupt" in m for m in problems)  # the cause, on !
        await press_and_settle(pilot, "2")
        await settle(pilot)
        cell = app.main.backups.table.get_cell(record.id, "id")
        assert isinstance(cell, Text) and cell.plain == f"{record.id} (failed check)"
