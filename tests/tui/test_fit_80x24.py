"""What an on-call engineer reads over SSH at 80x24 is whole, or says that more follows and where to see it;
the same screens at 120x36 stay as they were meant."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.text import Text
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Button, DataTable, RadioButton, RichLog, Static

from backup_tui.engine.core.models import SAFETY_REASON_PREFIX, BackupRecord, Verification, utc_iso
from backup_tui.engine.ops.kept import KeptCopy
from backup_tui.tui import format as fmt
from backup_tui.tui.app import BackupApp
from backup_tui.tui.fit import fit_line, fit_rows
from backup_tui.tui.jobs import LogEntry
from backup_tui.tui.screens.problems import ProblemsScreen
from backup_tui.tui.widgets.dashboard import ALERT_ROWS, CARD_MORE, DatabaseCard
from backup_tui.tui.widgets.hanging import Hanging, hang
from tests.tui.conftest import (
    SIZES,
    held_restore,
    open_plan,
    open_wizard,
    press_and_settle,
    rendered,
    right_edge,
    running,
    settle,
    sync,
    wait_until,
)
from tests.tui.fixtures import NOW, FixedServices, fixed_app, fixed_records


def table_lines(table: DataTable[Any]) -> list[str]:
    """The table as the screen shows it, header first."""
    return ["".join(segment.text for segment in table.render_line(y)) for y in range(table.size.height)]


# -- the Backups tab's first s --------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_the_first_s_orders_the_backups_by_their_newest_check(size: tuple[int, int]) -> None:
    """Created (the default) and Age are the same order: the first s must show another, useful one: the
    backups a restore looks for first (a check passed, newest first), a failed check never among them."""
    app = fixed_app()
    async with running(app, size) as pilot:
        await press_and_settle(pilot, "2")
        view = app.main.backups
        newest_first = [r.id for r in view.shown]
        await press_and_settle(pilot, "s")
        shown = view.shown
        assert [r.id for r in shown] != newest_first
        rank = [0 if r.verified_ok else 2 if r.failed_last_check else 1 for r in shown]
        assert rank == sorted(rank) and rank[0] == 0 and rank[-1] == 2  # passed, never checked, failed
        passed = [r.last_verification.at for r in shown if r.verified_ok and r.last_verification is not None]
        assert passed == sorted(passed, reverse=True)
        assert "Verified ▼" in table_lines(view.table)[0]


# -- the Jobs tab's Step column ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_a_running_jobs_step_is_read_whole_beside_a_long_title(size: tuple[int, int]) -> None:
    """A restore's title (kind, backup id, target) is long; its step column still shows the step's name."""
    app = fixed_app(FixedServices(hold_restore=True))
    async with running(app, size) as pilot:
        job = await held_restore(pilot, app, target_db="pagila_restored_20250314_093000")
        await press_and_settle(pilot, "3")
        table = app.main.query_one("#jobs-table", DataTable)
        row = table_lines(table)[1]
        assert job.current_step == "restore"
        assert row.rstrip().endswith("restore"), row
        assert len(row) <= table.size.width
        assert "restore to pa" in row  # the title begins with where the restore goes
        job.cancel.cancel()
        await wait_until(pilot, lambda: not job.running)



# -- the plan's wrapped lines -------------------------------------------------------------------------------

PLAN_HEADS = {"Flight", "Backup", "Target", "Rollback", "Space", "Time", "Sessions", "Steps"}


def screen_lines(widget: Widget) -> list[str]:
    """A widget's lines as drawn, without styles."""
    return [strip.text for strip in widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))]


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_a_wrapped_plan_line_continues_under_its_own_text(size: tuple[int, int]) -> None:
    """Labels and step numbers stay a column one reads down: a wrapped step goes on under its description."""
    app = fixed_app()
    async with running(app, size) as pilot:
        wizard = await open_plan(pilot, app, replace=True, database="pagila")
        lines = screen_lines(wizard.query_one("#plan-text", Static))
        assert len(lines) > len(PLAN_HEADS) + 7  # some line wrapped, at both sizes (the rollback's)
        for line in lines:
            if line[:1].strip():
                assert line.split()[0] in PLAN_HEADS, line
            elif not re.match(r"  \d+\. ", line):
                assert line.startswith(" " * 10) and line.strip(), line
        steps = [i for i, line in enumerate(lines) if re.match(r"  \d+\. ", line)]
        for i in range(steps[0], len(lines)):
            if i not in steps:  # a step's continuation: under its description, after "  5. terminate "
                assert lines[i].startswith(" " * 15) and not lines[i].startswith(" " * 16), lines[i]


@sync
async def test_the_chosen_backup_wraps_under_its_label_on_the_target_page() -> None:
    app = fixed_app()
    async with running(app, (80, 24)) as pilot:
        wizard = await open_wizard(pilot, app, database="pagila")
        wizard.query_one("#to-target", Button).press()
        await settle(pilot)
        lines = [line for line in screen_lines(wizard.query_one("#target-backup", Static)) if line.strip()]
        assert len(lines) == 2 and lines[0].startswith("Backup    pagila-")
        assert lines[1].startswith(" " * 10 + "✓ full"), lines[1]


# -- the wizard's first page: Verified whole ---------------------------------------------------------------


def demo_like_records() -> list[BackupRecord]:
    """As the demo's catalog reads: ids with a unique suffix, and a safety backup (marked "· safety") on top,
    taken before restoring an older backup that has a verification a dozen days old."""
    records = [replace(r, id=f"{r.id}-k3xq") for r in fixed_records()]
    newest = next(r for r in records if r.database == "pagila")
    moment = NOW - timedelta(minutes=1)
    safety = replace(newest, id="pagila-20250314T092900Z-p0zz", created_at=utc_iso(moment),
                     finished_at=utc_iso(moment), reason=f"{SAFETY_REASON_PREFIX} {records[-1].id}",
                     verifications=(), pinned=False)
    return [safety, *records]


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_the_backup_chooser_shows_every_verification_whole(size: tuple[int, int]) -> None:
    app = fixed_app(FixedServices(demo_like_records()))
    async with running(app, size) as pilot:
        wizard = await open_wizard(pilot, app, database="pagila")
        table = wizard.query_one("#choose-table", DataTable)
        lines = table_lines(table)
        assert "Verified" in lines[0]
        for y, record in enumerate(wizard.records[:table.size.height - 1], 1):
            assert fmt.verification_text(record.last_verification, NOW) in lines[y], lines[y]
            assert fmt.marked_id(record) in lines[y]
        shown = {str(key.value) for key in table.columns}  # at 80 columns the size made room; the plan has it
        assert {"id", "verified"} <= shown and ("size" in shown) == (size[0] >= 100)
        assert right_edge(table, "verified") <= table.size.width - 1  # the scrollbar's column


# -- the dashboard: cards one row a line, a cut alerts box says so ------------------------------------------


def demo_like_dashboard() -> list[BackupRecord]:
    """``demo_like_records`` with, as in the demo, inventory's newest backup checked (quick, 3 days ago) and
    an older one's later check failed: the card names both on one line, the alerts need five rows at 80."""
    ok = Verification(at="2025-03-11T04:00:00Z", level="quick", ok=True, checks=("sha256 matches",),
                      duration_s=0.1)
    return [replace(r, verifications=(ok,)) if r.id.startswith("inventory-20250311") else r
            for r in demo_like_records()]


def card_of(app: BackupApp, database: str) -> DatabaseCard:
    return next(card for card in app.main.query(DatabaseCard) if card.database == database)


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_a_card_keeps_one_row_a_line_and_cuts_with_an_ellipsis(size: tuple[int, int]) -> None:
    app = fixed_app(FixedServices(demo_like_dashboard()))
    async with running(app, size) as pilot:
        await settle(pilot)
        card = card_of(app, "inventory")
        lines = rendered(card).split("\n")
        assert len(lines) == 4 and card.content_region.height == 4
        assert all(cell_len(line) <= card.content_region.width for line in lines)
        assert lines[0].endswith("(+3 more, see alerts)")
        verified = "verified ✓ quick, 3 days ago (newest); 20250305T030000Z-k3xq ✗ failed"
        # whole where it fits (at 80 columns too, since "✗ failed its check" became "✗ failed"); else cut, saying so
        assert lines[2] == verified or (lines[2].endswith("…") and verified.startswith(lines[2][:-1]))
        assert app.main.dashboard.query_one("#cards", VerticalScroll).max_scroll_y == 0


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_a_kept_copy_line_leaves_every_card_whole_the_alerts_give_up_rows(size: tuple[int, int]) -> None:
    """At 80x24 a card's "kept:" line pushed the last card's border below the screen, behind a scrollbar: the
    alerts give up rows while the cards would not fit (ending with where to read them all), and take them back
    once the copy is dropped."""
    services = FixedServices(demo_like_dashboard())
    services.kept["pagila"] = [KeptCopy("pagila__pre_restore_20250314093000", "pagila", "pre_restore",
                                        NOW - timedelta(hours=3), 1_200_000_000)]
    app = fixed_app(services)
    async with running(app, size) as pilot:
        cards = app.main.dashboard.query_one("#cards", VerticalScroll)
        alerts = app.main.dashboard.query_one("#alerts", Static)
        await wait_until(pilot, lambda: "kept: pagila__pre_restore_20250314093000" in rendered(card_of(app, "pagila")))
        await wait_until(pilot, lambda: cards.max_scroll_y == 0)
        assert all(cards.region.contains_region(card.region) for card in app.main.query(DatabaseCard))
        rows = rendered(alerts).split("\n")
        assert rows[-1].endswith(("! shows all", "! what to do"))
        if size == (80, 24):
            assert len(rows) < ALERT_ROWS
            services.kept["pagila"] = []
            app.check_servers()
            await wait_until(pilot, lambda: len(rendered(alerts).split("\n")) == ALERT_ROWS)
            assert cards.max_scroll_y == 0


@pytest.mark.parametrize("size", [(80, 24), (80, 23)], ids=["80x24", "80x23"])
@sync
async def test_a_dashboard_that_gives_the_alerts_rows_settles_and_stays_still(size: tuple[int, int]) -> None:
    """A kept copy and a failed check, at 80x24 and one row less: the alerts took rows off twice on one stale
    measure, gave them back twice, and the dashboard redrew without end (two thirds of a CPU, idle)."""
    records = demo_like_dashboard()
    newest = max((r for r in records if r.database == "pagila"), key=lambda r: r.created_at)
    failed = Verification(at="2025-03-14T09:00:00Z", level="full", ok=False, problems=("test restore failed",))
    services = FixedServices([replace(r, verifications=(failed,)) if r is newest else r for r in records])
    services.kept["pagila"] = [KeptCopy("pagila__pre_restore_20250314093000", "pagila", "replaced",
                                        NOW - timedelta(hours=3), 1_200_000_000)]
    app = fixed_app(services)
    async with running(app, size) as pilot:
        await wait_until(pilot, lambda: "kept: " in rendered(card_of(app, "pagila")))
        await settle(pilot)
        await pilot.pause(0.3)
        alerts = app.main.dashboard.query_one("#alerts", Static)
        cards = app.main.dashboard.query_one("#cards", VerticalScroll)
        asked: list[int] = []
        real_limit = alerts.limit  # type: ignore[attr-defined]

        def limit(rows: int) -> None:
            asked.append(rows)
            real_limit(rows)

        alerts.limit = limit  # type: ignore[attr-defined]
        still = [rendered(alerts)]
        for _ in range(10):
            await pilot.pause(0.05)
            still.append(rendered(alerts))
        assert asked == [] and len(set(still)) == 1, asked
        assert cards.max_scroll_y == 0 and all(cards.region.contains_region(c.region)
                                               for c in app.main.query(DatabaseCard))


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_a_cut_alerts_box_ends_with_an_ellipsis_and_where_to_read_it_all(size: tuple[int, int]) -> None:
    app = fixed_app(FixedServices(demo_like_dashboard()))
    async with running(app, size) as pilot:
        alerts = app.main.dashboard.query_one("#alerts", Static)
        rows = rendered(alerts).split("\n")
        assert len(rows) <= ALERT_ROWS and alerts.content_region.height == len(rows)
        assert all(cell_len(row) <= alerts.content_region.width for row in rows)
        if size[0] >= 100:
            assert rows[-1].endswith("! what to do")
        else:
            assert len(rows) == ALERT_ROWS and rows[-1].endswith("… ! shows all")
        await press_and_settle(pilot, "exclamation_mark")  # the key the box names shows every problem
        assert isinstance(app.screen, ProblemsScreen)


# -- the target page's replace choice: its label whole ----------------------------------------------------

LONG_NAME = "warehouse_inventory_eu"


def long_named_records() -> list[BackupRecord]:
    """inventory's backups as a database with a long name."""
    return [replace(r, database=LONG_NAME, id=r.id.replace("inventory", LONG_NAME)) if r.database == "inventory"
            else r for r in fixed_records()]


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_the_replace_choice_names_the_database_whole(size: tuple[int, int]) -> None:
    app = fixed_app(FixedServices(long_named_records()))
    async with running(app, size) as pilot:
        wizard = await open_wizard(pilot, app, database=LONG_NAME)
        wizard.query_one("#to-target", Button).press()
        await settle(pilot)
        button = wizard.query_one("#mode-replace", RadioButton)
        drawn = screen_lines(button)[0].rstrip()
        label = str(button.label)
        assert drawn.endswith(label) and "…" not in drawn, drawn
        assert f"'{LONG_NAME}'" in label and "kept aside" in label
        assert ("for rollback" in label) == (size[0] >= 100)


# -- the logs: a wrapped line continues under its message ----------------------------------------------------

LONG_MESSAGE = ("waiting for a lock before the end of a long line: table public.payment_p2022_02 held by "
                "app@10.0.4.7 'orders-api' since 03:12")


@pytest.mark.parametrize("size", SIZES)
@sync
async def test_a_wrapped_log_line_continues_under_its_message(size: tuple[int, int]) -> None:
    app = fixed_app()
    async with running(app, size) as pilot:
        await press_and_settle(pilot, "3")
        app.main.jobs.add_entries([LogEntry(NOW, "warning", "restore #9", LONG_MESSAGE)])
        await settle(pilot)
        rows = [strip.text.rstrip() for strip in app.main.query_one("#activity", RichLog).lines]
        first = next(i for i, row in enumerate(rows) if "restore #9" in row)
        assert rows[first].startswith("09:30:00 restore #9 waiting")
        rest = rows[first + 1:]
        assert rest and all(row.startswith(" " * 20) and row[20] != " " for row in rest), rest
        assert " ".join(row.strip() for row in rows[first:]).endswith(LONG_MESSAGE)


# -- the fitting rules themselves ----------------------------------------------------------------------------


def test_a_cut_line_keeps_the_hint_that_says_where_the_rest_is() -> None:
    line = Text("✖ FAILING  last backup 3 days ago (expected daily, the schedule's log says why) (+3 more, see alerts)")
    fitted = fit_line(line, 60, CARD_MORE)
    assert fitted.cell_len == 60 and fitted.plain.endswith("… (+3 more, see alerts)")
    assert fit_line(line, 200, CARD_MORE) is line  # whole when it fits
    assert fit_line(Text("x" * 30), 10).plain == "x" * 9 + "…"


def test_rows_past_the_box_end_with_an_ellipsis_and_where_to_see_them() -> None:
    rows = [Text(f"row {n} " + "y" * 30) for n in range(6)]
    fitted = fit_rows(rows, 40, 4, Text(" ! shows all"))
    assert len(fitted) == 4 and [r.plain for r in fitted[:3]] == [r.plain for r in rows[:3]]
    assert fitted[3].plain.endswith("… ! shows all") and fitted[3].cell_len <= 40
    assert fit_rows(rows[:4], 40, 4, Text(" ! shows all")) == rows[:4]


def test_a_hanging_line_too_narrow_for_its_indent_wraps_as_plain_text() -> None:
    console = Console(width=80)
    line = Text("  5. terminate block new connections to 'pagila' and terminate its sessions")
    assert [r.plain for r in hang(line, 15, 40, console)][1].startswith(" " * 15)
    assert not [r.plain for r in hang(line, 15, 20, console)][1].startswith(" ")
    assert [indent for indent, _ in Hanging.of(Text("Rollback  drop it\n  2. create    x\nplain")).lines] == [10, 15, 0]


def test_a_card_names_its_backups_without_the_database_it_is_about() -> None:
    """At 80 columns a cut first line kept "verification of pagila-20261206T091…" and lost which backup."""
    from backup_tui.tui.widgets.dashboard import in_card

    said = "verification of app_db-20261206T091405Z-ziaa failed: zstd stream is corrupt; app_db-x stays"
    assert in_card(said, "app_db") == ("verification of 20261206T091405Z-ziaa failed: zstd stream is corrupt; "
                                       "app_db-x stays")
    assert in_card(said, "db") == said  # another database's name inside this one's: untouched
