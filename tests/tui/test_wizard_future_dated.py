"""A backup dated in the future (clock skew, or a manifest planted with a date ahead): the health calls it
critical and never counts it as the newest; the wizard must not offer it as "the newest verified one" either,
where four keys would restore it. It stays listed, and choosing it is the operator's."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from backup_tui.engine.core.models import BackupRecord, utc_iso
from backup_tui.tui.screens.restore import RestoreWizard, choose_question, preselect
from tests.tui.conftest import open_wizard, running, sync
from tests.tui.fixtures import NOW, FixedServices, fixed_app, fixed_records

AHEAD_ID = "pagila-20250316T020000Z"


def with_future_dated() -> list[BackupRecord]:
    newest = next(r for r in fixed_records() if r.database == "pagila" and r.verified_ok)
    moment = NOW + timedelta(days=2)
    ahead = replace(newest, id=AHEAD_ID, created_at=utc_iso(moment), finished_at=utc_iso(moment))
    return [ahead, *fixed_records()]


def test_a_future_dated_backup_is_not_the_one_offered_while_one_dated_before_now_is() -> None:
    records = with_future_dated()
    assert records[0].verified_ok and records[0].created > NOW
    index = preselect(records, None, "pagila", NOW)
    assert records[index].id != AHEAD_ID and records[index].verified_ok and records[index].created <= NOW
    said = choose_question(records, index, None, "pagila", NOW)
    assert said.startswith("Which backup? The newest verified one of pagila dated before now") and \
        "dated in the future aside" in said, said
    assert preselect(records, AHEAD_ID, "pagila", NOW) == 0  # chosen on the Backups tab: as chosen
    assert preselect(records[:1], None, "pagila", NOW) == 0  # where it is all there is, it is offered


@sync
async def test_the_wizard_opened_for_a_database_skips_its_future_dated_backup() -> None:
    app = fixed_app(FixedServices(with_future_dated()))
    async with running(app, (80, 24)) as pilot:
        wizard = await open_wizard(pilot, app, database="pagila")
        assert isinstance(wizard, RestoreWizard)
        assert wizard.records[wizard.initial].id != AHEAD_ID
        assert "dated in the future aside" in wizard.question
