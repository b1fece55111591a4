"""What the plan and the result must not leave out (issue 14, class 2): at 80x24 the replace plan says that
steps changing the live database follow and how to see them; a restore's screen (its progress, or its
result with row counts and rollback) reopens from the Jobs tab; the activity log is read to the end of a
line at 80 columns. The result says how to connect to what was restored, that the check's proof is kept, and
which safety backup stays in the repository."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.containers import VerticalScroll
from textual.widgets import Button, DataTable, RichLog, Static, TabbedContent

from backup_tui.tui.jobs import Job, LogEntry, Step
from backup_tui.tui.screens.restore import RestoreWizard, safety_note
from tests.tui.conftest import (
    open_plan,
    press_and_settle,
    rendered,
    running,
    settle,
    start_restore,
    sync,
    wait_until,
)
from tests.tui.fixtures import NOW, FixedServices, fixed_app


@sync
async def test_at_80x24_the_replace_plan_names_the_live_steps_below_and_the_arrows_reach_them() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        wizard = await open_plan(pilot, app, database="pagila", replace=True)
        more = wizard.query_one("#plan-more", Static)
        assert more.display
        assert rendered(more) == "▼ Below: steps 5–7 end the sessions on 'pagila' and rename it aside · ↓/PgDn"
        assert app.focused is wizard.query_one("#run", Button)  # the keys work from where the focus is
        scroll = wizard.query_one("#plan-scroll", VerticalScroll)
        await press_and_settle(pilot, "pagedown", "pagedown")
        assert scroll.scroll_y == scroll.max_scroll_y > 0
        assert not more.display  # all of it is on screen now
        await press_and_settle(pilot, "up")
        assert more.display
        await press_and_settle(pilot, "enter")  # the arrows moved no focus: enter still continues
        assert wizard.step == "confirm"


@sync
async def test_a_plan_that_fits_says_nothing_more() -> None:
    app = fixed_app()
    async with running(app, (120, 36)) as pilot:
        wizard = await open_plan(pilot, app, database="pagila", replace=True)
        assert not wizard.query_one("#plan-more", Static).display


@sync
async def test_a_finished_restore_reopens_its_result_from_the_jobs_tab() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        await pilot.press("r", "enter", "enter", "enter")
        wizard = app.screen
        assert isinstance(wizard, RestoreWizard)
        await wait_until(pilot, lambda: wizard.step == "result")
        target = wizard.plan.target_db  # type: ignore[union-attr]
        await press_and_settle(pilot, "3")
        assert app.screen is app.main and app.main.query_one(TabbedContent).active == "jobs"
        await press_and_settle(pilot, "enter")  # the restore is the newest job, selected
        again = app.screen
        assert isinstance(again, RestoreWizard) and again is not wizard and again.step == "result"
        summary = rendered(again.query_one("#result-summary", Static))
        assert f"into '{target}'" in summary and f"  psql -h db1.example.net -d {target}" in summary.splitlines()
        assert again.query_one("#result-table", DataTable).row_count == 16
        await press_and_settle(pilot, "escape")
        assert app.screen is app.main and app.main.query_one(TabbedContent).active == "jobs"


@sync
async def test_a_running_restore_reopens_on_its_progress_and_goes_on_to_its_result() -> None:
    services = FixedServices(hold_restore=True)
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        await start_restore(pilot, app)
        await press_and_settle(pilot, "3")  # leave it running on the Jobs tab
        assert app.screen is app.main and app.running_jobs
        await press_and_settle(pilot, "enter")
        again = app.screen
        assert isinstance(again, RestoreWizard) and again.step == "progress"
        assert "restore" in rendered(again.query_one("#progress-steps", Static))
        services.release.set()
        await wait_until(pilot, lambda: again.step == "result")


@sync
async def test_the_activity_log_wraps_at_80_columns() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        await press_and_settle(pilot, "3")
        tail = "the end of a long line: table public.payment_p2022_02 held by app@10.0.4.7 'orders-api'"
        app.main.jobs.add_entries([LogEntry(datetime(2025, 3, 14, 9, 30, tzinfo=UTC), "warning", "restore #9",
                                            f"waiting for a lock before {tail}")])
        await settle(pilot)
        log = app.main.query_one("#activity", RichLog)
        shown = " ".join(strip.text.strip() for strip in log.lines)
        assert "payment_p2022_02 held by app@10.0.4.7 'orders-api'" in shown
        assert max(strip.cell_length for strip in log.lines) <= log.scrollable_content_region.width


@sync
async def test_the_result_says_how_to_connect_and_that_the_proof_is_kept() -> None:
    app = fixed_app()
    async with running(app, (120, 40)) as pilot:
        wizard = await open_plan(pilot, app, database="pagila")
        wizard.query_one("#run").press()  # type: ignore[attr-defined]
        await wait_until(pilot, lambda: wizard.step == "result")
        summary = rendered(wizard.query_one("#result-summary", Static))
        assert "kept in the backup's verification history" in summary
        # host (and port, user when configured) from the connection the app uses: pasted as is, it connects
        assert f"  psql -h db1.example.net -d {wizard.plan.target_db}" in summary.splitlines()  # type: ignore[union-attr]


def test_safety_note_names_the_kept_backup() -> None:
    job = Job(1, "restore", "restore x", "pagila", NOW.astimezone(UTC))
    assert safety_note(job) == ""
    job.steps.append(Step("safety backup", "pagila-20250314T093000Z", "ok"))
    assert "pagila-20250314T093000Z" in safety_note(job) and "stays in the repository" in safety_note(job)
