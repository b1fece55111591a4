"""The restore wizard's target page, on the fixed catalog: an empty name is refused saying what to type, the
choice between a new database and a replace shows on a terminal without colour, tab goes forward (shift+tab back
to the choice), and the suggested name is new each second."""

from __future__ import annotations

from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from backup_tui.tui.screens.restore import RestoreWizard, suggested_name
from tests.tui.conftest import press_and_settle, rendered, running, settle, sync
from tests.tui.fixtures import NOW, fixed_app, fixed_records


@sync
async def test_target_step_error_and_tab_order() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        app.open_restore()
        await settle(pilot)
        wizard = app.screen
        assert isinstance(wizard, RestoreWizard)
        wizard.query_one("#to-target", Button).press()
        await settle(pilot)
        assert "shift+tab" in rendered(wizard.query_one("#target Label.question", Label))
        wizard.query_one("#target-name", Input).value = ""
        await press_and_settle(pilot, "enter")
        error = wizard.query_one("#target-error", Static)
        assert "Type a name" in rendered(error)
        await pilot.press("shift+tab")
        assert app.focused is wizard.query_one("#mode", RadioSet)
        wizard.query_one("#mode-replace", RadioButton).value = True
        await settle(pilot)
        assert rendered(error) == ""
        marks = [str(wizard.query_one(f"#mode-{m}", RadioButton).render())[:3] for m in ("new", "replace")]
        assert marks == ["▐ ▌", "▐●▌"]  # the choice shows on a terminal without colour too
        await pilot.press("tab")
        assert getattr(app.focused, "id", None) == "to-plan"  # forward, not Back


def test_names_are_new_each_second() -> None:
    record = fixed_records()[0]
    first, again = suggested_name(record, NOW), suggested_name(record, NOW.replace(second=NOW.second + 1))
    assert first != again  # a second restore within the minute gets a name of its own
