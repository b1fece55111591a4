"""Wrong emphasis (issue 14, class 3): no toast over the result the screen already shows, a cancel that reads as
the operator's choice and not as a red failure, no command-line flag in the app's words."""

from __future__ import annotations

import dataclasses

from textual.notifications import Notification
from textual.widgets import Button, DataTable, Static

from backup_tui.tui.app import BackupApp
from backup_tui.tui.screens.restore import plan_text
from tests.tui.conftest import press_and_settle, running, settle, start_restore, sync, wait_until
from tests.tui.fixtures import NOW, FixedServices, fixed_app, fixed_plan, fixed_records


def toasts(app: BackupApp) -> list[Notification]:
    """The notifications up now (Textual keeps them on the app; its toasts show them)."""
    return list(app._notifications)


@sync
async def test_no_toast_covers_the_result_the_wizard_shows_at_80x24() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        wizard = await start_restore(pilot, app, until_result=True)
        await settle(pilot)
        assert not toasts(app)
        assert wizard.query_one("#close", Button).has_focus
        await press_and_settle(pilot, "enter")
        assert app.screen is app.main
        assert any("into 'pagila" in entry.message for entry in app.activity)  # the log keeps every outcome


@sync
async def test_a_restore_left_for_the_jobs_tab_says_how_it_ended_there_without_a_toast() -> None:
    """The Jobs tab's row says how the job ended: a toast over the tab's log at 80x24 said it twice."""
    services = FixedServices(hold_restore=True)
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        await start_restore(pilot, app)
        job = app.running_jobs[0]
        await press_and_settle(pilot, "3")
        services.release.set()
        await wait_until(pilot, lambda: not app.running_jobs)
        await settle(pilot)
        assert not toasts(app)
        table = app.main.jobs.query_one(DataTable)
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row[1] == "done" and job.message.startswith(row[-1].rstrip("…"))


@sync
async def test_a_job_that_ends_under_another_tab_says_so_in_a_toast() -> None:
    services = FixedServices(hold_restore=True)
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        await start_restore(pilot, app)
        title = app.running_jobs[0].title
        await press_and_settle(pilot, "3")
        await press_and_settle(pilot, "1")  # the dashboard: nothing on it says how the restore ended
        services.release.set()
        await wait_until(pilot, lambda: not app.running_jobs)
        await settle(pilot)
        assert [n.title for n in toasts(app)] == [title]


@sync
async def test_a_cancelled_restore_reads_as_stopped_not_failed() -> None:
    app = fixed_app(FixedServices(hold_restore=True))
    async with running(app, (80, 24)) as pilot:
        wizard = await start_restore(pilot, app)
        wizard.query_one("#cancel-restore", Button).press()
        await wait_until(pilot, lambda: wizard.job is not None and not wizard.job.running)
        await settle(pilot)
        steps = wizard.query_one("#progress-steps", Static).render()
        assert "✗" not in str(steps) and " ■ restore" in str(steps)
        assert not [span for span in steps.spans if "red" in str(span.style)]  # type: ignore[union-attr]
        outcome = wizard.query_one("#progress-outcome", Static).render()
        assert not [span for span in outcome.spans if "red" in str(span.style)]  # type: ignore[union-attr]
        assert not toasts(app)


def test_a_refused_plan_names_the_apps_ways_around_it_never_a_flag() -> None:
    """The engine's plan carries both wordings: flags for backup-headless, the app's buttons and words here."""
    record = fixed_records()[0]
    plan = dataclasses.replace(fixed_plan(record, "copy", False), missing_roles=("app_owner",),
                               missing_tablespaces=("fast_ssd",))
    text = plan_text(plan, record, NOW, None).plain
    assert "Cannot restore here" in text and "fast_ssd" in text and "app_owner" in text
    assert "a command-line restore without tablespaces would put their tables" in text
    assert "--" not in text
    assert plan.refusal is not None and "--no-tablespaces would" in plan.refusal  # the CLI's words, unchanged
    only_roles = dataclasses.replace(fixed_plan(record, "copy", False), missing_roles=("app_owner",))
    assert "or restore with “Without owners” below" in plan_text(only_roles, record, NOW, None).plain
