"""The ! screen: the engine's problems with severity and advice (as monitor --check prints them), the next
scheduled runs and where notices go, on the fixed catalog and clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from textual.widgets import Static

from backup_tui.engine.config import NotifyTarget
from backup_tui.engine.core.health import Health
from backup_tui.engine.core.models import Verification, utc_iso
from backup_tui.tui.screens.problems import ProblemsScreen
from tests.tui.conftest import press_and_settle, rendered, running, sync
from tests.tui.fixtures import FIXED_SETTINGS, NOW, FixedServices, fixed_app, fixed_records


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
        problems = rendered(screen.query_one("#problems", Static))
        health: list[Health] = app.health
        every = [p for h in health for p in h.problems]
        assert every and all(p.message in problems and p.advice in problems for p in every)
        assert problems.index("CRITICAL") < problems.index("WARNING")
        evidence = str(screen.query_one("#evidence", Static).render())
        assert "pagila: recovery time 3.2 s (test restore of 20250314T020000Z" in evidence  # its full check
        assert "inventory: no full verification or restore yet" in evidence
        assert "data-loss window 7 h 30 min" in evidence  # 09:30 now, 02:00 the newest
        told = str(screen.query_one("#schedule", Static).render())
        assert "next: Sat 15 01:15, Sun 16 01:15" in told  # the fixed clock is Fri 14 March 2025, 09:30 UTC
        assert "slack://******** (failure)" in told and "SECRETTOKEN" not in told
        await press_and_settle(pilot, "escape")
        assert not isinstance(app.screen, ProblemsScreen)


@sync
async def test_the_recovery_times_of_past_full_checks_are_plotted() -> None:
    records = fixed_records()  # newest first
    pagila = [i for i, record in enumerate(records) if record.database == "pagila"][:6]
    for slower, i in enumerate(pagila):
        check = Verification(at=utc_iso(records[i].created + timedelta(hours=1)), level="full", ok=True,
                             duration_s=3.0 + slower, checks=("row counts match",))
        records[i] = replace(records[i], verifications=(check,))
    app = fixed_app(FixedServices(records))
    async with running(app, (120, 40)) as pilot:
        await press_and_settle(pilot, "exclamation_mark")
        evidence = str(app.screen.query_one("#evidence", Static).render())
        [plot] = [line for line in evidence.splitlines() if "recovery times" in line]
        bars = plot.split("recovery times ")[1].split(" last")[0]
        assert len(bars) == 6 and bars[0] > bars[-1]  # oldest first: the slowest (8 s) was the oldest
        assert "last 6 full checks" in plot


@sync
async def test_a_recovery_proven_once_whose_backup_failed_a_check_since_is_not_said_as_never_proven() -> None:
    """The only backup a full check proved then failed a quick check (a bit flip): the engine counts no recovery
    time any more, and the screen said "no full verification or restore yet" above the plot of those checks."""
    records = fixed_records()  # newest first: pagila's newest has the catalog's only full check
    newest = next(i for i, record in enumerate(records) if record.database == "pagila")
    flipped = Verification(at=utc_iso(NOW - timedelta(minutes=5)), level="quick", ok=False,
                           problems=("checksum mismatch: the stored bytes changed since the backup (bit flip?)",),
                           duration_s=0.1)
    records[newest] = replace(records[newest], verifications=(*records[newest].verifications, flipped))
    app = fixed_app(FixedServices(records))
    async with running(app, (80, 24)) as pilot:
        await press_and_settle(pilot, "exclamation_mark")
        evidence = " ".join(str(app.screen.query_one("#evidence", Static).render()).split())
        assert "pagila: recovery time unknown: no backup a full check proved is still good" in evidence
        assert "pagila: no full verification or restore yet" not in evidence
        assert "inventory: no full verification or restore yet" in evidence  # never proven: said as before
