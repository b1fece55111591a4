"""The restore wizard in a bucket shared by a fleet: 'pagila' backed up on another host is another database of the
same name (health and retention judge it apart). Opened for a database (r on its card), the wizard selects this
host's backup, never the other host's newer one that four keys would restore over this host's; a backup of another
host chosen on purpose is named with its host on every page after the first."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import Static

from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.storage.state import this_host
from backup_tui.tui.app import BackupApp
from backup_tui.tui.screens.restore import chosen_line
from tests.tui.conftest import SIZE, open_wizard, rendered, running, sync, to_plan
from tests.tui.fixtures import NOW, FixedServices, fixed_clock, fixed_records


def shared() -> list[BackupRecord]:
    """The fixed catalog as this host took it, and web1's newer, verified backup of its own 'pagila'."""
    records = [replace(r, host=this_host()) for r in fixed_records()]
    newest = next(r for r in records if r.database == "pagila")
    theirs = replace(newest, id="pagila-20250314T080000Z", created_at="2025-03-14T08:00:00Z", host="web1")
    return [theirs, *records]


@sync
async def test_the_wizard_for_a_database_selects_this_hosts_backup_not_another_hosts() -> None:
    services = FixedServices(shared())
    app = BackupApp(services.settings, clock=fixed_clock, services=services, refresh_seconds=0)
    app.animation_level = "none"
    async with running(app, SIZE) as pilot:
        wizard = await open_wizard(pilot, app, database="pagila")
        assert wizard.record.host == this_host(), wizard.record.id
        assert "taken on this host" in wizard.question
        await to_plan(pilot, wizard)
        assert "taken on" not in rendered(wizard.query_one("#plan-text", Static))


def test_a_backup_of_another_host_is_named_with_its_host() -> None:
    theirs = shared()[0]
    assert chosen_line(theirs, NOW, None).plain.endswith(" · taken on web1")
    assert "taken on" not in chosen_line(replace(theirs, host=this_host()), NOW, None).plain
