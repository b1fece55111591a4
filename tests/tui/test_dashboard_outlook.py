"""The dashboard's own two lines under the cards: the next scheduled runs and where notices go, on the fixed
catalog and clock (Fri 14 March 2025, 09:30 UTC), at 80x24 with both cards still whole."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import Static

from backup_tui.engine.config import NotifyTarget
from backup_tui.tui.widgets.dashboard import DatabaseCard
from tests.tui.conftest import running, settle, sync
from tests.tui.fixtures import FIXED_SETTINGS, FixedServices, fixed_app

SCHEDULE = (("backup", "15 1 * * *"), ("verify", "0 6 * * 0"), ("monitor", "0 * * * *"))


@sync
async def test_the_dashboard_names_the_next_runs_and_where_notices_go() -> None:
    email = NotifyTarget(url="mailtos://u:SECRETPW@mail.example.net:587?to=oncall%40example.com", kind="smtp",
                         label="email to oncall-with-a-long-team-address@example.com via mail.example.net:587")
    slack = NotifyTarget(url="slack://T000/B000/SECRETTOKEN")
    app = fixed_app(FixedServices())
    app.settings = replace(FIXED_SETTINGS, schedule=SCHEDULE, notify=(email, slack))
    async with running(app, (80, 24)) as pilot:
        await settle(pilot)
        outlook = app.main.dashboard.query_one("#outlook", Static)
        lines = str(outlook.render()).splitlines()
        assert lines[0] == "next: backup Sat 15 01:15 · verify Sun 16 06:00 · monitor Fri 14 10:00"
        assert lines[1].startswith("notices: email to oncall-with-a-long-team-address@example.com via mail")
        assert outlook.region.height == 2 and outlook.region.width == 80  # cut at the edge, never wrapped
        text = "\n".join(lines)
        assert "SECRET" not in text
        cards = list(app.main.dashboard.query(DatabaseCard))
        assert len(cards) == 2 and all(card.region.height == 6 for card in cards)  # both whole above it
        assert max(card.region.bottom for card in cards) <= outlook.region.y


@sync
async def test_a_dashboard_without_notices_says_a_failure_reaches_nobody() -> None:
    app = fixed_app(FixedServices())
    async with running(app, (120, 36)) as pilot:
        await settle(pilot)
        told = str(app.main.dashboard.query_one("#outlook", Static).render())
        assert "notices: none configured: a failure reaches nobody (! says how)" in told
        assert told.startswith("next: backup Sat 15 02:00 · verify Sun 16 06:00 · monitor Fri 14 10:00")
