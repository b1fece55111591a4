"""The ! screen: the engine's problems with severity and advice (as monitor --check prints them), the next
scheduled runs and where notices go, on the fixed catalog and clock."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import Static

from backup_tui.engine.config import NotifyTarget
from backup_tui.engine.core.health import Health
from backup_tui.tui.screens.problems import ProblemsScreen
from tests.tui.conftest import press_and_settle, running, sync
from tests.tui.fixtures import FIXED_SETTINGS, FixedServices, fixed_app


@sync
async def test_bang_shows_every_problem_with_its_advice_the_next_runs_and_the_notices() -> None:
    settings = replace(FIXED_SETTINGS, schedule=(("backup", "15 1 * * *"), ("verify", "0 6 * * 0"),
                                                 ("monitor", "0 * * * *")),
                       notify=(NotifyTarget(url="slack://T000/B000/SECRETTOKEN", events=("failure",)),))
    app = fixed_app(FixedServices())
    app.settings = settings
    async with running(app, (120, 40)) as pilot:
        await press_and_settle(pilot, "exclamation_mark")
        screen = app.screen
        assert isinstance(screen, ProblemsScreen)
        problems = str(screen.query_one("#problems", Static).render())
        health: list[Health] = app.health
        every = [p for h in health for p in h.problems]
        assert every and all(p.message in problems and p.advice in problems for p in every)
        assert problems.index("CRITICAL") < problems.index("WARNING")
        told = str(screen.query_one("#schedule", Static).render())
        assert "next: Sat 15 01:15, Sun 16 01:15" in told  # the fixed clock is Fri 14 March 2025, 09:30 UTC
        assert "slack://******** (failure)" in told and "SECRETTOKEN" not in told
        await press_and_settle(pilot, "escape")
        assert not isinstance(app.screen, ProblemsScreen)
