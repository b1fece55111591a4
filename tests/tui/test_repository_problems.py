"""A problem about the repository rather than one database (a replace of a database no longer configured, killed
mid-swap: that database may be missing under its name) is in the dashboard's alerts and on the ! screen, as
monitor --check says it. No card shows it, and the app used to leave it out: the alerts said only the cards'."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.widgets import Static

from backup_tui.engine.ops import swap
from tests.conftest import dead_pid
from tests.tui.conftest import press_and_settle, rendered, running, sync
from tests.tui.fixtures import FIXED_SETTINGS, NOW, FixedServices, fixed_app

KILLED = "repository: a restore of retired was killed at step 'rename aside'"


@sync
async def test_a_swap_killed_for_a_database_no_longer_configured_is_in_the_alerts_and_on_the_bang_screen(
        tmp_path: Path) -> None:
    settings = replace(FIXED_SETTINGS, repository=tmp_path / "repo")
    journal = swap.opened(settings, settings.databases[0], "restore", "retired", "retired__restore_20250314090000",
                          "retired__pre_restore_20250314090000", NOW, 16384)  # the server is never asked
    replace(journal, pid=dead_pid(), step="rename aside").write()
    app = fixed_app(FixedServices())
    app.settings = settings
    async with running(app, (120, 40)) as pilot:
        alerts = " ".join(rendered(app.main.dashboard.query_one("#alerts", Static)).split())
        assert alerts.startswith(f"✖ {KILLED}"), alerts  # critical: before every card's problems
        assert app.main.dashboard.query_one("#alerts").has_class("-failing")
        await press_and_settle(pilot, "exclamation_mark")
        problems = " ".join(rendered(app.screen.query_one("#problems", Static)).split())
        assert f"CRITICAL {KILLED}" in problems and "run backup-headless repair now" in problems, problems
