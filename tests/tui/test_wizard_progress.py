"""The restore wizard's progress, on the fixed catalog: it says which phase runs and the time left by the plan's
estimate through every phase (not by the byte rate alone), says so when there is no estimate, and a cancelled
restore hides its bar and says where it stopped."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from textual.widgets import Button, ProgressBar, Static

from backup_tui.engine.core.progress import BytesProgress, StepStarted
from backup_tui.tui.jobs import Job
from backup_tui.tui.screens.restore import bytes_text, plan_text
from tests.tui.conftest import SIZES, open_plan, rendered, running, settle, sync, wait_until
from tests.tui.fixtures import NOW, FixedServices, fixed_app, fixed_plan, fixed_records


def test_time_and_progress_say_true_things() -> None:
    record = fixed_records()[0]
    unknown = dataclasses.replace(fixed_plan(record, "x", False), estimated_seconds=None)
    said = plan_text(unknown, record, NOW, None).plain
    assert "no estimate yet: no past restore of a comparable size to go by" in said
    job = Job(1, "restore", "restore x", "pagila", NOW)
    job.apply(StepStarted("restore", "x"), NOW)
    job.apply(BytesProgress("restore", 50, 100), NOW)
    assert "ETA" in bytes_text(job, NOW)
    job.apply(BytesProgress("restore", 100, 100), NOW)
    assert bytes_text(job, NOW).endswith("read · pg_restore is finishing: the last rows, then indexes and "
                                         "constraints…")
    assert bytes_text(job, NOW).startswith("loading the data · ")  # which phase runs


def test_the_time_left_follows_the_plans_estimate_through_every_phase() -> None:
    """Not the byte rate alone: at 57% read the indexes are still to come, and the plan knew the whole."""
    job = Job(1, "restore", "restore x", "pagila", NOW, estimate_s=8.0)
    job.apply(StepStarted("restore", "x"), NOW)
    job.apply(BytesProgress("restore", 57, 100), NOW + timedelta(seconds=1))
    said = bytes_text(job, NOW + timedelta(seconds=1))
    assert said == "loading the data · 57 B of 100 B · about 7.0 s left (plan: 8.0 s)"
    job.apply(BytesProgress("restore", 100, 100), NOW + timedelta(seconds=2))
    said = bytes_text(job, NOW + timedelta(seconds=3))
    assert said.endswith("indexes and constraints… · about 5.0 s left (plan: 8.0 s)")
    job.apply(StepStarted("verify", "exact row counts"), NOW + timedelta(seconds=9))
    assert bytes_text(job, NOW + timedelta(seconds=9)) == "counting rows · longer than the plan's 8.0 s"


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_cancelled_restore_hides_the_bar(size: tuple[int, int]) -> None:
    app = fixed_app(FixedServices(hold_restore=True))
    async with running(app, size) as pilot:
        wizard = await open_plan(pilot, app, database="pagila")
        wizard.query_one("#run", Button).press()
        await wait_until(pilot, lambda: wizard.job is not None and wizard.job.bytes_done > 0)
        await settle(pilot)
        assert wizard.query_one("#progress-bar", ProgressBar).display
        wizard.query_one("#cancel-restore", Button).press()
        await wait_until(pilot, lambda: wizard.job is not None and not wizard.job.running)
        await settle(pilot)
        assert not wizard.query_one("#progress-bar", ProgressBar).display
        assert "Cancelled during restore" in rendered(wizard.query_one("#progress-bytes", Static))
        assert "restore cancelled: dropped" in rendered(wizard.query_one("#progress-outcome", Static))
        assert wizard.query_one("#close-failed", Button).has_focus
