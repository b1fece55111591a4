"""A replace cancelled while its safety backup runs says what it left, as a cancel during the data's load does:
the original is untouched and nothing was restored (not only "cancelled by the user")."""

from __future__ import annotations

from textual.widgets import Static

from backup_tui.engine.config import Settings
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.catalog import Catalog
from tests.tui.conftest import rendered, running, settle, sync, wait_until
from tests.tui.test_flows import SIZE, confirm_replace, make_app
from tests.tui.test_replace_progress import HeldTwice


@sync
async def test_a_replace_cancelled_in_its_safety_backup_says_the_original_is_untouched(
        settings: Settings, pg_sandbox: Sandbox) -> None:
    db = settings.databases[0]
    run_backup(Context(settings), db)
    before = [r.id for r in Catalog.from_settings(settings).list()]
    services = HeldTwice(settings)
    app, _ = make_app(settings, services)
    async with running(app, SIZE) as pilot:
        wizard = await confirm_replace(pilot, app, db.database)
        await wait_until(pilot, services.reached["dump"].is_set, timeout=60)  # the safety backup's dump
        job = wizard.job
        assert job is not None
        # c is the progress page's key, and that page is built once the job is under way: pressed while the
        # confirm page was still up (a loaded machine), it was typed into the name field and cancelled nothing.
        await wait_until(pilot, lambda: wizard.step == "progress")
        await pilot.press("c")
        await wait_until(pilot, lambda: job.cancel.cancelled)  # asked for before the held dump goes on
        services.gate["dump"].set()
        await wait_until(pilot, lambda: not job.running, timeout=60)
        await settle(pilot)
        assert job.state == "cancelled"
        assert "the original is untouched" in job.message and "nothing was restored" in job.message, job.message
        assert "the original is untouched" in rendered(wizard.query_one("#progress-outcome", Static))
    assert [r.id for r in Catalog.from_settings(settings).list()] == before  # no safety backup left behind
    assert pg_sandbox.psql("SELECT count(*) FROM category", db.database) == "16"
