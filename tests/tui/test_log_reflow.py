"""The logs are read to the end of a line at any width: wrapped to the log's own width when written (the
restore's bordered log at 80 columns cut the last columns, RichLog never wrapping below 78), and again when
the terminal is resized (120 -> 80 columns mid-restore cut every line)."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.widgets import RichLog

from backup_tui.tui.jobs import LogEntry
from backup_tui.tui.screens.restore import RestoreWizard
from tests.tui.conftest import press_and_settle, running, settle, start_restore, sync, wait_until
from tests.tui.fixtures import FixedServices, fixed_app

TAIL = "the end of a long line: table public.payment_p2022_02 held by app@10.0.4.7 'orders-api' since 03:12"


def whole(log: RichLog) -> bool:
    """Every line within the log's width, and the long line's end among them."""
    width = log.scrollable_content_region.width
    shown = " ".join(strip.text.strip() for strip in log.lines)
    return TAIL in " ".join(shown.split()) and max(strip.cell_length for strip in log.lines) <= width


@sync
async def test_the_activity_log_wraps_again_when_the_terminal_narrows() -> None:
    app = fixed_app()
    async with running(app, (160, 36)) as pilot:
        await press_and_settle(pilot, "3")
        app.main.jobs.add_entries([LogEntry(datetime(2025, 3, 14, 9, 30, tzinfo=UTC), "warning", "restore #9",
                                            f"waiting for a lock before {TAIL}")])
        await settle(pilot)
        log = app.main.query_one("#activity", RichLog)
        assert whole(log)
        wide = len(log.lines)
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: len(log.lines) > wide)  # the long line on two now
        assert whole(log)


@sync
async def test_the_restore_log_wraps_inside_its_border_at_80_columns_and_after_a_resize() -> None:
    services = FixedServices(hold_restore=True)
    app = fixed_app(services)
    async with running(app, (120, 36)) as pilot:
        wizard = await start_restore(pilot, app)
        assert isinstance(wizard, RestoreWizard) and wizard.job is not None
        wizard.job.log.append(LogEntry(datetime(2025, 3, 14, 9, 30, tzinfo=UTC), "warning", "restore #1",
                                       f"waiting for a lock before {TAIL}"))
        wizard.show_job()
        await settle(pilot)
        log = wizard.query_one("#progress-log", RichLog)
        assert whole(log)
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: log.scrollable_content_region.width < 78 and whole(log))
        services.release.set()
        await wait_until(pilot, lambda: wizard.step == "result")


@sync
async def test_lines_written_while_the_jobs_tab_is_hidden_read_whole_when_it_shows() -> None:
    """Written behind another tab (no width), lines went one character to a line; they wait for the width."""
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        await press_and_settle(pilot, "3")  # shown once: its size known
        log = app.main.query_one("#activity", RichLog)
        await press_and_settle(pilot, "1")
        await wait_until(pilot, lambda: log.scrollable_content_region.width == 0)
        app.main.jobs.add_entries([LogEntry(datetime(2025, 3, 14, 9, 30, tzinfo=UTC), "info", "backup #2",
                                            f"dump done in 3.2 s before {TAIL}")])
        await pilot.pause(0.3)  # any wrap the hidden log's resize asks for has run
        await press_and_settle(pilot, "3")
        await wait_until(pilot, lambda: log.scrollable_content_region.width > 0 and whole(log))
        assert len(log.lines) <= 4 and "dump done in 3.2 s" in log.lines[0].text
