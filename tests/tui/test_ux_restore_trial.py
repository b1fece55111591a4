"""Findings of the 3 a.m. restore trial, pinned on the fixed catalog: the wizard names the backup under
the cursor and nothing else, warns about a backup that failed its check, says true things about time
and progress, and leaves a way to connect to what it restored."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from textual.widgets import DataTable, Label, Static

from backup_tui.engine.core.models import PlanStep
from backup_tui.engine.core.progress import BytesProgress, StepStarted
from backup_tui.tui.jobs import Job
from backup_tui.tui.screens.restore import bytes_text, needs_quotes, plan_text, suggested_name
from tests.tui.conftest import open_plan, open_wizard, rendered, running, settle, sync, to_plan, wait_until
from tests.tui.fixtures import NOW, fixed_app, fixed_plan, fixed_records

FAILED_ID = "inventory-20250305T030000Z"  # the fixed catalog's backup whose only verification failed




@sync
async def test_opened_on_one_backup_it_lists_that_database_only_and_follows_the_cursor() -> None:
    app = fixed_app()
    async with running(app, (120, 40)) as pilot:
        wizard = await open_wizard(pilot, app, backup_id=FAILED_ID)
        assert {r.database for r in wizard.records} == {"inventory"}
        question = wizard.query_one("#choose-question", Label)
        assert rendered(question) == f"Which backup? Selected: {FAILED_ID}, the row highlighted on the Backups tab."
        warning = wizard.query_one("#choose-warning", Static)
        assert warning.display and "last verification FAILED" in rendered(warning)

        table: DataTable[Any] = wizard.query_one("#choose-table", DataTable)
        other = next(i for i, r in enumerate(wizard.records) if r.id != FAILED_ID and not r.failed_last_check)
        table.move_cursor(row=other, animate=False)
        await settle(pilot)
        assert rendered(question) == f"Which backup? Selected: {wizard.records[other].id}."
        assert not warning.display

        await to_plan(pilot, wizard)
        assert wizard.plan is not None and wizard.plan.backup_id == wizard.records[other].id
        named = rendered(wizard.query_one("#target-backup", Static))
        assert named.startswith(f"Backup    {wizard.records[other].id} · ")


@sync
async def test_the_result_says_how_to_connect_and_that_the_proof_is_kept() -> None:
    app = fixed_app()
    async with running(app, (120, 40)) as pilot:
        wizard = await open_plan(pilot, app, database="pagila")
        wizard.query_one("#run").press()  # type: ignore[attr-defined]
        await wait_until(pilot, lambda: wizard.step == "result")
        summary = rendered(wizard.query_one("#result-summary", Static))
        assert "kept in the backup's verification history" in summary
        # host (and port, user when configured) from the connection the app uses: pasted as is, it connects
        assert f"  psql -h db1.example.net -d {wizard.plan.target_db}" in summary.splitlines()  # type: ignore[union-attr]


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


def test_time_and_progress_say_true_things() -> None:
    record = fixed_records()[0]
    unknown = dataclasses.replace(fixed_plan(record, "x", False), estimated_seconds=None)
    said = plan_text(unknown, record, NOW, None).plain
    assert "no estimate yet: no past restore of a comparable size to go by" in said
    job = Job(1, "restore", "restore x", "pagila", NOW)
    job.apply(StepStarted("restore", "x"), NOW)
    job.apply(BytesProgress("restore", 50, 100), NOW)
    assert "ETA" in bytes_text(job, NOW)
    job.apply(BytesProgress("restore", 100, 100), NOW)
    assert bytes_text(job, NOW).endswith("read · pg_restore is finishing: the last rows, then indexes and "
                                         "constraints…")
    assert bytes_text(job, NOW).startswith("loading the data · ")  # which phase runs


def test_the_time_left_follows_the_plans_estimate_through_every_phase() -> None:
    """Not the byte rate alone: at 57% read the indexes are still to come, and the plan knew the whole."""
    job = Job(1, "restore", "restore x", "pagila", NOW, estimate_s=8.0)
    job.apply(StepStarted("restore", "x"), NOW)
    job.apply(BytesProgress("restore", 57, 100), NOW + timedelta(seconds=1))
    said = bytes_text(job, NOW + timedelta(seconds=1))
    assert said == "loading the data · 57 B of 100 B · about 7.0 s left (plan: 8.0 s)"
    job.apply(BytesProgress("restore", 100, 100), NOW + timedelta(seconds=2))
    said = bytes_text(job, NOW + timedelta(seconds=3))
    assert said.endswith("indexes and constraints… · about 5.0 s left (plan: 8.0 s)")
    job.apply(StepStarted("verify", "exact row counts"), NOW + timedelta(seconds=9))
    assert bytes_text(job, NOW + timedelta(seconds=9)) == "counting rows · longer than the plan's 8.0 s"


def test_names_are_new_each_second() -> None:
    record = fixed_records()[0]
    first, again = suggested_name(record, NOW), suggested_name(record, NOW.replace(second=NOW.second + 1))
    assert first != again  # a second restore within the minute gets a name of its own
