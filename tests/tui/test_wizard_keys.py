"""The wizard's keys do what its screen says (issue 14, class 1): the target choice follows the arrows and
the plan shows it; keys typed ahead reach the wizard, not the screen underneath; inside the wizard only its
own keys apply (no backup from its footer). The journeys' key counts are the goal table's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual import events
from textual.message import Message
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button, Input, RadioButton, Static, TabbedContent
from textual.widgets._footer import FooterKey

from backup_tui.tui import app as app_module
from backup_tui.tui.app import BackupApp
from backup_tui.tui.screens import restore as restore_module
from backup_tui.tui.screens.restore import ChoiceSet, RestoreWizard
from backup_tui.tui.widgets.row_table import RowTable
from tests.tui.conftest import (
    open_plan,
    open_wizard,
    press_and_settle,
    rendered,
    running,
    settle,
    start_restore,
    sync,
    wait_until,
)
from tests.tui.fixtures import FixedServices, fixed_app


async def burst(pilot: Pilot[Any], *keys: str) -> None:
    """Keys as a terminal delivers a burst typed ahead: all queued at once, no pause for the app."""
    for key in keys:
        pilot.app.post_message(events.Key(key, "\r" if key == "enter" else key if len(key) == 1 else None))
    app = pilot.app
    assert isinstance(app, BackupApp)
    await settle(pilot)  # the first key is taken
    await wait_until(pilot, lambda: not app.keys_pending)
    await settle(pilot)


def wizard_of(app: BackupApp) -> RestoreWizard:
    assert isinstance(app.screen, RestoreWizard), app.screen_stack
    return app.screen


@sync
async def test_arrows_on_the_target_choice_make_the_choice_and_the_plan_follows_it() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        wizard = await open_wizard(pilot, app, database="pagila")
        await press_and_settle(pilot, "enter")
        assert wizard.step == "target"
        await pilot.press("shift+tab")
        assert isinstance(app.focused, ChoiceSet)
        await press_and_settle(pilot, "down")
        assert wizard.query_one("#mode-replace", RadioButton).value and wizard.replace
        assert not wizard.query_one("#mode-new", RadioButton).value
        assert not wizard.query_one("#target-name", Input).display  # the name is for a new database only
        await press_and_settle(pilot, "down")  # no wrap-around: a second press keeps the choice
        assert wizard.replace
        await pilot.press("enter")  # enter on the choice goes on to its plan
        await wait_until(pilot, lambda: wizard.step == "plan")
        await settle(pilot)
        assert wizard.plan is not None and wizard.plan.mode == "replace"
        assert "REPLACE database 'pagila'" in rendered(wizard.query_one("#plan-text", Static))

        await press_and_settle(pilot, "escape")  # second visit: the arrows still mean what they say
        assert wizard.step == "target" and isinstance(app.focused, ChoiceSet)
        await press_and_settle(pilot, "up")
        assert not wizard.replace and wizard.query_one("#target-name", Input).display
        await press_and_settle(pilot, "up")
        assert not wizard.replace
        await pilot.press("enter")
        await wait_until(pilot, lambda: wizard.step == "plan")
        await settle(pilot)
        assert wizard.plan.mode == "new"
        assert "new database 'pagila_restored_" in rendered(wizard.query_one("#plan-text", Static))


@sync
async def test_keys_typed_ahead_while_the_wizard_opens_reach_the_wizard() -> None:
    """r enter enter enter in one burst from a dashboard card: the newest verified backup restored into a new
    database, result and row counts on screen (4 keys, goal 6), and the dashboard underneath untouched."""
    services = FixedServices()
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        assert app.main.dashboard.focused_database() == "pagila"
        keys = ("r", "enter", "enter", "enter")
        await burst(pilot, *keys)
        wizard = wizard_of(app)
        await wait_until(pilot, lambda: wizard.step == "result")
        assert len(keys) <= 6
        assert wizard.plan is not None and wizard.plan.mode == "new"
        assert wizard.plan.backup_id == "pagila-20250314T020000Z"  # the newest verified one
        assert wizard.query_one("#result-table").row_count == 16  # type: ignore[attr-defined]
        main = app.main
        assert main.query_one(TabbedContent).active == "dashboard"
        assert main.backups.state.needle == ""  # enter on the card (open its backups) never happened
        assert services.plans == [(wizard.plan.backup_id, wizard.plan.target_db, False, False)], \
            "planned once, while the pages were drawn, and that plan taken"


@sync
async def test_pages_a_burst_of_keys_passes_through_are_not_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """No one reads a page the keys typed ahead leave at once: the dashboard stays on the terminal until the
    restore's own page, and drawing resumes when the keys run out."""
    monkeypatch.setattr(app_module, "WAIT_SHOWN_AFTER_S", 60.0)  # the plan's wait, however slow, is not the test
    app = fixed_app()
    drawn: list[str] = []
    display = app._display

    def drawing(screen: Screen[Any], renderable: Any) -> None:
        if not app._batch_count:
            drawn.append(f"{type(screen).__name__}:{getattr(screen, 'step', '')}")
        display(screen, renderable)

    app._display = drawing  # type: ignore[method-assign]
    async with running(app, (80, 24)) as pilot:
        drawn.clear()
        await burst(pilot, "r", "enter", "enter", "enter")
        wizard = wizard_of(app)
        await wait_until(pilot, lambda: wizard.step == "result")
        await settle(pilot)
        pages = [page for page in drawn if page.startswith("RestoreWizard")]
        assert pages and not {"RestoreWizard:choose", "RestoreWizard:target"} & set(pages), drawn
        assert not app._batch_count


@sync
@pytest.mark.parametrize("slow", [False, True])
async def test_a_restore_sets_out_before_its_progress_is_drawn(monkeypatch: pytest.MonkeyPatch, slow: bool) -> None:
    """Drawing the progress page took the CPU from the restore's first steps, which wait on the server: the
    plan stays up, undrawn, until the job is under way; one slow to set out is shown after SETTING_OUT_S. An
    Enter typed once too often starts no second restore and cancels nothing."""
    monkeypatch.setattr(restore_module, "SETTING_OUT_S", 0.5 if slow else 60.0)
    services = FixedServices(hold_setting_out=True)
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        try:
            wizard = await open_plan(pilot, app, database="pagila")
            assert wizard.step == "plan"
            if slow:  # Restore, and an Enter too many: it lands on the progress page, whose focus is not Cancel
                for _ in range(2):
                    app.post_message(events.Key("enter", "\r"))  # (the screen is busy until drawn: no settling)
            else:  # a double click on Restore while the plan is still up
                run = wizard.query_one("#run", Button)
                run.press()
                run.press()
            await wait_until(pilot, lambda: wizard.job is not None and bool(wizard.job.steps))
            job = wizard.job
            assert job is not None
            if slow:
                await wait_until(pilot, lambda: wizard.step == "progress")  # still creating: the cap shows it
                assert not job.under_way
            else:
                await asyncio.sleep(0.3)
                assert wizard.step == "plan" and app._batch_count, "nothing drawn while the restore sets out"
        finally:
            services.set_out.set()
        await wait_until(pilot, lambda: wizard.step == "result")
        await wait_until(pilot, lambda: not app.keys_pending)
        await settle(pilot)
        assert not app._batch_count
        assert [(j.kind, j.state, j.cancel.cancelled) for j in app.jobs.values()] == [("restore", "done", False)]


@sync
async def test_an_enter_too_many_typed_ahead_neither_hangs_nor_cancels_the_restore() -> None:
    """r and four Enters in one burst: the fourth reaches the progress page while drawing is still held for it.
    The page waited for its bar's layout by asking again after every refresh, which never came: the app spun on
    its event loop and hung. Now it keeps taking keys, and the Enter too many does not press Cancel."""
    services = FixedServices(hold_restore=True)
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        try:
            for key in ("r", "enter", "enter", "enter", "enter"):
                app.post_message(events.Key(key, "\r" if key == "enter" else key))
            await asyncio.wait_for(wait_until(pilot, lambda: not app.keys_pending), 10)
            wizard = wizard_of(app)
            assert wizard.step == "progress" and wizard.job is not None and wizard.job.running
            assert not wizard.job.cancel.cancelled and not app._batch_count
        finally:
            services.release.set()
        await wait_until(pilot, lambda: wizard.step == "result")
        assert [(j.state, j.cancel.cancelled) for j in app.jobs.values()] == [("done", False)]


@sync
async def test_a_plan_asked_for_ahead_is_not_taken_for_another_target() -> None:
    services = FixedServices()
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        await burst(pilot, "r", "enter")
        wizard = wizard_of(app)
        await wait_until(pilot, lambda: wizard.step == "target")
        box = wizard.query_one("#target-name", Input)
        guessed = box.value
        box.value = "pagila_check"
        await burst(pilot, "enter")
        await wait_until(pilot, lambda: wizard.step == "plan")
        assert wizard.plan is not None and wizard.plan.target_db == "pagila_check"
        assert [target for _, target, _, _ in services.plans] == [guessed, "pagila_check"]


@sync
async def test_escape_typed_ahead_goes_back_in_the_wizard_not_on_the_screen_underneath() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        await burst(pilot, "r", "enter", "escape")
        wizard = wizard_of(app)
        assert wizard.step == "choose"
        assert app.main.query_one(TabbedContent).active == "dashboard"
        assert app.main.backups.state.needle == ""


@sync
async def test_replace_journey_takes_eight_keys_and_the_typed_name() -> None:
    services = FixedServices()
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        keys = ["r", "enter", "shift+tab", "down", "enter", "enter"]
        await press_and_settle(pilot, *keys)
        wizard = wizard_of(app)
        assert wizard.step == "confirm"
        await pilot.press(*"pagila")
        keys.append("enter")
        await pilot.press("enter")
        await wait_until(pilot, lambda: wizard.step == "result")
        assert len(keys) <= 8
        notes = rendered(wizard.query_one("#result-notes", Static))
        assert "Previous database kept as pagila__pre_restore_20250314093000" in notes


@sync
async def test_inside_the_wizard_only_its_keys_apply_no_backup_from_its_footer() -> None:
    services = FixedServices()
    app = fixed_app(services)
    async with running(app, (120, 36)) as pilot:
        wizard = await open_wizard(pilot, app, database="pagila")
        for step in ("choose", "target"):
            assert wizard.step == step
            assert not any(b.binding.action == "new_backup" for b in app.screen.active_bindings.values())
            await press_and_settle(pilot, "b", "2", "1")
            assert app.screen is wizard and not app.jobs and services.calls == []
            await press_and_settle(pilot, "enter")
        await wait_until(pilot, lambda: wizard.step == "plan")
        await press_and_settle(pilot, "b")
        assert not app.jobs and services.calls == []
        await pilot.press("enter")
        await wait_until(pilot, lambda: wizard.step == "result")
        await press_and_settle(pilot, "3")  # a finished restore may be left for the Jobs tab
        assert app.screen is app.main and app.main.query_one(TabbedContent).active == "jobs"


def released_late(app: BackupApp) -> None:
    """A loaded machine: other tasks run between a key's release from the queue and its delivery."""
    post = app.post_message

    def late(message: Message) -> bool:
        if isinstance(message, events.Key) and message is app._key_released:
            asyncio.get_running_loop().call_later(0.005, post, message)
            return True
        return post(message)

    app.post_message = late  # type: ignore[method-assign]


@sync
async def test_a_name_typed_ahead_with_its_enter_arrives_whole_and_in_order() -> None:
    """The confirmation typed in one burst, enter and all, as a terminal delivers a fast typist's keys: each
    character reaches the box in the order typed and enter comes last, so the restore starts on the whole name.
    Two loops once released the queued keys, and on a loaded machine one overtook the other's: enter checked a
    name cut short, and the character after it cleared the error it showed."""
    services = FixedServices()
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        await press_and_settle(pilot, "r", "enter", "shift+tab", "down", "enter", "enter")
        wizard = wizard_of(app)
        assert wizard.step == "confirm"
        box = wizard.query_one("#confirm-name", Input)
        seen: list[str] = []

        def typed(value: str) -> None:
            seen.append(value)

        wizard.watch(box, "value", typed, init=False)
        released_late(app)
        await burst(pilot, *"pagila", "enter")
        assert seen == ["pagila"[:n] for n in range(1, 7)]
        await wait_until(pilot, lambda: wizard.step == "result")


@sync
async def test_home_and_end_go_to_the_first_and_last_row_where_a_backup_is_chosen() -> None:
    """Home went sideways in Textual's table (nothing to see), so after nine ↓, Home and Enter the ninth backup, days
    old, was the one restored. In the wizard's list and on the Backups tab it is the first row."""
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        wizard = await open_wizard(pilot, app, database="pagila")
        table = wizard.query_one("#choose-table", RowTable)
        first = wizard.record.id
        await press_and_settle(pilot, *["down"] * 9, "home")
        assert wizard.record.id == first and table.cursor_row == 0
        await press_and_settle(pilot, "end")
        assert table.cursor_row == len(wizard.records) - 1
        await press_and_settle(pilot, "escape", "2")
        backups = app.main.backups.table
        await press_and_settle(pilot, "down", "down", "home")
        assert backups.cursor_row == 0
        await press_and_settle(pilot, "end")
        assert backups.cursor_row == backups.row_count - 1


@sync
async def test_the_progress_page_names_its_cancel_key_in_the_footer_and_the_key_cancels() -> None:
    """Its focus is the log (an Enter too many cancels nothing), so Cancel had no key on screen: c, in the
    footer while the restore runs, and gone from it once the restore has ended."""
    services = FixedServices(hold_restore=True)
    app = fixed_app(services)
    async with running(app, (80, 24)) as pilot:
        wizard = await start_restore(pilot, app)
        await settle(pilot)
        assert "c" in {key.key for key in wizard.query(FooterKey)}
        await press_and_settle(pilot, "c")
        assert wizard.job is not None and wizard.job.cancel.cancelled
        services.release.set()
        await wait_until(pilot, lambda: wizard.job is not None and not wizard.job.running)
        await settle(pilot)
        assert wizard.job.state == "cancelled" and "c" not in {key.key for key in wizard.query(FooterKey)}


@pytest.mark.parametrize("replace", [False, True])
@sync
async def test_every_focus_stop_of_the_target_page_takes_keys(replace: bool) -> None:
    """Back from the plan, shift+tab (as the page says) reached the page itself, where the arrows and Enter did
    nothing until a Tab: every stop of the page's focus chain is a control, and Enter from each goes on."""
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        wizard = await open_plan(pilot, app, database="pagila", replace=replace)
        await press_and_settle(pilot, "escape")
        assert wizard.step == "target"
        assert all(isinstance(w, (ChoiceSet, Input, Button)) for w in wizard.focus_chain), wizard.focus_chain
        await press_and_settle(pilot, "shift+tab")
        await press_and_settle(pilot, "enter")
        await wait_until(pilot, lambda: wizard.step == "plan")
        assert wizard.plan is not None and (wizard.plan.mode == "replace") is replace


@sync
async def test_enters_typed_before_the_app_took_the_terminal_still_reach_the_wizard() -> None:
    """Typed while the app starts (over SSH, before it puts the terminal in raw mode), Enter reaches it as a
    newline, which Textual reads as ctrl+j: r went through, the three Enters were lost. They are Enters."""
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        app.post_message(events.Key("r", "r"))
        for _ in range(3):
            app.post_message(events.Key("ctrl+j", "\n"))
        await wait_until(pilot, lambda: isinstance(app.screen, RestoreWizard) and app.screen.step == "result")
        assert [(j.kind, j.state) for j in app.jobs.values()] == [("restore", "done")]
