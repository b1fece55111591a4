"""The main screen: dashboard, backups and jobs as tabs under one footer."""

from __future__ import annotations

import time

from textual import events
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, TabbedContent, TabPane

from backup_tui.tui.widgets.backups import NARROW_FOOTER, WIDE, BackupsView
from backup_tui.tui.widgets.dashboard import DashboardView, DatabaseCard
from backup_tui.tui.widgets.footer import QuietFooter
from backup_tui.tui.widgets.jobs import JobsView

STARTUP_HOLD_S = 10.0  # the longest keys typed at launch wait for the dashboard


class MainScreen(Screen[None]):
    class Ready(Message):
        """Composed and mounted: the app may fill it now."""

    def __init__(self, databases: list[str], s3: bool = False) -> None:
        super().__init__()
        self.databases = databases
        self.s3 = s3
        self._started = False
        self._created = time.monotonic()

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="tabs", initial="dashboard"):
            with TabPane("1 Dashboard", id="dashboard"):
                yield DashboardView(self.databases, id="dashboard-view", s3=self.s3)
            with TabPane("2 Backups", id="backups"):
                yield BackupsView(id="backups-view")
            with TabPane("3 Jobs & log", id="jobs"):
                yield JobsView(id="jobs-view")
        yield QuietFooter()

    @property
    def taking_keys(self) -> bool:
        """Not before the first catalog read and a card in focus (at first the tab bar has it): r typed at once
        would be lost, and the enters after it would open the card's backups. Keys typed meanwhile wait (see the
        app's on_event)."""
        if not self._started:  # once: later the focus may be anywhere the operator put it
            carded = isinstance(self.focused, DatabaseCard) or not self.query(DatabaseCard)
            late = time.monotonic() - self._created > STARTUP_HOLD_S  # whatever kept it: keys must not wait on
            self._started = late or (carded and bool(getattr(self.app, "catalog_read", True)))
        return self._started

    @property
    def dashboard(self) -> DashboardView:
        return self.query_one(DashboardView)

    @property
    def backups(self) -> BackupsView:
        return self.query_one(BackupsView)

    @property
    def jobs(self) -> JobsView:
        return self.query_one(JobsView)

    def show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self.focus_tab_content(tab)

    def focus_tab_content(self, tab: str) -> None:
        """Focus the main widget of ``tab`` unless focus is already inside it, or another tab won meanwhile.

        At once, not after a refresh as ``focus()`` does: a card left focused on the pane being hidden hands
        its focus to the card beside it when the Hide lands, and the tabs follow the focus back to the
        dashboard (3 at a restore's result could show the dashboard, not the Jobs tab)."""
        tabs = self.query_one(TabbedContent)
        if tabs.active != tab:
            return
        pane = tabs.get_pane(tab)
        if self.focused is not None and pane in self.focused.ancestors:
            return
        if tab == "backups":
            self.set_focus(self.backups.table)
        elif tab == "jobs":
            self.set_focus(self.query_one("#jobs-table", DataTable))
        else:
            cards = self.dashboard.query(".card")
            if cards:
                self.set_focus(cards.first())

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            self.call_after_refresh(self.focus_tab_content, event.pane.id)
        self.refresh_bindings()

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width)
        self.backups.relayout()

    def on_mount(self) -> None:
        self._fit(self.size.width)
        self.post_message(self.Ready())

    def _fit(self, width: int) -> None:
        """Detail pane beside the table when wide; a compact footer when narrow, so Help and Quit stay on it
        (ctrl+p is in the help)."""
        self.set_class(width >= WIDE, "-wide")
        footer = self.query_one(Footer)
        footer.compact = width < NARROW_FOOTER
        footer.show_command_palette = width >= NARROW_FOOTER
        self.refresh_bindings()
