"""Running and recent jobs, with progress and cancel; under them the activity log, filterable."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, RichLog

from backup_tui.tui import format as fmt
from backup_tui.tui.jobs import Job, LogEntry

STATE_STYLE = {"running": "bold cyan", "done": "green", "failed": "bold red", "cancelled": "yellow"}
LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}


def progress_text(job: Job, width: int = 12) -> Text:
    """A text bar for tables; bytes only when the total is unknown."""
    if job.bytes_total:
        share = min(1.0, job.bytes_done / job.bytes_total)
        filled = round(share * width)
        return Text("█" * filled + "░" * (width - filled) + f" {share:4.0%}")
    if job.bytes_done:
        return Text(fmt.human_bytes(job.bytes_done))
    return Text("")


def log_line(entry: LogEntry, tz: tzinfo | None) -> Text:
    text = Text(entry.at.astimezone(tz).strftime("%H:%M:%S "), style="dim")
    text.append(f"{entry.source:<10} ", style="cyan")
    text.append(entry.message, style=LEVEL_STYLE.get(entry.level, ""))
    return text


class JobsView(Widget):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel_job", "Cancel job"),
        Binding("slash", "filter", "Filter log"),
    ]

    class CancelRequested(Message):
        def __init__(self, job_id: int) -> None:
            super().__init__()
            self.job_id = job_id

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.jobs: list[Job] = []
        self.entries: list[LogEntry] = []
        self.needle = ""
        self.tz: tzinfo | None = None

    def compose(self) -> ComposeResult:
        table: DataTable[str | Text] = DataTable(id="jobs-table", cursor_type="row")
        yield table
        yield Input(placeholder="filter the log…", id="log-filter")
        yield RichLog(id="activity", wrap=False, markup=False, max_lines=2000)

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        table = self.query_one("#jobs-table", DataTable)
        for key, label in (("id", "#"), ("kind", "Job"), ("title", "What"), ("state", "State"),
                           ("step", "Step"), ("progress", "Progress"), ("elapsed", "Time")):
            table.add_column(label, key=key)

    @property
    def selected(self) -> Job | None:
        table = self.query_one("#jobs-table", DataTable)
        if 0 <= table.cursor_row < len(self.jobs):
            return self.jobs[table.cursor_row]
        return None

    def show_jobs(self, jobs: Iterable[Job], now: datetime) -> None:
        """Newest first; keyed rows updated in place."""
        table: DataTable[str | Text] = self.query_one("#jobs-table", DataTable)
        ordered = sorted(jobs, key=lambda j: j.id, reverse=True)
        keep = self.selected.id if self.selected else None
        if [j.id for j in ordered] != [j.id for j in self.jobs]:
            table.clear(columns=True)
            self._add_columns()
            for job in ordered:
                table.add_row(*self._cells(job, now), key=str(job.id))
            if keep is not None:
                table.move_cursor(row=next((i for i, j in enumerate(ordered) if j.id == keep), 0))
        else:
            for job in ordered:
                for key, value in zip(("id", "kind", "title", "state", "step", "progress", "elapsed"),
                                      self._cells(job, now), strict=True):
                    table.update_cell(str(job.id), key, value, update_width=key in ("step", "progress"))
        self.jobs = ordered
        self.screen.refresh_bindings()

    @staticmethod
    def _cells(job: Job, now: datetime) -> list[str | Text]:
        message = job.current_step if job.running else job.message
        if len(message) > 48:
            message = message[:47] + "…"
        return [str(job.id), job.kind, job.title, Text(job.state, style=STATE_STYLE[job.state]),
                message, progress_text(job), fmt.duration(job.elapsed_seconds(now))]

    def add_entries(self, entries: Iterable[LogEntry]) -> None:
        log = self.query_one("#activity", RichLog)
        for entry in entries:
            self.entries.append(entry)
            if self._matches(entry):
                log.write(log_line(entry, self.tz))

    def _matches(self, entry: LogEntry) -> bool:
        if not self.needle:
            return True
        return self.needle.lower() in f"{entry.level} {entry.source} {entry.message}".lower()

    @on(Input.Changed, "#log-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.needle = event.value.strip()
        log = self.query_one("#activity", RichLog)
        log.clear()
        for entry in self.entries[-2000:]:
            if self._matches(entry):
                log.write(log_line(entry, self.tz))

    def action_filter(self) -> None:
        self.query_one("#log-filter", Input).focus()

    def action_cancel_job(self) -> None:
        job = self.selected
        if job is not None and job.running:
            self.post_message(self.CancelRequested(job.id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_job":
            job = self.selected
            return True if job is not None and job.running and not job.cancel.cancelled else None
        return True
