"""What the wizard says when the engine refuses or fails, at 80x24 in the real app on a real cluster: the
message is read whole where the engineer looks, never under a notification or the buttons."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widget import Widget
from textual.widgets import Button, Static

from backup_tui.engine.config import Settings
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.tui.screens.restore import RestoreWizard
from tests.tui.conftest import press_and_settle, rendered, running, settle, sync, wait_until
from tests.tui.test_flows import GatedServices, count, make_app, start_gated_replace

pytestmark = pytest.mark.slow


def flip_bytes(path: Path, at: int, count: int = 16) -> None:
    """Disk rot: ``count`` bytes inverted in place at ``at``."""
    data = bytearray(path.read_bytes())
    for i in range(at, at + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@sync
async def test_a_damaged_backup_is_refused_under_the_name_whole_at_80x24(settings: Settings) -> None:
    record = run_backup(Context(settings), settings.databases[0])
    dump = next((settings.repository / "backups").rglob(f"{record.id}.dump.zst"))
    flip_bytes(dump, dump.stat().st_size // 2)
    app, shown = make_app(settings)
    async with running(app, (80, 24)) as pilot:
        await press_and_settle(pilot, "r", "enter")
        wizard = app.screen
        assert isinstance(wizard, RestoreWizard) and wizard.step == "target"
        error = wizard.query_one("#target-error", Static)
        await pilot.press("enter")  # on to the plan: the engine reads the archive and refuses
        await wait_until(pilot, lambda: "choose another backup" in rendered(error))
        await settle(pilot)
        assert wizard.step == "target"
        assert not [m for m in shown if "damaged" in m]  # no notification over the page saying it again
        page = wizard.query_one("#target")
        buttons = wizard.query_one("#to-plan", Button).parent
        assert isinstance(buttons, Widget)
        # Every line of it on screen: below the page's top, above the buttons docked at its bottom.
        assert page.region.y <= error.region.y and error.region.bottom <= buttons.region.y, (
            error.region, buttons.region)
        assert error.region.height >= 3  # the whole message, wrapped at 80 columns


@sync
async def test_a_replace_that_fails_midway_says_the_original_is_untouched_at_80x24(
    settings: Settings, pg_sandbox: Sandbox
) -> None:
    """The server loses the copy being restored (as when it goes away): the failure page says what the engine
    did about it, which the log tail, squeezed to its border at 80x24, did not show."""
    db = settings.databases[0]
    run_backup(Context(settings), db)
    services = GatedServices(settings)
    app, _ = make_app(settings, services)
    async with running(app, (80, 24)) as pilot:
        job = await start_gated_replace(pilot, app, services, db.database)
        wizard = app.screen
        assert isinstance(wizard, RestoreWizard)
        work_db = next(step.detail for step in job.steps if step.name == "create")
        pg_sandbox.psql(f'DROP DATABASE "{work_db}" WITH (FORCE)')
        services.gate.set()
        await wait_until(pilot, lambda: not job.running)
        await settle(pilot)
        assert job.state == "failed"
        outcome = wizard.query_one("#progress-outcome", Static)
        said = rendered(outcome)
        assert "restore stopped: the original is untouched" in said and work_db in said, said
        assert "safety backup" in said and "Jobs tab (3)" in said
        close = wizard.query_one("#close-failed", Button)
        assert outcome.region.bottom <= close.region.y, (outcome.region, close.region)  # none of it under Close
    assert count(pg_sandbox, db.database) == 16044  # the original as it was
