"""The quit dialog follows the jobs, on the fixed catalog: while a job runs it offers to keep running, and when
that job ends with the dialog open it says nothing is running now and offers Stay or Quit."""

from __future__ import annotations

from textual.widgets import Button, Label

from backup_tui.tui.screens.dialogs import QuitDialog
from tests.tui.conftest import held_restore, press_and_settle, running, settle, sync, wait_until
from tests.tui.fixtures import FixedServices, fixed_app


@sync
async def test_quit_dialog_says_keep_running() -> None:
    app = fixed_app(FixedServices(hold_restore=True))
    async with running(app, (80, 24)) as pilot:
        job = await held_restore(pilot, app)
        await settle(pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitDialog))
        assert str(app.screen.query_one("#no", Button).label) == "Keep running"
        await press_and_settle(pilot, "escape")
        job.cancel.cancel()
        await wait_until(pilot, lambda: not app.running_jobs)


@sync
async def test_quit_dialog_updates_when_the_job_ends() -> None:
    services = FixedServices(hold_restore=True)
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        job = await held_restore(pilot, app, "copy")
        app.push_screen(QuitDialog(lambda: app.running_jobs))
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, QuitDialog)
        assert "1 job running" in str(dialog.query_one("#dialog-message", Label).render())
        services.release.set()
        await wait_until(pilot, lambda: not job.running)
        await settle(pilot)
        assert "nothing is running now" in str(dialog.query_one("#dialog-message", Label).render())
        assert str(dialog.query_one("#no", Button).label) == "Stay"  # "Keep running" is for running jobs
        assert str(dialog.query_one("#yes", Button).label) == "Quit"
