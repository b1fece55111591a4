"""Every screen and dialog at 80x24 and 120x36, on the fixed catalog and clock.

Update after an intended change: pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, TabbedContent

from backup_tui.tui.app import BackupApp
from backup_tui.tui.screens.dialogs import QuitDialog
from backup_tui.tui.screens.restore import RestoreWizard
from tests.tui.conftest import SIZES, press_and_settle, settle, to_plan, wait_until
from tests.tui.fixtures import FixedServices, fixed_app

Steps = Callable[[Pilot[Any]], Awaitable[None]]

pytestmark = pytest.mark.usefixtures("no_blink")


def app_of(pilot: Pilot[Any]) -> BackupApp:
    assert isinstance(pilot.app, BackupApp)
    return pilot.app


def keys(*presses: str) -> Steps:
    async def run(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await press_and_settle(pilot, *presses)

    return run


async def wizard(pilot: Pilot[Any]) -> RestoreWizard:
    await keys("2", "r")(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RestoreWizard)
    return screen


async def wizard_target(pilot: Pilot[Any]) -> None:
    screen = await wizard(pilot)
    screen.query_one("#to-target", Button).press()
    await settle(pilot)


async def wizard_plan(pilot: Pilot[Any], replace: bool = False) -> RestoreWizard:
    screen = await wizard(pilot)
    await to_plan(pilot, screen, replace)
    return screen


async def wizard_plan_new(pilot: Pilot[Any]) -> None:
    await wizard_plan(pilot)


async def wizard_plan_replace(pilot: Pilot[Any]) -> None:
    await wizard_plan(pilot, replace=True)


async def wizard_confirm(pilot: Pilot[Any]) -> None:
    screen = await wizard_plan(pilot, replace=True)
    screen.query_one("#run", Button).press()
    await settle(pilot)
    await press_and_settle(pilot, *"pagi")


async def wizard_progress(pilot: Pilot[Any]) -> None:
    screen = await wizard_plan(pilot)
    screen.query_one("#run", Button).press()
    await wait_until(pilot, lambda: screen.job is not None and screen.job.bytes_done > 0)
    await pilot.pause()


async def wizard_result_replace(pilot: Pilot[Any]) -> None:
    await wizard_confirm(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RestoreWizard)
    await pilot.press(*"la", "enter")
    await wait_until(pilot, lambda: screen.step == "result")
    await settle(pilot)


async def backup_then_jobs(pilot: Pilot[Any]) -> None:
    await keys("b")(pilot)
    await wait_until(pilot, lambda: not app_of(pilot).running_jobs)
    await keys("3")(pilot)


async def quit_with_job_running(pilot: Pilot[Any]) -> None:
    """Each step waits for its outcome, so the screen behind the dialog is always the dashboard."""
    await wizard_progress(pilot)
    app = app_of(pilot)
    app.pop_screen()  # the restore goes on as a job
    await wait_until(pilot, lambda: not isinstance(app.screen, RestoreWizard))
    tabs = app.screen.query_one(TabbedContent)
    # As the 1 key does, focus included: a table focused on a hidden tab would switch back to it.
    app.action_show_tab("dashboard")
    await wait_until(pilot, lambda: tabs.active == "dashboard" and app.main.dashboard.region.width > 0
                     and app.main.dashboard.focused_database() is not None)
    await settle(pilot)
    await pilot.press("q")
    await wait_until(pilot, lambda: isinstance(app.screen, QuitDialog))
    await settle(pilot)


SCENARIOS: dict[str, tuple[Steps, bool]] = {
    "dashboard": (keys(), False),
    "backups": (keys("2"), False),
    "backups_filtered": (keys("2", "slash", *"inventory", "enter", "down", "down", "down"), False),
    "verify_dialog": (keys("2", "v"), False),
    "delete_dialog": (keys("2", "down", "down", "down", "d"), False),
    "help": (keys("f1"), False),
    "problems": (keys("exclamation_mark"), False),
    "palette": (keys("ctrl+p", *"backup"), False),
    "jobs": (backup_then_jobs, False),
    "wizard_choose": (keys("2", "r"), False),
    "wizard_target": (wizard_target, False),
    "wizard_plan": (wizard_plan_new, False),
    "wizard_plan_replace": (wizard_plan_replace, False),
    "wizard_confirm": (wizard_confirm, False),
    "wizard_progress": (wizard_progress, True),
    "wizard_result_replace": (wizard_result_replace, False),
    "quit_dialog": (quit_with_job_running, True),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_snapshot(scenario: str, size: tuple[int, int], snap_compare: Any) -> None:
    steps, hold = SCENARIOS[scenario]
    app = fixed_app(FixedServices(hold_restore=hold))
    assert snap_compare(app, terminal_size=size, run_before=steps)
