"""A restore's screen reopened from the Jobs tab names the steps it was started with: a replace's has the
Confirm step, as it had when the engineer typed the name (not left out, with the Restore step numbered 4)."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Static

from backup_tui.engine.ops.kept import KeptCopy
from backup_tui.tui.app import BackupApp
from backup_tui.tui.screens.restore import RestoreWizard
from tests.tui.conftest import open_plan, press_and_settle, rendered, running, sync, wait_until
from tests.tui.fixtures import NOW, FixedServices, fixed_app

REPLACE_STEPS = "1 Backup › 2 Target › 3 Plan › 4 Confirm › 5 Restore › 6 Result"


async def replace_pagila(pilot: Pilot[Any], app: BackupApp) -> RestoreWizard:
    """Pagila replaced by its newest verified backup, the name typed: back once the restore has started."""
    wizard = await open_plan(pilot, app, database="pagila", replace=True)
    await press_and_settle(pilot, "enter")
    wizard.query_one("#confirm-name", Input).value = "pagila"
    await press_and_settle(pilot, "enter")
    return wizard


def steps_of(wizard: RestoreWizard) -> str:
    return " ".join(rendered(wizard.query_one("#wizard-steps", Static)).split())


@sync
async def test_a_finished_replace_reopens_with_its_confirm_step() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        wizard = await replace_pagila(pilot, app)
        await wait_until(pilot, lambda: wizard.step == "result")
        assert steps_of(wizard) == REPLACE_STEPS
        await press_and_settle(pilot, "3", "enter")
        again = app.screen
        assert isinstance(again, RestoreWizard) and again is not wizard and again.step == "result"
        assert steps_of(again) == REPLACE_STEPS


@sync
async def test_a_running_replace_reopens_with_its_confirm_step() -> None:
    services = FixedServices(hold_restore=True)
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        wizard = await replace_pagila(pilot, app)
        await wait_until(pilot, lambda: wizard.job is not None and wizard.job.bytes_done > 0)
        await press_and_settle(pilot, "3", "enter")
        again = app.screen
        assert isinstance(again, RestoreWizard) and again.step == "progress"
        assert steps_of(again) == REPLACE_STEPS
        services.release.set()
        await wait_until(pilot, lambda: again.step == "result")
        assert steps_of(again) == REPLACE_STEPS


@sync
async def test_a_reopened_replace_says_when_its_previous_database_is_no_longer_kept() -> None:
    """Reopened after a rollback (or a drop), the result named a kept copy that was gone and a rollback that
    would now swap the restored data back out; it looks, and says so. While the copy is there, as before, and
    the rollback names it (--to) once a later replace kept a newer one, which a bare rollback would take."""
    services = FixedServices()
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        wizard = await replace_pagila(pilot, app)
        await wait_until(pilot, lambda: wizard.step == "result")
        aside = wizard.plan.aside_db if wizard.plan else None
        assert aside and f"Previous database kept as {aside}" in rendered(wizard.query_one("#result-notes", Static))
        services.kept["pagila"] = [KeptCopy(aside, "pagila", "replaced", NOW, 1)]
        await press_and_settle(pilot, "escape", "3", "enter")
        again = app.screen
        assert isinstance(again, RestoreWizard) and again.step == "result"
        assert f"Previous database kept as {aside}" in rendered(again.query_one("#result-notes", Static))
        newer = KeptCopy("pagila__pre_restore_20250315093000", "pagila", "replaced", NOW, 1)
        services.kept["pagila"] = [newer, KeptCopy(aside, "pagila", "replaced", NOW, 1)]  # a later replace's
        await press_and_settle(pilot, "escape", "enter")
        later = app.screen
        assert isinstance(later, RestoreWizard) and later is not again
        await wait_until(pilot, lambda: "--to" in rendered(later.query_one("#result-notes", Static)))
        assert f"backup-headless rollback pagila --to {aside}" in rendered(later.query_one("#result-notes", Static))
        services.kept["pagila"] = []  # rolled back since: the server lists no such copy
        await press_and_settle(pilot, "escape", "enter")
        third = app.screen
        assert isinstance(third, RestoreWizard) and third is not again
        await wait_until(pilot, lambda: "no longer kept" in rendered(third.query_one("#result-notes", Static)))
        notes = rendered(third.query_one("#result-notes", Static))
        assert f"Previous database {aside} is no longer kept" in notes and "rollback" not in notes
