"""The pick-one dialogs (verify quick or full, which database to back up) say their keys, and the footer under
them shows those keys, not the Backups tab's (d Delete and r Restore, which do nothing while the dialog is
open); without them nothing said enter or esc."""

from __future__ import annotations

import pytest
from textual.widgets import Label
from textual.widgets._footer import FooterKey

from backup_tui.tui.screens.dialogs import ChoiceDialog
from tests.tui.conftest import press_and_settle, rendered, running, sync, wait_until
from tests.tui.fixtures import fixed_app


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
@sync
async def test_the_verify_question_says_its_keys_and_its_footer_only_those(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        await press_and_settle(pilot, "2", "v")
        dialog = app.screen
        assert isinstance(dialog, ChoiceDialog)
        hint = rendered(dialog.query_one("#choices-hint", Label))
        assert "enter" in hint and "esc" in hint
        shown = {key.key for key in dialog.query(FooterKey)}
        assert "escape" in shown and not shown & {"d", "r", "v", "p", "slash"}, shown
        await press_and_settle(pilot, "escape")
        await wait_until(pilot, lambda: app.screen is app.main)
