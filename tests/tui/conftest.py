"""TUI test helpers: wait for the app's workers instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.reactive import reactive
from textual.widgets import Button, DataTable, Input, Label, RadioButton, Static
from textual.worker import WorkerCancelled

from backup_tui.tui.app import BackupApp
from backup_tui.tui.jobs import Job
from backup_tui.tui.screens.restore import RestoreWizard
from backup_tui.tui.widgets.backups import BackupsView
from backup_tui.tui.widgets.hanging import Hanging
from tests.tui.fixtures import fixed_plan, fixed_records

# The on-call engineer's terminal over SSH, and a roomier one: where a screen is pinned at both.
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]
SIZE = (80, 24)  # where one size is enough: the on-call terminal


async def settle(pilot: Pilot[Any], timeout: float = 10.0) -> None:
    """Let short workers (catalog, plan, pin...) finish and their messages land; jobs may keep running."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        short = [w for w in app.workers if w.group != "jobs" and w.is_running]
        if not short:
            break
        for outcome in await asyncio.gather(*(w.wait() for w in short), return_exceptions=True):
            # A newer load in the same exclusive group cancels the one we caught running;
            # the next round waits for its successor. A worker that failed is the test's business.
            if isinstance(outcome, BaseException) and not isinstance(outcome, WorkerCancelled):
                raise outcome
        await pilot.pause()
    await pilot.pause()


@contextlib.asynccontextmanager
async def running(app: BackupApp, size: tuple[int, int]) -> AsyncIterator[Pilot[Any]]:
    """The app on a terminal of ``size``, its first catalog load landed: where every pilot test begins."""
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        yield pilot


async def press_and_settle(pilot: Pilot[Any], *keys: str) -> None:
    """Keys as the operator types them, then what they start has landed before the test looks."""
    await pilot.press(*keys)
    await settle(pilot)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll the UI state (not the clock): a condition on widgets or jobs, a short pause between checks."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        await pilot.pause(0.02)
        await asyncio.sleep(0)


@pytest.fixture
def no_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs with a steady cursor: a blinking one makes screenshots differ run to run."""
    steady: reactive[bool] = reactive(False, init=False)
    steady.__set_name__(Input, "cursor_blink")
    monkeypatch.setattr(Input, "cursor_blink", steady)


def sync(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async pilot test without an async pytest plugin (none is installed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def to_plan(pilot: Pilot[Any], wizard: RestoreWizard, replace: bool = False) -> None:
    wizard.query_one("#to-target", Button).press()
    await settle(pilot)
    if replace:
        wizard.query_one("#mode-replace", RadioButton).value = True
        await settle(pilot)
    wizard.query_one("#to-plan", Button).press()
    await wait_until(pilot, lambda: wizard.step == "plan")
    await settle(pilot)


def right_edge(table: DataTable[Any], last: str) -> int:
    """Where the column keyed ``last`` ends: it is on screen when this fits the table's width."""
    right = 0
    for key, column in table.columns.items():
        right += column.get_render_width(table)
        if key.value == last:
            break
    return right


def screen_lines(app: BackupApp) -> list[str]:
    """The whole screen's lines as drawn, without styles."""
    return ["".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips()]


def table_of(app: BackupApp) -> DataTable[Any]:
    """The Backups tab's table."""
    return app.main.backups.table


async def select(pilot: Pilot[Any], app: BackupApp, backup_id: str) -> BackupsView:
    """The Backups tab shown, its cursor on ``backup_id``."""
    await press_and_settle(pilot, "2")
    view = app.main.backups
    view.table.move_cursor(row=view.table.get_row_index(backup_id), animate=False)
    await settle(pilot)
    return view


def rendered(widget: Static | Label) -> str:
    """A widget's text as the screen shows it, without styles (and unwrapped: see widgets.hanging)."""
    if isinstance(widget.content, Hanging):
        return widget.content.plain
    content = widget.render()
    return content.plain if isinstance(content, Text) else str(content)


async def open_wizard(pilot: Pilot[Any], app: BackupApp, **kwargs: Any) -> RestoreWizard:
    app.open_restore(**kwargs)
    await settle(pilot)
    wizard = app.screen
    assert isinstance(wizard, RestoreWizard)
    return wizard


async def open_plan(pilot: Pilot[Any], app: BackupApp, *, replace: bool = False, **kwargs: Any) -> RestoreWizard:
    """The wizard opened as ``open_wizard`` opens it, walked on to its plan page (``replace``: over the source)."""
    wizard = await open_wizard(pilot, app, **kwargs)
    await to_plan(pilot, wizard, replace=replace)
    return wizard


async def start_restore(pilot: Pilot[Any], app: BackupApp, *, until_result: bool = False) -> RestoreWizard:
    """The on-call path to a running restore: the wizard on pagila's newest verified backup, a new database,
    Restore pressed; back once the load has begun (or, ``until_result``, once the result shows)."""
    wizard = await open_plan(pilot, app, database="pagila")
    await pilot.press("enter")
    if until_result:
        await wait_until(pilot, lambda: wizard.step == "result")
    else:
        await wait_until(pilot, lambda: wizard.job is not None and wizard.job.bytes_done > 0)
    return wizard


async def held_restore(pilot: Pilot[Any], app: BackupApp, target_db: str = "x") -> Job:
    """A restore of the newest fixed backup started past the wizard, back once its load has begun: with
    ``FixedServices(hold_restore=True)`` it then stays running until the test releases or cancels it."""
    record = fixed_records()[0]
    job = app.start_restore(record, fixed_plan(record, target_db, False))
    await wait_until(pilot, lambda: job.bytes_done > 0)
    return job
