"""A replace of a database that no longer exists (dropped since its backup): the plan has no sessions to end and
nothing to set aside, and the wizard's words say so instead of "kept as None for rollback"."""

from __future__ import annotations

from textual.widgets import Button, Static

from backup_tui.engine.config import Settings
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.tui.screens.restore import more_below
from tests.tui.conftest import rendered, running, settle, sync
from tests.tui.test_flows import SIZE, make_app, open_wizard_at_plan


@sync
async def test_replacing_a_dropped_database_says_nothing_is_kept_aside(settings: Settings,
                                                                        pg_sandbox: Sandbox) -> None:
    database = settings.databases[0].database
    run_backup(Context(settings), settings.databases[0])
    pg_sandbox.psql(f'DROP DATABASE "{database}"')
    app, _ = make_app(settings)
    async with running(app, SIZE) as pilot:
        wizard = await open_wizard_at_plan(pilot, app, target=None)
        plan = wizard.plan
        assert plan is not None and plan.mode == "replace" and plan.aside_db is None
        below = rendered(Static(more_below(plan)))
        assert "end the sessions" not in below and "rename it aside" not in below, below
        assert f"gives the restored database the name {database!r}" in below, below
        wizard.query_one("#run", Button).press()
        await settle(pilot)
        said = rendered(wizard.query_one("#confirm-text", Static))
        assert "None" not in said and "kept as '" not in said and "terminated" not in said, said
        assert "does not exist now" in said and "nothing is kept aside" in said and f"drop {database!r}" in said, said
