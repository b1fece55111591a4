"""The real flows, driven through the app against the test cluster: no mocks of the engine."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from textual.widgets import Button, Input, RadioButton, Static

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.core.models import BackupRecord, RestorePlan, RestoreResult
from backup_tui.engine.core.progress import CancelToken, ProgressEvent, Reporter, StepStarted
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.locks import database_lock
from backup_tui.tui.app import BackupApp
from backup_tui.tui.jobs import Job
from backup_tui.tui.screens.restore import RestoreWizard
from backup_tui.tui.services import EngineServices
from tests.tui.conftest import press_and_settle, running, settle, sync, wait_until

pytestmark = pytest.mark.slow
SIZE = (100, 30)


def make_app(settings: Settings, services: EngineServices | None = None) -> tuple[BackupApp, list[str]]:
    """The real app, no background timer or animations; its notifications recorded."""
    app = BackupApp(settings, services=services, refresh_seconds=0)
    app.animation_level = "none"
    shown: list[str] = []
    notify = app.notify

    def recording(message: str, **kwargs: Any) -> None:
        shown.append(message)
        notify(message, **kwargs)

    app.notify = recording  # type: ignore[method-assign]
    return app, shown


def only_job(app: BackupApp) -> Job:
    assert len(app.jobs) >= 1
    return app.jobs[max(app.jobs)]


def count(sandbox: Sandbox, database: str, table: str = "rental") -> int:
    return int(sandbox.psql(f"SELECT count(*) FROM {table}", database))


async def open_wizard_at_plan(pilot: Any, app: BackupApp, *, target: str | None) -> RestoreWizard:
    await press_and_settle(pilot, "2", "r")
    wizard = app.screen
    assert isinstance(wizard, RestoreWizard)
    wizard.query_one("#to-target", Button).press()
    await settle(pilot)
    if target is None:
        wizard.query_one("#mode-replace", RadioButton).value = True
    else:
        wizard.query_one("#target-name", Input).value = target
    await settle(pilot)
    wizard.query_one("#to-plan", Button).press()
    # The plan worker starts only once the press is handled, and reads the server and the archive's
    # table of contents: wait for its answer, not for the workers running at this instant.
    await wait_until(pilot, lambda: wizard.plan is not None or _plan_refused(wizard))
    await settle(pilot)
    return wizard


def _plan_refused(wizard: RestoreWizard) -> bool:
    said = str(wizard.query_one("#target-error", Static).render())
    return bool(said) and not said.startswith("Asking")


@sync
async def test_backup_verify_and_restore_into_new_database(settings: Settings, pg_sandbox: Sandbox) -> None:
    app, shown = make_app(settings)
    database = settings.databases[0].database
    async with running(app, SIZE) as pilot:
        await pilot.press("b")
        await wait_until(pilot, lambda: bool(app.jobs) and not app.running_jobs)
        assert only_job(app).state == "done", only_job(app).message
        await wait_until(pilot, lambda: len(app.records) == 1)
        assert app.records[0].status == "valid"

        await press_and_settle(pilot, "2", "v")
        await pilot.press("down", "enter")  # second choice: full
        await wait_until(pilot, lambda: len(app.jobs) == 2 and not app.running_jobs)
        assert only_job(app).state == "done", only_job(app).message
        await wait_until(pilot, lambda: app.records[0].last_verification is not None)
        verification = app.records[0].last_verification
        assert verification is not None and verification.ok and verification.level == "full"

        wizard = await open_wizard_at_plan(pilot, app, target=database)  # exists: the engine refuses
        assert wizard.step == "target"
        assert "already exists" in str(wizard.query_one("#target-error", Static).render())
        assert not any("already exists" in m for m in shown)  # said under the name, not in a toast over it

        copy = f"{database}_copy"
        wizard.query_one("#target-name", Input).value = copy
        await pilot.pause()
        assert str(wizard.query_one("#target-error", Static).render()) == ""  # said of the old name: gone with it
        wizard.query_one("#to-plan", Button).press()
        await wait_until(pilot, lambda: wizard.step == "plan")
        assert wizard.plan is not None and wizard.plan.target_db == copy
        wizard.query_one("#run", Button).press()
        await wait_until(pilot, lambda: wizard.job is not None and not wizard.job.running)
        await settle(pilot)
        assert wizard.step == "result", wizard.job.message if wizard.job else ""
        assert isinstance(wizard.job and wizard.job.result, RestoreResult)
    assert count(pg_sandbox, copy) == count(pg_sandbox, database) == 16044


@sync
async def test_replace_needs_the_typed_name(settings: Settings, pg_sandbox: Sandbox) -> None:
    db = settings.databases[0]
    run_backup(Context(settings), db)
    pg_sandbox.psql("INSERT INTO category (name) VALUES ('after-a'), ('after-b')", db.database)
    app, _ = make_app(settings)
    async with running(app, SIZE) as pilot:
        wizard = await open_wizard_at_plan(pilot, app, target=None)
        assert wizard.plan is not None, wizard.query_one("#target-error", Static).render()
        assert wizard.plan.mode == "replace"
        wizard.query_one("#run", Button).press()
        await settle(pilot)
        assert wizard.step == "confirm"
        replace_button = wizard.query_one("#run-replace", Button)
        await press_and_settle(pilot, *"wrong")
        assert replace_button.disabled
        wizard.query_one("#confirm-name", Input).value = db.database
        await settle(pilot)
        assert not replace_button.disabled
        replace_button.press()
        await wait_until(pilot, lambda: wizard.job is not None and not wizard.job.running, timeout=120)
        await settle(pilot)
        assert wizard.step == "result", wizard.job.message if wizard.job else ""
        result = wizard.job.result if wizard.job else None
        assert isinstance(result, RestoreResult) and result.plan.aside_db
    assert count(pg_sandbox, db.database, "category") == 16
    assert count(pg_sandbox, result.plan.aside_db, "category") == 18


class GatedServices(EngineServices):
    """The real engine, but the restore pauses when its data step starts, until the test opens the gate."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.reached = threading.Event()
        self.gate = threading.Event()

    def restore(self, record: BackupRecord, plan: RestorePlan, reporter: Reporter,
                cancel: CancelToken) -> RestoreResult:
        def gated(event: ProgressEvent) -> None:
            reporter(event)
            if isinstance(event, StepStarted) and event.step == "restore":
                self.reached.set()
                self.gate.wait(30)

        return super().restore(record, plan, gated, cancel)


async def confirm_replace(pilot: Any, app: BackupApp, database: str) -> RestoreWizard:
    """The replace of ``database`` planned, its name typed and confirmed in the wizard: its run has begun."""
    wizard = await open_wizard_at_plan(pilot, app, target=None)
    wizard.query_one("#run", Button).press()
    await settle(pilot)
    wizard.query_one("#confirm-name", Input).value = database
    await settle(pilot)
    wizard.query_one("#run-replace", Button).press()
    return wizard


async def start_gated_replace(pilot: Any, app: BackupApp, services: GatedServices, database: str) -> Job:
    """The replace of ``database`` confirmed in the wizard, held where its data step starts, its progress page
    up (built once the job is under way: on a loaded machine, maybe after the step is reached)."""
    wizard = await confirm_replace(pilot, app, database)
    await wait_until(pilot, services.reached.is_set)
    await wait_until(pilot, lambda: wizard.step == "progress")
    assert wizard.job is not None
    return wizard.job


@sync
async def test_cancel_midway_leaves_the_original_intact(settings: Settings, pg_sandbox: Sandbox) -> None:
    db = settings.databases[0]
    run_backup(Context(settings), db)
    pg_sandbox.psql("INSERT INTO category (name) VALUES ('after-a'), ('after-b')", db.database)
    services = GatedServices(settings)
    app, _ = make_app(settings, services)
    async with running(app, SIZE) as pilot:
        job = await start_gated_replace(pilot, app, services, db.database)
        wizard = app.screen
        assert isinstance(wizard, RestoreWizard)
        await wait_until(pilot, lambda: any(step.name == "restore" for step in job.steps))
        # The engine re-plans when it runs: its names carry that second, so take them from its events.
        work_db = next(step.detail for step in job.steps if step.name == "create")
        assert pg_sandbox.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{work_db}'") == "1"
        wizard.query_one("#cancel-restore", Button).press()
        await settle(pilot)
        services.gate.set()
        await wait_until(pilot, lambda: wizard.job is not None and not wizard.job.running)
        await settle(pilot)
        assert wizard.job is not None and wizard.job.state == "cancelled"
        assert "untouched" in wizard.job.message and work_db in wizard.job.message
        assert "untouched" in str(wizard.query_one("#progress-outcome").render())
    assert count(pg_sandbox, db.database, "category") == 18
    assert pg_sandbox.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{work_db}'") == "0"


@sync
async def test_lock_held_shows_the_engines_message(settings: Settings) -> None:
    db = settings.databases[0]
    app, shown = make_app(settings)
    settings.repository.mkdir(parents=True, exist_ok=True)
    with database_lock(settings.repository, db.database, "backup"):
        with pytest.raises(BackupToolError) as expected:
            run_backup(Context(settings), db)
        async with running(app, SIZE) as pilot:
            assert app.locked == {db.database}
            assert app.check_action("new_backup", ()) is None  # greyed out: the database is busy
            app.new_backup(db.database)
            await settle(pilot)
            assert not app.jobs
            app.locked = frozenset()  # pretend the refresh missed it: the engine still refuses
            app.new_backup(db.database)
            await wait_until(pilot, lambda: bool(app.jobs) and not app.running_jobs)
            assert only_job(app).state == "failed"
    assert expected.value.message in shown
    assert all("Traceback" not in m for m in shown)


@sync
async def test_wrong_password_shows_the_engines_message(settings: Settings) -> None:
    bad = replace(settings, databases=(replace(settings.databases[0], password="not-the-password"),))
    with pytest.raises(BackupToolError) as expected:
        run_backup(Context(bad), bad.databases[0])
    app, shown = make_app(bad)
    async with running(app, SIZE) as pilot:
        await pilot.press("b")
        await wait_until(pilot, lambda: bool(app.jobs) and not app.running_jobs)
    assert only_job(app).state == "failed"
    assert expected.value.message in shown


@sync
async def test_a_name_already_taken_is_refused_in_the_apps_words(settings: Settings, pg_sandbox: Sandbox) -> None:
    """The engine's refusal names --replace for the command line; the app names its own choice instead."""
    db = settings.databases[0]
    run_backup(Context(settings), db)
    app, shown = make_app(settings)
    async with running(app, SIZE) as pilot:
        wizard = await open_wizard_at_plan(pilot, app, target=db.database)
        said = str(wizard.query_one("#target-error", Static).render())
        assert f"database {db.database!r} already exists" in said
        assert "choose “the original” on the Target page" in said
        assert not [m for m in [said, *shown] if "--" in m]
        assert wizard.step == "target"
