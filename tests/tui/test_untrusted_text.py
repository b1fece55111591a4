"""Text from the repository is drawn without its control characters: a manifest's reason or server version
holding ESC and CSI sequences (clear the screen, set the title) reached the terminal as it was."""

from __future__ import annotations

import re
from dataclasses import replace

from backup_tui.tui.app import BackupApp
from tests.tui.conftest import press_and_settle, running, sync
from tests.tui.fixtures import FixedServices, fixed_app, fixed_records

ATTACK = "\x1b[2J\x1b]0;PWNED\x07\x9b31m"
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def screen_text(app: BackupApp) -> str:
    return "\n".join("".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips())


@sync
async def test_planted_control_characters_are_never_drawn() -> None:
    records = fixed_records()
    newest = max((r for r in records if r.database == "pagila"), key=lambda r: r.created_at)
    records = [replace(r, reason="scheduled" + ATTACK, server_version="15.18" + ATTACK, host="db1" + ATTACK)
               if r is newest else r for r in records]
    app = fixed_app(FixedServices(records))
    async with running(app, (120, 36)) as pilot:
        for tab in ("1", "2", "3"):
            await press_and_settle(pilot, tab)
            drawn = screen_text(app)
            assert not CONTROL.search(drawn.replace("\n", "")), (tab, drawn)
        await press_and_settle(pilot, "2")
        assert "PWNED" in screen_text(app)  # the text is drawn, only its controls are not
