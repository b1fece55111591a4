"""Running and recent jobs, with progress and cancel; under them the activity log, filterable.

Enter on a job filters the log to that job and shows its outcome and steps in a notification (a restore
job reopens its own screen: progress, or the result with row counts and rollback);
``/`` filters the log by text, enter keeps the filter, escape clears it and returns to the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.widget import Widget
from textual.widgets import DataTable, Input, RichLog

from backup_tui.tui import format as fmt
from backup_tui.tui.jobs import Job, LogEntry
from backup_tui.tui.widgets.hanging import Hanging
from backup_tui.tui.widgets.reflow_log import ReflowLog
from backup_tui.tui.widgets.row_table import RowTable

STATE_STYLE = {"running": "bold cyan", "done": "green", "failed": "bold red", "cancelled": "yellow"}
LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}
# Fixed widths where a cell changes in place: a row updated as it runs is not measured again. What and Step
# share the rest of the table's width (``shared_widths``): at 80 columns the step is read whole, not scrolled to.
COLUMNS = (("id", "#", None), ("state", "State", 9), ("title", "What", 0), ("progress", "Progress", 13),
           ("elapsed", "Time", 10), ("step", "Step", 0))
TITLE_WIDTH = 30  # the most the title takes: its kind and the backup's id (the log has it whole)
TITLE_MIN = 14  # "backup inventory"'s first words, on the narrowest table
STEP_MIN = 16  # every step's name ("safety backup") whole, and a short outcome
# Beside What and Step: "#" (two digits), State, Progress and Time, a cell's padding (one each side) on all six
# columns, and the vertical scrollbar once the jobs outgrow the table.
OTHER_WIDTHS = 2 + 9 + 13 + 10 + 6 * 2 + 2
BAR_WIDTH = 8
LOG_TIME, LOG_SOURCE = 9, 10  # a log line's "HH:MM:SS " and its source's column
JOB_SOURCE = re.compile(r"^(backup|verify|restore|upload) #\d+$")


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def shared_widths(table_width: int) -> tuple[int, int]:
    """What and Step's widths on a table ``table_width`` wide: the step never fewer than STEP_MIN, the title
    what is left up to TITLE_WIDTH, and the step the rest."""
    room = table_width - OTHER_WIDTHS
    title = max(TITLE_MIN, min(TITLE_WIDTH, room - STEP_MIN))
    return title, max(STEP_MIN, room - title)


def job_source(job: Job) -> str:
    """The activity log's source column for ``job``'s lines; as a filter it shows only that job."""
    return f"{job.kind} #{job.id}"


def job_details(job: Job) -> str:
    """Outcome and steps of one job, for the notification enter shows."""
    lines = [f"{job.state}: {job.message}" if job.message else job.state]
    marks = {"ok": "✓", "failed": "✗", "running": "›", "stopped": "■"}
    lines += [f"{marks[step.state]} {step.name}" + (f"  {step.detail}" if step.detail else "") for step in job.steps]
    return "\n".join(lines)


def progress_text(job: Job, now: datetime, width: int = BAR_WIDTH) -> Text:
    """A text bar for tables; bytes only when the total is unknown. A restore with an estimate goes by it, as
    its own page does: one bar over every phase of a replace, not each phase's bytes from 0 again."""
    bar = job.bar(now)
    if bar is not None:
        done, planned = bar
        share = min(1.0, done / planned)
        filled = round(share * width)
        return Text("█" * filled + "░" * (width - filled) + f" {share:4.0%}")
    if job.bytes_done:
        return Text(fmt.human_bytes(job.bytes_done))
    return Text("")


def log_line(entry: LogEntry, tz: tzinfo | None) -> Text:
    text = Text(entry.at.astimezone(tz).strftime("%H:%M:%S "), style="dim")
    text.append(f"{entry.source:<{LOG_SOURCE}} ", style="cyan")
    text.append(entry.message, style=LEVEL_STYLE.get(entry.level, ""))
    return text


def log_entry(entry: LogEntry, tz: tzinfo | None) -> Hanging:
    """``log_line`` for a log: wrapped, its message continues under itself, so the times and sources stay a
    column one reads down (a wrapped path or session list no longer starts under the time)."""
    return Hanging([(LOG_TIME + max(LOG_SOURCE, len(entry.source)) + 1, log_line(entry, tz))])


class JobsView(Widget):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel_job", "Cancel job"),
        Binding("slash", "filter", "Filter log"),
    ]

    class CancelRequested(Message):
        def __init__(self, job_id: int) -> None:
            super().__init__()
            self.job_id = job_id

    class Reopen(Message):
        """Enter on a restore job: its screen again, live progress or the result (row counts, rollback)."""

        def __init__(self, job_id: int) -> None:
            super().__init__()
            self.job_id = job_id

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.jobs: list[Job] = []
        self.entries: list[LogEntry] = []
        self.needle = ""
        self.tz: tzinfo | None = None
        self._now: datetime | None = None  # of the last show_jobs: a resize makes its rows again
        self._widths = shared_widths(0)  # What and Step's, for the table's width when its columns were made

    def compose(self) -> ComposeResult:
        table: DataTable[str | Text] = RowTable(id="jobs-table", cursor_type="row")
        yield table
        yield Input(placeholder="filter the log…  (enter keeps it, esc clears)", id="log-filter")
        # Wrapped, again after a resize: at 80 columns a line naming a table, a session or a path is read whole.
        yield ReflowLog(id="activity", markup=False, max_lines=2000)

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        table = self.query_one("#jobs-table", DataTable)
        self._widths = title, step = shared_widths(self.size.width)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width={"title": title, "step": step}.get(key, width))

    def on_resize(self) -> None:
        """Another width shares What and Step again: the rows are made anew, their cells clipped to fit."""
        if shared_widths(self.size.width) == self._widths:
            return
        if self._now is None:
            self.query_one("#jobs-table", DataTable).clear(columns=True)
            self._add_columns()
        else:
            self.show_jobs(self.jobs, self._now, rebuild=True)

    @property
    def selected(self) -> Job | None:
        table = self.query_one("#jobs-table", DataTable)
        if 0 <= table.cursor_row < len(self.jobs):
            return self.jobs[table.cursor_row]
        return None

    def show_jobs(self, jobs: Iterable[Job], now: datetime, rebuild: bool = False) -> None:
        """Newest first; keyed rows updated in place. A new job is selected and scrolled into view."""
        table: DataTable[str | Text] = self.query_one("#jobs-table", DataTable)
        ordered = sorted(jobs, key=lambda j: j.id, reverse=True)
        keep = self.selected.id if self.selected else None
        self._now = now
        if rebuild or [j.id for j in ordered] != [j.id for j in self.jobs]:
            newest = max((j.id for j in self.jobs), default=0)
            table.clear(columns=True)
            self._add_columns()
            for job in ordered:
                table.add_row(*self._cells(job, now, self._widths), key=str(job.id))
            if ordered and ordered[0].id > newest:
                table.move_cursor(row=0, animate=False)
                table.scroll_home(animate=False)
                if JOB_SOURCE.match(self.needle):  # the log was showing one older job: the new one's lines too
                    self._set_filter("")
            elif keep is not None:
                table.move_cursor(row=next((i for i, j in enumerate(ordered) if j.id == keep), 0))
        else:
            for job in ordered:
                for (key, _, width), value in zip(COLUMNS, self._cells(job, now, self._widths), strict=True):
                    table.update_cell(str(job.id), key, value, update_width=width is None)
        self.jobs = ordered
        self.screen.refresh_bindings()

    @staticmethod
    def _cells(job: Job, now: datetime, widths: tuple[int, int]) -> list[str | Text]:
        message = job.current_step if job.running else job.message
        title, step = widths
        return [str(job.id), Text(job.state, style=STATE_STYLE[job.state]), clip(job.title, title),
                progress_text(job, now), fmt.duration(job.elapsed_seconds(now)), clip(message, step)]

    def add_entries(self, entries: Iterable[LogEntry]) -> None:
        log = self.query_one("#activity", RichLog)
        for entry in entries:
            self.entries.append(entry)
            if self._matches(entry):
                log.write(log_entry(entry, self.tz))

    def _matches(self, entry: LogEntry) -> bool:
        if not self.needle:
            return True
        if JOB_SOURCE.match(self.needle):  # one job: "backup #3" must not also show "backup #30"
            return entry.source == self.needle
        return self.needle.lower() in f"{entry.level} {entry.source} {entry.message}".lower()

    def _set_filter(self, value: str) -> None:
        """Now, not when the box's Changed message arrives: log lines added meanwhile must not be lost."""
        box = self.query_one("#log-filter", Input)
        with box.prevent(Input.Changed):
            box.value = value
        self._apply_filter(value)

    @on(Input.Changed, "#log-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._apply_filter(event.value)

    def _apply_filter(self, value: str) -> None:
        self.needle = value.strip()
        log = self.query_one("#activity", RichLog)
        log.clear()
        for entry in self.entries[-2000:]:
            if self._matches(entry):
                log.write(log_entry(entry, self.tz))

    @on(Input.Submitted, "#log-filter")
    def _filter_submitted(self) -> None:
        """Enter keeps the filter and goes back to the jobs, so 1, b, q are keys again."""
        self.query_one("#jobs-table", DataTable).focus()

    def on_key(self, event: events.Key) -> None:
        """Escape in the filter box clears the filter and goes back to the jobs (as on the Backups tab)."""
        box = self.query_one("#log-filter", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            event.prevent_default()
            self._set_filter("")
            self.query_one("#jobs-table", DataTable).focus()

    @on(DataTable.RowSelected, "#jobs-table")
    def _job_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a job: the log shows only that job's lines; a restore's screen opens again, another job's
        outcome and steps show in a notification."""
        job = next((j for j in self.jobs if str(j.id) == event.row_key.value), None)
        if job is None:
            return
        self._set_filter(job_source(job))
        if job.kind == "restore":
            self.post_message(self.Reopen(job.id))
            return
        severity: SeverityLevel = "error" if job.state == "failed" else \
            "warning" if job.state == "cancelled" else "information"
        self.app.notify(job_details(job), title=f"#{job.id} {job.title}", severity=severity, timeout=10)

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
