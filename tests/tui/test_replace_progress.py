"""A replace's progress covers all its phases: the time left and the bar go by the plan's whole estimate
(safety backup, then restore, checks and swap), the page says which phase runs, and the bar never goes
back to the start when the restore begins after the safety backup."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from textual.widgets import ProgressBar, Static

from backup_tui.engine.config import Settings
from backup_tui.engine.core.estimate import RESTORE, SAFETY_BACKUP, EstimatePart
from backup_tui.engine.core.models import BackupRecord, RestorePlan, RestoreResult
from backup_tui.engine.core.progress import (
    BytesProgress,
    CancelToken,
    ProgressEvent,
    Reporter,
    StepFinished,
    StepStarted,
)
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.tui.jobs import Job
from backup_tui.tui.screens.restore import bytes_text
from backup_tui.tui.services import EngineServices
from backup_tui.tui.widgets.jobs import progress_text
from tests.conftest import restore
from tests.tui.conftest import running, settle, sync, wait_until
from tests.tui.fixtures import NOW
from tests.tui.test_flows import SIZE, confirm_replace, make_app

PARTS = (EstimatePart(SAFETY_BACKUP, 20.0), EstimatePart(RESTORE, 8.0))


def replace_job() -> Job:
    return Job(1, "restore", "restore x", "pagila", NOW, estimate_s=28.0, estimate_parts=PARTS)


def test_the_safety_backup_is_named_and_counted_in_the_time_left() -> None:
    job = replace_job()
    job.apply(StepStarted(SAFETY_BACKUP, "pagila"), NOW)
    job.apply(StepStarted("dump", "pg_dump | zstd"), NOW + timedelta(seconds=1))
    job.apply(BytesProgress("dump", 40, 100), NOW + timedelta(seconds=8))
    said = bytes_text(job, NOW + timedelta(seconds=8))
    assert said == "safety backup of the current database · 40 B of 100 B · about 20.0 s left (plan: 28.0 s)"
    assert job.whole_progress(NOW + timedelta(seconds=8)) == (8.0, 28.0)


def test_one_bar_for_the_whole_replace_never_goes_back_when_the_restore_begins() -> None:
    job = replace_job()
    job.apply(StepStarted(SAFETY_BACKUP, "pagila"), NOW)
    # The backup runs 5 s over its part: the bar waits at its part's end, and the time left says so.
    assert job.whole_progress(NOW + timedelta(seconds=24)) == (20.0, 28.0)
    assert bytes_text(job, NOW + timedelta(seconds=24)).endswith("about 4.0 s left (plan: 28.0 s)")
    job.apply(StepFinished(SAFETY_BACKUP, detail="pagila-safety"), NOW + timedelta(seconds=25))
    job.apply(StepStarted("create", "pagila__restore"), NOW + timedelta(seconds=25))
    job.apply(StepStarted("restore", "x"), NOW + timedelta(seconds=25))
    job.apply(BytesProgress("restore", 10, 100), NOW + timedelta(seconds=26))
    # The restore's part counts from the backup's end: 8 s less the 1 s spent, not 28 s less 26.
    assert job.whole_progress(NOW + timedelta(seconds=26)) == (21.0, 28.0)
    assert bytes_text(job, NOW + timedelta(seconds=26)) == "loading the data · 10 B of 100 B · about 7.0 s left " \
                                                           "(plan: 28.0 s)"
    done, planned = job.whole_progress(NOW + timedelta(seconds=60)) or (0.0, 0.0)
    assert done == pytest.approx(0.99 * planned)  # over the plan, still running: not a full bar


def test_the_jobs_tab_bar_of_a_replace_goes_on_from_the_safety_backup() -> None:
    job = replace_job()
    job.apply(StepStarted(SAFETY_BACKUP, "pagila"), NOW)
    job.apply(StepStarted("dump", "pg_dump | zstd"), NOW)
    job.apply(BytesProgress("dump", 100, 100), NOW + timedelta(seconds=14))
    assert progress_text(job, NOW + timedelta(seconds=14), width=28).plain == "█" * 14 + "░" * 14 + "  50%"
    job.apply(StepFinished(SAFETY_BACKUP), NOW + timedelta(seconds=20))
    job.apply(StepStarted("restore", "x"), NOW + timedelta(seconds=20))
    job.apply(BytesProgress("restore", 1, 100), NOW + timedelta(seconds=21))  # 1% of its bytes, 75% of the run
    assert progress_text(job, NOW + timedelta(seconds=21), width=28).plain == "█" * 21 + "░" * 7 + "  75%"
    job.finish("done", "restored", NOW + timedelta(seconds=23))  # ahead of the plan: full, not 82%
    assert progress_text(job, NOW + timedelta(seconds=23), width=28).plain == "█" * 28 + " 100%"


def test_without_an_estimate_the_phase_is_named_with_its_own_bytes() -> None:
    job = Job(1, "restore", "restore x", "pagila", NOW, estimate_parts=(EstimatePart(SAFETY_BACKUP, None),
                                                                         EstimatePart(RESTORE, 8.0)))
    job.apply(StepStarted(SAFETY_BACKUP, "pagila"), NOW)
    job.apply(StepStarted("dump", "pg_dump | zstd"), NOW)
    job.apply(BytesProgress("dump", 40, 100), NOW + timedelta(seconds=2))
    assert job.time_left(NOW + timedelta(seconds=2)) is None and job.whole_progress(NOW) is None
    assert bytes_text(job, NOW + timedelta(seconds=2)) == "safety backup of the current database · 40 B of 100 B"


class HeldTwice(EngineServices):
    """The real engine, held where the safety backup's dump starts, then where the restore's data step starts."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.reached = {step: threading.Event() for step in ("dump", "restore")}
        self.gate = {step: threading.Event() for step in ("dump", "restore")}

    def restore(self, record: BackupRecord, plan: RestorePlan, reporter: Reporter,
                cancel: CancelToken) -> RestoreResult:
        def gated(event: ProgressEvent) -> None:
            reporter(event)
            if isinstance(event, StepStarted) and event.step in self.reached:
                self.reached[event.step].set()
                self.gate[event.step].wait(30)

        return super().restore(record, plan, gated, cancel)


@pytest.mark.slow
@sync
async def test_a_held_replace_shows_its_phase_and_one_bar_over_both(settings: Settings, pg_sandbox: Sandbox) -> None:
    db = settings.databases[0]
    record = run_backup(Context(settings), db)  # the safety backup's basis
    restore(settings, record.id, target_db=f"{db.database}_copy")  # the restore's
    services = HeldTwice(settings)
    app, _ = make_app(settings, services)
    async with running(app, SIZE) as pilot:
        wizard = await confirm_replace(pilot, app, db.database)
        await wait_until(pilot, services.reached["dump"].is_set, timeout=60)
        job = wizard.job
        assert job is not None
        assert [part.phase for part in job.estimate_parts] == [SAFETY_BACKUP, RESTORE]
        safety_s = job.estimate_parts[0].seconds
        assert safety_s is not None and job.estimate_s is not None and job.estimate_s > safety_s
        await wait_until(pilot, lambda: job.phase == SAFETY_BACKUP and job.current_step == "dump")
        await wait_until(pilot, lambda: wizard.step == "progress")  # the page is built once the job is under way
        wizard.show_job()
        await settle(pilot)
        said = str(wizard.query_one("#progress-bytes", Static).render())
        assert said.startswith("safety backup of the current database") and "plan" in said  # time left or overrun
        bar = wizard.query_one("#progress-bar", ProgressBar)
        assert bar.total == job.estimate_s
        during_backup = bar.progress
        assert during_backup <= safety_s

        services.gate["dump"].set()
        await wait_until(pilot, services.reached["restore"].is_set, timeout=60)
        await wait_until(pilot, lambda: job.phase == "restore")
        wizard.show_job()
        await settle(pilot)
        said = str(wizard.query_one("#progress-bytes", Static).render())
        assert said.startswith("loading the data") and "plan" in said  # time left or overrun
        assert bar.total == job.estimate_s
        assert bar.progress >= safety_s >= during_backup  # on from the backup's part, not back to 0
        services.gate["restore"].set()
        await wait_until(pilot, lambda: not job.running, timeout=120)
        assert job.state == "done", job.message
    assert pg_sandbox.psql("SELECT count(*) FROM category", db.database) == "16"
