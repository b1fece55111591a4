"""The dashboard: alerts on top, then one card per configured database."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from backup_tui.engine.core.health import Health, Problem
from backup_tui.engine.core.models import BackupRecord, Verification
from backup_tui.engine.ops.kept import KeptCopy
from backup_tui.tui import format as fmt
from backup_tui.tui.fit import fit_line, fit_rows
from backup_tui.tui.widgets.trend import trend_text

STATUS_STYLE = {"ok": "bold green", "warning": "bold yellow", "failing": "bold red"}
STATUS_MARK = {"ok": "●", "warning": "▲", "failing": "✖"}
ALERT_ROWS = 4  # the alerts box's rows (app.tcss #alerts max-height, less its border)
ALERTS_CUT = Text(" ! shows all", style="bold")  # after the ellipsis of a cut alerts box: where the rest is
CARD_MORE = re.compile(r" \(\+\d+ more, see alerts\)$")  # kept when a card's first line is cut


def alerts_text(health: list[Health], waiting: Sequence[str] = (),
                unreachable: Mapping[str, str] | None = None, general: Sequence[Problem] = ()) -> Text:
    """``waiting``: databases not judged yet, their newest backups' manifests still being read from the bucket.
    ``unreachable``: a repository that could not be listed, and why: first, since every card is judged without
    its backups (a database kept only in the bucket reads "no valid backup", the others "local only").
    ``general``: the health check's problems about the repository rather than one database (a swap of a database
    no longer configured killed mid-way), which no card shows: next, in the engine's words."""
    text = Text()
    for name, why in sorted((unreachable or {}).items()):
        text.append(f"✖ {name} not read, its backups not counted below: {why}", style="bold red")
        text.append("\n")
    # The bucket out of reach is the check's problem too: said above, in the words of the listing that met it.
    said = sorted((p for p in general if p.rule != "unreachable"), key=lambda p: p.severity != "critical")
    for problem in said:
        status = "failing" if problem.severity == "critical" else "warning"
        text.append(f"{STATUS_MARK[status]} repository: ", style=STATUS_STYLE[status])
        text.append(problem.message)
        text.append("\n")
    problems = [h for h in health if h.status != "ok"]
    if unreachable and not said and not waiting and not problems:
        text.append("✓ All databases healthy on the copies read", style="bold green")
        return text
    if waiting:
        text.append(f"… reading manifests from S3: {', '.join(sorted(waiting))} judged once read", style="dim")
        if not problems and not said:
            return text
        text.append("\n")
    if not problems and not said:
        text.append("✓ All databases healthy", style="bold green")
        return text
    for i, item in enumerate(sorted(problems, key=lambda h: h.status != "failing")):
        if i:
            text.append("\n")
        text.append(f"{STATUS_MARK[item.status]} {item.database}: ", style=STATUS_STYLE[item.status])
        text.append(item.reason)
    text.rstrip()
    text.append("  ! what to do", style="dim")
    return text


def in_card(reason: str, database: str) -> str:
    """``reason`` with its backups named as the card's other lines name them, without the database the card is
    about: at 80 columns a cut line kept "verification of pagila-20261206T091…" and lost which backup it was."""
    return re.sub(rf"\b{re.escape(database)}-(?=\d{{8}}T\d{{6}}Z)", "", reason)


def card_text(item: Health, now: datetime, tz: tzinfo | None, busy: bool,
              kept: Sequence[KeptCopy] = (), s3: bool = False) -> Text:
    """Four short lines, readable at 80 columns: health, last backup, verification, size trend; and a fifth
    while a replace's previous database is kept aside on the server (it holds a database's worth of space)."""
    text = Text()
    text.append(f"{STATUS_MARK[item.status]} {item.status.upper()}", style=STATUS_STYLE[item.status])
    first = in_card(item.reasons[0] if item.reasons else item.reason, item.database)
    more = len(item.reasons) - 1
    text.append(f"  {first}" + (f" (+{more} more, see alerts)" if more > 0 else ""))
    if busy:
        text.append("  (job running)", style="italic cyan")
    text.append("\n")
    last = item.last_backup
    if last is None:
        text.append("last backup: none", style="dim")
    else:
        text.append("last backup ")
        text.append(fmt.ago(last.created, now), style="bold")
        if last.is_safety:  # the note takes the place of size, duration and locations: one line at 80 columns
            text.append(f" ({safety_note(last, item.database)})", style="yellow")
        else:
            text.append(f" · {fmt.human_bytes(last.stored_bytes)} · took {fmt.duration(last.duration_s)}"
                        f" · {fmt.copies(item.locations, s3)}")
    text.append("\n")
    text.append_text(verified_text(item, now))
    text.append("\nsize trend ")
    text.append_text(trend_text(item.sizes, item.anomalies))
    if item.anomalies:
        text.append(f" {len(item.anomalies)} anomal{'y' if len(item.anomalies) == 1 else 'ies'}", style="red")
    if kept:
        text.append("\n")
        text.append_text(kept_text(kept, now))
    return text


def fit_card(text: Text, width: int) -> Text:
    """A card's lines one row each at ``width``: a line that wrapped made the card taller than the room the
    dashboard has for it at 80x24; cut, it ends with an ellipsis (the alerts and Enter show the rest)."""
    if width <= 0:
        return text
    return Text("\n").join(fit_line(line, width, CARD_MORE) for line in text.split("\n", allow_blank=True))


class AlertsBox(Static):
    """The alerts, at most ALERT_ROWS rows at its width: when they need more, the last row shown ends with an
    ellipsis and where to read them all (the Problems screen, ``!``), never cut silently by the box's edge."""

    def __init__(self, content: str, id: str | None = None) -> None:
        super().__init__(content, id=id)
        self._full = Text(content)
        self._fitted: tuple[int, Text] | None = None
        self.max_rows = ALERT_ROWS  # fewer where the cards under it would not fit whole (DashboardView)
        self.rows = 1  # shown now

    def limit(self, rows: int) -> None:
        rows = max(1, min(ALERT_ROWS, rows))
        if rows != self.max_rows:
            self.max_rows = rows
            self._fit()

    def show(self, text: Text) -> None:
        self._full = text
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        width = self.content_region.width
        if width <= 0:
            return
        rows = self._full.wrap(self.app.console, width)
        for row in rows:
            row.rstrip()  # the space a wrap leaves at a row's end
        shown = fit_rows(list(rows), width, self.max_rows, ALERTS_CUT)
        self.rows = len(shown)
        fitted = Text("\n").join(shown)
        if self._fitted != (width, fitted):
            self._fitted = (width, fitted)
            self.update(fitted)


def kept_text(kept: Sequence[KeptCopy], now: datetime) -> Text:
    """'kept: app__pre_restore_20250314093000 (3 days, 1.2 GB) +1 more (ctrl+p: drop)'."""
    newest = kept[0]
    size = fmt.human_bytes(newest.size_bytes) if newest.size_bytes >= 0 else "size ?"
    text = Text("kept: ", style="yellow")
    text.append(newest.name, style="bold")
    text.append(f" ({fmt.ago(newest.since, now)}, {size})")
    if len(kept) > 1:
        text.append(f" +{len(kept) - 1} more")
    text.append(" ctrl+p: drop", style="dim")
    return text


def safety_note(record: BackupRecord, database: str) -> str:
    """'safety, before restoring 20250310T020000Z': the newest backup is the state a restore replaced, not a
    scheduled one. The card is titled with the database, so the id loses its "<database>-" prefix."""
    restored = record.safety_for.removeprefix(f"{database}-")
    return f"safety, before restoring {restored}" if restored else "safety"


def _verification_style(verification: Verification) -> str:
    return "green" if verification.ok else "red"


def verified_text(item: Health, now: datetime) -> Text:
    """Which backup the verification is about: the newest one's own, else the latest of any, named."""
    text = Text()
    newest = item.last_backup
    own = newest.last_verification if newest is not None else None
    if own is not None:
        text.append("verified ")
        text.append(fmt.verification_text(own, now), style=_verification_style(own))
        latest = item.last_verification
        older_failed = newest is not None and item.last_verified_id not in (None, newest.id)
        if latest is not None and not latest.ok and older_failed:
            # The card is failing for an older backup: say which, or "FAILING" reads as about the newest.
            other = (item.last_verified_id or "?").removeprefix(f"{item.database}-")
            text.append(" (newest); ")
            text.append(f"{other} ✗ failed", style="red")  # "failed its check" was cut at 80 columns
        else:
            text.append(" (newest backup)")
        return text
    if newest is None:
        text.append("verified never", style="yellow")
        return text
    latest = item.last_verification
    if latest is None:
        text.append("newest backup never verified", style="yellow")
        return text
    # The card is titled with the database: the id's "<database>-" prefix would only push it past 80 columns.
    other = (item.last_verified_id or "?").removeprefix(f"{item.database}-")
    text.append("newest never verified", style="yellow")
    text.append("; last ")
    text.append(fmt.verification_text(latest, now), style=_verification_style(latest))
    text.append(f" of {other}")
    return text


class DatabaseCard(Static, can_focus=True):
    """One database. Enter opens its backups; b backs it up; r restores its newest good backup."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Its backups"),
        Binding("r", "restore", "Restore"),
        Binding("down", "move(1)", "Next card", show=False),
        Binding("up", "move(-1)", "Previous card", show=False),
    ]

    class Opened(Message):
        def __init__(self, database: str) -> None:
            super().__init__()
            self.database = database

    class RestoreAsked(Message):
        def __init__(self, database: str) -> None:
            super().__init__()
            self.database = database

    def __init__(self, database: str) -> None:
        super().__init__(classes="card")
        self.database = database
        self.border_title = database
        self._shown: tuple[str, Text] | None = None
        self._fitted: Text | None = None  # what the card shows: its text fitted to its width

    def show(self, item: Health, now: datetime, tz: tzinfo | None, busy: bool, kept: Sequence[KeptCopy] = (),
             s3: bool = False) -> None:
        """Only when it reads differently: most catalog refreshes change nothing here. ``s3``: a bucket is
        configured, so the card says whether the newest backup is on disk, in the bucket or both."""
        shown = (item.status, card_text(item, now, tz, busy, kept, s3))
        if shown != self._shown:
            self._shown = shown
            self.set_classes(f"card -{item.status}")
            self._fit()

    def on_resize(self) -> None:
        self._fit()
        self.post_message(CardsScroll.Measured())  # taller or shorter (a "kept:" line): the alerts make room

    def _fit(self) -> None:
        """The card's text, each line in one row of its width (see fit_card); before its first layout, whole."""
        if self._shown is None:
            return
        fitted = fit_card(self._shown[1], self.content_region.width)
        if fitted != self._fitted:
            self._fitted = fitted
            self.update(fitted)

    def action_open(self) -> None:
        self.post_message(self.Opened(self.database))

    def action_move(self, step: int) -> None:
        """Arrows go from card to card, as tab does: the keys that follow act on the card one sees selected."""
        cards = list(self.screen.query(DatabaseCard))
        index = min(max(cards.index(self) + step, 0), len(cards) - 1)
        cards[index].focus()

    def action_restore(self) -> None:
        self.post_message(self.RestoreAsked(self.database))


class CardsScroll(VerticalScroll):
    """The cards. Laid out anew (a "kept:" line came or went, the terminal was resized), it tells the dashboard,
    whose alerts then make room for them or take it back (``DashboardView._keep_cards_whole``)."""

    class Measured(Message):
        """The cards' height, or the room for them, changed."""

    def on_resize(self) -> None:
        self.post_message(self.Measured())


class DashboardView(Widget):
    """Alerts, then the cards; updated by the app after every catalog refresh."""

    def __init__(self, databases: list[str], id: str | None = None, s3: bool = False) -> None:
        super().__init__(id=id)
        self.databases = databases
        self.s3 = s3  # a bucket is configured
        self._alerts: Text | None = None
        self._outlook: Text | None = None
        self.kept: dict[str, list[KeptCopy]] = {}
        self._last: tuple[list[Health], datetime, tzinfo | None, set[str], frozenset[str],
                          Mapping[str, str] | None, Sequence[Problem]] | None = None

    def compose(self) -> ComposeResult:
        yield AlertsBox("Loading the catalog…", id="alerts")
        with CardsScroll(id="cards"):
            for name in self.databases:
                yield DatabaseCard(name)
            if not self.databases:
                yield Static("No database configured: add [[databases]] to the config file "
                             "or set BACKUP_DB_NAME.", classes="card")
        yield Static("", id="outlook")

    def show_outlook(self, text: Text) -> None:
        """The next scheduled runs and where notices go (widgets.outlook), under the cards."""
        outlook = self.query_one("#outlook", Static)
        if text != self._outlook:
            self._outlook = text
            outlook.update(text)

    def show_kept(self, kept: dict[str, list[KeptCopy]]) -> None:
        """The kept copies found on the servers (a separate, slower look than the catalog's)."""
        self.kept = kept
        if self._last is not None:
            self.show(*self._last)

    def show(self, health: list[Health], now: datetime, tz: tzinfo | None, busy: set[str],
             waiting: frozenset[str] = frozenset(), unreachable: Mapping[str, str] | None = None,
             general: Sequence[Problem] = ()) -> None:
        self._last = (health, now, tz, busy, waiting, unreachable, general)
        alerts = self.query_one("#alerts", AlertsBox)
        text = alerts_text(health, tuple(waiting), unreachable, general)
        if text != self._alerts:
            self._alerts = text
            alerts.show(text)
        failing = bool(unreachable) or any(h.status == "failing" for h in health) \
            or any(p.severity == "critical" for p in general)
        alerts.set_class(failing, "-failing")
        alerts.set_class(not failing and (any(h.status == "warning" for h in health) or bool(general)), "-warning")
        by_name = {h.database: h for h in health}
        for card in self.query(DatabaseCard):
            if card.database in by_name:
                card.show(by_name[card.database], now, tz, card.database in busy, self.kept.get(card.database, ()),
                          self.s3)

    @on(CardsScroll.Measured)
    def _keep_cards_whole(self) -> None:
        """The alerts give up rows (to one, which ends with where to read them all) while the cards would not
        fit whole under them, and take them back when there is room: at 80x24 a card's "kept:" line pushed the
        last card's border off the screen behind a scrollbar."""
        cards = self.query_one("#cards", VerticalScroll)
        alerts = self.query_one("#alerts", AlertsBox)
        needed = sum(card.outer_size.height + card.styles.margin.top + card.styles.margin.bottom
                     for card in cards.children if card.display)
        over = needed - cards.size.height  # rows of cards out of sight (negative: room to spare)
        # From the rows the alerts have in this same layout, not the ones last asked for: a second measure before
        # the layout caught up took them off twice, then gave them back twice, and round again without end.
        if cards.size.height and (over > 0 or alerts.max_rows < ALERT_ROWS):
            alerts.limit(alerts.content_region.height - over)

    def focused_database(self) -> str | None:
        focused = self.screen.focused
        return focused.database if isinstance(focused, DatabaseCard) else None
