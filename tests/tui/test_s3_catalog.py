"""The Backups tab with a bucket: a Host column (a bucket is a fleet's catalog) kept after Where when the terminal
narrows, the filter finds rows by host, Where reads local / s3 / local+s3, and the dashboard's card says where the
newest backup's copies are. Fixed data, so the pictures are the same every run."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from textual.widgets import Input, Static

from backup_tui.engine.config import S3Config
from backup_tui.engine.core.health import assess_all
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.storage.state import this_host
from backup_tui.tui.app import BackupApp
from backup_tui.tui.widgets.backups import COLUMNS, INDEX, PRIORITY, layout, matches, row_spec
from backup_tui.tui.widgets.dashboard import DatabaseCard, card_text
from tests.tui.conftest import SIZE, press_and_settle, rendered, running, select, settle, sync, wait_until
from tests.tui.fixtures import FIXED_SETTINGS, NOW, FixedServices, fixed_clock, fixed_records

WITH_S3 = replace(FIXED_SETTINGS, s3=S3Config(bucket="fleet-backups"))


def fleet() -> list[BackupRecord]:
    """The fixed catalog, its pagila backups taken on two hosts (this one, whose health the card shows, and web1)
    and held in one, the other or both places."""
    places = (("local",), ("s3",), ("local", "s3"))
    return [replace(r, host=("web1" if i % 2 else this_host()) if r.database == "pagila" else "",
                    locations=places[i % 3] if r.database == "pagila" else ("local",))
            for i, r in enumerate(fixed_records())]


def test_a_row_reads_its_host_and_its_places_joined() -> None:
    record = replace(fixed_records()[0], host="web1", locations=("local", "s3"))
    cells = row_spec(record, NOW, UTC)
    assert cells[INDEX["host"]][0] == "web1"
    assert cells[INDEX["where"]][0] == "local+s3"
    assert row_spec(replace(record, locations=("s3",)), NOW, UTC)[INDEX["where"]][0] == "s3"
    assert matches(cells, "web1") and not matches(cells, "web2")


def test_host_comes_right_after_where_when_the_terminal_narrows() -> None:
    assert PRIORITY.index("host") == PRIORITY.index("where") + 1
    cells = row_spec(replace(fixed_records()[0], host="web1", locations=("local", "s3")), NOW, UTC)
    widths = [max(len(c.label), len(cell[0])) for c, cell in zip(COLUMNS, cells, strict=True)]
    upto_where = sum(widths[INDEX[k]] + 2 for k in PRIORITY[:PRIORITY.index("where") + 1]) + 1
    shown = layout(widths, upto_where, INDEX["created"])
    assert INDEX["where"] in shown and INDEX["host"] not in shown
    shown = layout(widths, upto_where + widths[INDEX["host"]] + 2, INDEX["created"])
    assert INDEX["host"] in shown and INDEX["took"] not in shown


def test_the_card_says_where_the_newest_copies_are_when_s3_is_configured() -> None:
    records = fixed_records()
    newest = records[0]
    for places, said in ((("local",), "local only"), (("s3",), "S3 only"), (("local", "s3"), "local + S3")):
        held = [replace(newest, locations=places), *records[1:]]
        item = next(h for h in assess_all(["pagila"], held, NOW) if h.database == "pagila")
        assert card_text(item, NOW, UTC, False, s3=True).plain.split("\n")[1].endswith(f" · {said}")
        assert card_text(item, NOW, UTC, False).plain.split("\n")[1].endswith(f" · {', '.join(places)}")


def fleet_app() -> tuple[BackupApp, FixedServices]:
    """The app on the fleet's catalog, with S3 configured."""
    services = FixedServices(fleet())
    services.settings = WITH_S3
    app = BackupApp(WITH_S3, clock=fixed_clock, services=services, tz=UTC, refresh_seconds=0)
    app.animation_level = "none"
    return app, services


@sync
async def test_the_backups_tab_filters_by_host_and_shows_both_places() -> None:
    app, services = fleet_app()
    async with running(app, (200, 40)) as pilot:
        await wait_until(pilot, lambda: len(app.records) == len(services.records))
        card = next(c for c in app.main.query(DatabaseCard) if c.database == "pagila")
        newest = max((r for r in services.records if r.database == "pagila"), key=lambda r: r.created_at)
        words = {("local",): "local only", ("s3",): "S3 only", ("local", "s3"): "local + S3"}
        assert f" · {words[newest.locations]}" in rendered(card)
        await press_and_settle(pilot, "2")
        table = app.main.backups.table
        assert "host" in [str(k.value) for k in table.columns]
        await press_and_settle(pilot, "slash")
        app.main.backups.query_one("#filter", Input).value = "web1"
        await settle(pilot)
        web1 = {r.id for r in services.records if r.host == "web1"}
        await wait_until(pilot, lambda: {str(k.value) for k in table.rows} == web1)
        hosts = {str(table.get_cell(row, "host")) for row in table.rows}
        places = {str(table.get_cell(row, "where")) for row in table.rows}
        assert hosts == {"web1"} and places == {"local", "s3", "local+s3"}


@sync
async def test_at_80x24_the_detail_pane_names_the_host_the_table_has_no_room_for() -> None:
    app, services = fleet_app()
    async with running(app, SIZE) as pilot:
        theirs = next(r for r in services.records if r.host == "web1")
        view = await select(pilot, app, theirs.id)
        assert "taken on web1" in rendered(view.query_one("#detail", Static))
