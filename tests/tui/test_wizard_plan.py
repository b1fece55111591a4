"""The restore wizard's plan and its typed confirmation, on the fixed catalog: the plan warns, before its steps (so
on screen at 80x24), about a backup never verified or whose check failed; a plan the engine would refuse says why,
cannot run, and offers the way around it; a name SQL needs in quotes is said so; a replace runs only once the
database's name is typed exactly, and says when it does not match."""

from __future__ import annotations

import dataclasses

import pytest
from textual.widgets import Button, Input, Label, Static

from backup_tui.engine.core.models import BackupRecord, PlanStep, RestorePlan
from backup_tui.tui.screens.restore import needs_quotes, plan_text
from tests.tui.conftest import (
    SIZES,
    open_plan,
    open_wizard,
    press_and_settle,
    rendered,
    running,
    settle,
    sync,
    to_plan,
    wait_until,
)
from tests.tui.fixtures import NOW, FixedServices, fixed_app, fixed_plan, fixed_records


def record_where(unverified: bool = False, failed: bool = False) -> BackupRecord:
    for record in fixed_records():
        last = record.last_verification
        if unverified and last is None and record.database == "pagila":
            return record
        if failed and last is not None and not last.ok:
            return record
    raise LookupError("no such record in the fixed catalog")


# -- an unverified or failed backup is warned of on the plan ------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_plan_warns_about_an_unverified_backup(size: tuple[int, int]) -> None:
    app = fixed_app()
    record = record_where(unverified=True)
    async with running(app, size) as pilot:
        wizard = await open_wizard(pilot, app, backup_id=record.id)
        question = str(wizard.query_one("#choose-question", Label).render())
        assert f"Selected: {record.id}, the row highlighted on the Backups tab." in question
        assert "newest verified" not in question
        assert wizard.record.id == record.id
        await to_plan(pilot, wizard, replace=True)
        text = rendered(wizard.query_one("#plan-text", Static))
        assert "never been verified" in text
        # The warning and the rollback come before the steps, so they are on screen at 80x24.
        assert text.index("never been verified") < text.index("Rollback") < text.index("Steps")
        assert text.index("Space") < text.index("Steps")


@sync
async def test_plan_warns_about_a_failed_verification() -> None:
    app = fixed_app()
    record = record_where(failed=True)
    async with running(app, (80, 24)) as pilot:
        wizard = await open_plan(pilot, app, backup_id=record.id)
        text = rendered(wizard.query_one("#plan-text", Static))
        assert "last verification FAILED" in text and "bit flip" in text


# -- a plan the engine would refuse -------------------------------------------------------------------------


class RolesMissing(FixedServices):
    """A server that lacks the role owning the backup's objects: the engine's plan says so."""

    def plan_restore(self, record: BackupRecord, target_db: str | None, replace: bool,
                     no_owner: bool = False) -> RestorePlan:
        return dataclasses.replace(fixed_plan(record, target_db, replace), missing_roles=("app_owner",),
                                   no_owner=no_owner)


@sync
async def test_plan_that_would_be_refused_says_why_and_cannot_run() -> None:
    app = fixed_app(RolesMissing())
    async with running(app, (80, 24)) as pilot:
        wizard = await open_plan(pilot, app, database="pagila")
        text = rendered(wizard.query_one("#plan-text", Static))
        assert "Cannot restore here" in text and "app_owner" in text
        assert "or restore with “Without owners” below" in text and "--" not in text
        assert text.index("Cannot restore here") < text.index("Steps")  # on screen at 80x24
        assert wizard.query_one("#run", Button).disabled

        await pilot.click("#plan-no-owner")  # plan again, owners and privileges left out
        await wait_until(pilot, lambda: wizard.plan is not None and wizard.plan.no_owner)
        text = rendered(wizard.query_one("#plan-text", Static))
        assert "Cannot restore here" not in text and "objects will belong to the user we connect as" in text
        assert not wizard.query_one("#run", Button).disabled
        assert not wizard.query_one("#plan-no-owner", Button).display


# -- the target's name and the plan's labels --------------------------------------------------------------


def test_the_plan_warns_about_a_name_that_needs_quotes_and_keeps_labels_apart() -> None:
    record = fixed_records()[0]
    plan = dataclasses.replace(fixed_plan(record, "Pagila Restore; DROP", False),
                               steps=(PlanStep("properties", "give it the comment"), PlanStep("create", "make")))
    text = plan_text(plan, record, NOW, None).plain
    assert "new database 'Pagila Restore; DROP' (SQL needs this name in double quotes)" in text
    assert "1. properties give it the comment" in text and "2. create     make" in text
    assert needs_quotes("PAGILA") and needs_quotes("a b") and not needs_quotes("pagila_copy_2")
    plain = plan_text(fixed_plan(record, "pagila_copy", False), record, NOW, None).plain
    assert "double quotes" not in plain


# -- the typed confirmation --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_replace_confirmation_says_when_the_name_does_not_match(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        wizard = await open_plan(pilot, app, database="pagila", replace=True)
        wizard.query_one("#run", Button).press()
        await settle(pilot)
        assert wizard.step == "confirm"
        box = wizard.query_one("#confirm-name", Input)
        assert box.placeholder == "type the database name" and box.has_focus
        await press_and_settle(pilot, "enter")
        error = wizard.query_one("#confirm-error", Static)
        assert wizard.step == "confirm" and "does not match" in rendered(error)
        await press_and_settle(pilot, *"pagil", "enter")
        assert wizard.step == "confirm" and "does not match" in rendered(error)
        await press_and_settle(pilot, "a")
        assert rendered(error) == ""
        assert not wizard.query_one("#run-replace", Button).disabled
        await press_and_settle(pilot, "space")  # a space after it, which no one sees, does not count
        assert not wizard.query_one("#run-replace", Button).disabled
        await press_and_settle(pilot, "x")
        assert wizard.query_one("#run-replace", Button).disabled
