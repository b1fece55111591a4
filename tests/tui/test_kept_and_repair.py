"""The terminal app and what a replace leaves on the server: at start it settles a swap a killed run
left (against the real cluster), and the dashboard shows the copies kept aside, with a way to drop one
after asking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from textual.widgets import Button

from backup_tui.engine.config import Settings
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.kept import KeptCopy
from backup_tui.engine.ops.swap import SWAPS_DIR
from backup_tui.tui.screens.dialogs import ConfirmDialog
from backup_tui.tui.widgets.dashboard import DatabaseCard
from tests.processes import kill_at_pause
from tests.tui.conftest import running, settle, sync, wait_until
from tests.tui.fixtures import NOW, FixedServices, fixed_app
from tests.tui.test_flows import make_app


def card_of(app: object, database: str) -> str:
    cards = app.main.query(DatabaseCard)  # type: ignore[attr-defined]
    return str(next(c for c in cards if c.database == database).render())


@pytest.mark.slow
@sync
async def test_the_apps_start_settles_a_replace_killed_between_the_renames(
    settings: Settings, cli_env: dict[str, str], pg_sandbox: Sandbox, pagila_db: str
) -> None:
    record = run_backup(Context(settings), settings.databases[0])
    pg_sandbox.psql("INSERT INTO actor (first_name, last_name) VALUES ('NEW', 'ROW')", pagila_db)
    kill_at_pause(cli_env, "rename_in", "restore", record.id, "--replace", "--yes", "--no-safety-backup")
    assert pagila_db not in pg_sandbox.psql("SELECT datname FROM pg_database").splitlines()

    app, shown = make_app(settings)
    async with running(app, (100, 30)) as pilot:
        await wait_until(pilot, lambda: bool(app.main.dashboard.kept.get(pagila_db)))

        assert pg_sandbox.psql("SELECT count(*) FROM actor", pagila_db) == "200"  # the restored data, by its name
        assert pg_sandbox.psql(f"SELECT datallowconn FROM pg_database WHERE datname = '{pagila_db}'") == "t"
        assert list((settings.repository / SWAPS_DIR).glob("*.json")) == []
        assert any("finished" in text for text in shown)
        (copy,) = app.main.dashboard.kept[pagila_db]
        assert f"kept: {copy.name}" in card_of(app, pagila_db)
        assert pg_sandbox.psql("SELECT count(*) FROM actor", copy.name) == "201"  # the way back

        app.ask_rollback(copy)  # the restored data was wrong after all: back, from the terminal app
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        app.screen.query_one("#yes", Button).press()
        await wait_until(pilot, lambda: [k.kind for k in app.main.dashboard.kept.get(pagila_db, [])]
                         == ["rolled back"])
        assert pg_sandbox.psql("SELECT count(*) FROM actor", pagila_db) == "201"
        rollback = app.jobs[max(app.jobs)]  # a job of its own kind: its log lines say "rollback #N", not "restore"
        assert rollback.kind == "rollback" and rollback.title.startswith("rollback ")
        assert any(e.source == f"rollback #{rollback.id}" for e in app.activity), list(app.activity)[-3:]
        (rolled,) = app.main.dashboard.kept[pagila_db]
        assert pg_sandbox.psql("SELECT count(*) FROM actor", rolled.name) == "200"

        app.ask_drop_kept(rolled)
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        app.screen.query_one("#yes", Button).press()
        await wait_until(pilot, lambda: not app.main.dashboard.kept.get(pagila_db))
    left = pg_sandbox.psql("SELECT datname FROM pg_database").splitlines()
    assert copy.name not in left and rolled.name not in left and pagila_db in left


@sync
async def test_the_card_shows_kept_copies_and_the_palette_drops_one_after_asking() -> None:
    services = FixedServices()
    kept = KeptCopy("pagila__pre_restore_20250311093000", "pagila", "replaced", NOW - timedelta(days=3),
                    1_200_000_000)
    services.kept = {"pagila": [kept]}
    services.settled = ["finished the restore of 'pagila' killed at step rename_in"]
    app = fixed_app(services)
    async with running(app, (100, 30)) as pilot:
        await wait_until(pilot, lambda: "kept:" in card_of(app, "pagila"))
        assert "pagila__pre_restore_20250311093000 (3 days ago, 1.2 GB)" in card_of(app, "pagila")
        assert "kept:" not in card_of(app, "inventory")
        assert any("rename_in" in entry.message for entry in app.activity)  # the start's repair is in the log

        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert f"Drop kept copy {kept.name}" in commands
        assert f"Roll pagila back to {kept.name}" in commands
        app.ask_drop_kept(kept)
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog) and "cannot be undone" in app.screen.message
        app.screen.query_one("#no", Button).press()  # the safe answer first: nothing happens
        await settle(pilot)
        assert services.calls == []
        app.ask_drop_kept(kept)
        await settle(pilot)
        app.screen.query_one("#yes", Button).press()
        await wait_until(pilot, lambda: "kept:" not in card_of(app, "pagila"))
        assert services.calls == [f"drop kept {kept.name}"]


@pytest.mark.slow
@sync
async def test_the_palette_drops_no_kept_copy_while_its_databases_swap_journal_cannot_be_read(
    settings: Settings, cli_env: dict[str, str], pg_sandbox: Sandbox, pagila_db: str
) -> None:
    """Killed between its renames, a replace leaves the live data under the kept copy's name; with its journal
    unreadable nothing says so, and dropping that copy from the dashboard dropped the only copy of the data."""
    record = run_backup(Context(settings), settings.databases[0])
    pg_sandbox.psql("INSERT INTO actor (first_name, last_name) VALUES ('NEW', 'ROW')", pagila_db)
    kill_at_pause(cli_env, "rename_in", "restore", record.id, "--replace", "--yes", "--no-safety-backup")
    (journal,) = (settings.repository / SWAPS_DIR).glob("*.json")
    journal.write_bytes(b'{"kind": "restore", "database": "pag\x00\xff')  # a disk fault, or cut short

    app, shown = make_app(settings)
    async with running(app, (100, 30)) as pilot:
        await wait_until(pilot, lambda: bool(app.main.dashboard.kept.get(pagila_db)))
        (copy,) = app.main.dashboard.kept[pagila_db]
        assert pagila_db not in pg_sandbox.psql("SELECT datname FROM pg_database").splitlines()  # the copy is all

        app.ask_drop_kept(copy)
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        app.screen.query_one("#yes", Button).press()
        await wait_until(pilot, lambda: any("nothing was dropped" in text for text in shown))
    assert copy.name in pg_sandbox.psql("SELECT datname FROM pg_database").splitlines()
    assert not any(text.endswith("dropped") for text in shown), shown
    assert journal.exists()
