"""The catalog as a table: filter as you type, sort by column, a detail pane for the selected backup."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from backup_tui.engine.models import BackupRecord
from backup_tui.tui import format as fmt

ROW_SLICE = 60  # rows added per event-loop turn; DataTable measures every new cell


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sort_key: Callable[[BackupRecord], Any]


COLUMNS = (
    Column("created", "Created", lambda r: (r.created_at, r.id)),
    Column("age", "Age", lambda r: (r.created_at, r.id)),
    Column("database", "Database", lambda r: (r.database, r.created_at)),
    Column("size", "Size", lambda r: r.stored_bytes),
    Column("ratio", "Ratio", lambda r: r.ratio or 0.0),
    Column("took", "Took", lambda r: r.duration_s),
    Column("verified", "Verified", lambda r: r.last_verification.at if r.last_verification else ""),
    Column("where", "Where", lambda r: ",".join(r.locations)),
    Column("pin", "Pin", lambda r: r.pinned),
    Column("id", "ID", lambda r: r.id),
)


def row_cells(record: BackupRecord, now: datetime, tz: tzinfo | None) -> list[str | Text]:
    verified = record.last_verification
    verified_cell = Text(fmt.verification_text(verified, now),
                         style="green" if verified and verified.ok else "red" if verified else "dim")
    status = "" if record.status == "valid" else f" ({record.status})"
    return [
        fmt.local_time(record.created, tz),
        fmt.ago(record.created, now),
        record.database,
        Text(fmt.human_bytes(record.stored_bytes), justify="right"),
        Text(fmt.ratio(record.ratio), justify="right"),
        Text(fmt.duration(record.duration_s), justify="right"),
        verified_cell,
        ", ".join(record.locations),
        "📌" if record.pinned else "",
        Text(record.id + status, style="red" if record.status in ("incomplete", "damaged") else ""),
    ]


def matches(record: BackupRecord, needle: str) -> bool:
    if not needle:
        return True
    last = record.last_verification
    haystack = " ".join([record.id, record.database, record.status, record.reason, *record.locations,
                         "pinned" if record.pinned else "",
                         ("verified ok" if last.ok else "verify failed") if last else "unverified"]).lower()
    return all(word in haystack for word in needle.lower().split())


def detail_text(record: BackupRecord, now: datetime, tz: tzinfo | None) -> Text:
    """Manifest, per-table row counts and verification history of one backup."""
    text = Text()
    text.append(record.id, style="bold")
    text.append(f"  {record.status}", style="green" if record.is_valid else "bold red")
    if record.pinned:
        text.append("  pinned", style="bold yellow")
    text.append(f"\ndatabase {record.database} · server {record.server_version or '?'} · "
                f"{record.format}/{record.compression}")
    if record.compression_level:
        text.append(f"-{record.compression_level}")
    text.append(f"\ncreated {fmt.local_time(record.created, tz)} ({fmt.ago(record.created, now)}) · "
                f"took {fmt.duration(record.duration_s)} · reason {record.reason}")
    text.append(f"\nsize {fmt.human_bytes(record.stored_bytes)} stored, {fmt.human_bytes(record.raw_bytes)} raw "
                f"({fmt.ratio(record.ratio)})")
    if record.sha256:
        text.append(f"\nsha256 {record.sha256[:16]}…")
    text.append(f"\nlocations {', '.join(record.locations)}")
    for tool, version in sorted(record.tool_versions.items()):
        text.append(f"\n{tool} {version}", style="dim")
    text.append(f"\n\nVerification history ({len(record.verifications)})", style="bold underline")
    if not record.verifications:
        text.append("\n  never verified: press v", style="dim")
    for item in reversed(record.verifications):
        mark, style = ("✓", "green") if item.ok else ("✗", "red")
        text.append(f"\n  {mark} ", style=style)
        text.append(f"{item.at.replace('T', ' ').rstrip('Z')} UTC {item.level} ({fmt.duration(item.duration_s)})")
        for problem in item.problems[:3]:
            text.append(f"\n      {problem}", style="red")
    text.append(f"\n\nRow counts ({len(record.row_counts)} tables)", style="bold underline")
    width = max((len(name) for name in record.row_counts), default=0)
    for name, count in sorted(record.row_counts.items()):
        text.append(f"\n  {name:<{width}} {count:>10,}")
    return text


class BackupsView(Widget):
    """Owns the table's order and filter; actions are posted to the app as ``ActionRequested``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("v", "request('verify')", "Verify"),
        Binding("r", "request('restore')", "Restore"),
        Binding("u", "request('upload')", "Upload"),
        Binding("p", "request('pin')", "Pin"),
        Binding("d", "request('delete')", "Delete"),
    ]

    class ActionRequested(Message):
        def __init__(self, action: str, record: BackupRecord) -> None:
            super().__init__()
            self.action = action
            self.record = record

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.records: list[BackupRecord] = []
        self.shown: list[BackupRecord] = []
        self.needle = ""
        self.sort_column = 0
        self.sort_reverse = True
        self.now: datetime | None = None
        self.tz: tzinfo | None = None
        self._signature: tuple[Any, ...] = ()
        self._generation = 0

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: id, database, status, pinned, unverified…  (esc clears)", id="filter")
        with Container(id="backups-body"):
            table: DataTable[str | Text] = DataTable(id="backup-table", cursor_type="row", zebra_stripes=True)
            yield table
            with VerticalScroll(id="detail-pane"):
                yield Static("No backup selected", id="detail")

    def on_mount(self) -> None:
        table = self.table
        for column in COLUMNS:
            table.add_column(column.label, key=column.key)
        self._label_columns()

    @property
    def table(self) -> DataTable[str | Text]:
        return self.query_one("#backup-table", DataTable)

    @property
    def selected(self) -> BackupRecord | None:
        table = self.table
        if not self.shown or table.cursor_row < 0 or table.cursor_row >= len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def show(self, records: list[BackupRecord], now: datetime, tz: tzinfo | None) -> None:
        self.records, self.now, self.tz = records, now, tz
        self._populate()

    def filter_to(self, needle: str) -> None:
        """Set the filter text from outside (e.g. a dashboard card opened)."""
        box = self.query_one("#filter", Input)
        box.value = needle
        box.display = bool(needle)
        self.needle = needle
        self._populate()

    def _populate(self, force: bool = False) -> None:
        if self.now is None:
            return
        column = COLUMNS[self.sort_column]
        visible = sorted((r for r in self.records if matches(r, self.needle)), key=column.sort_key,
                         reverse=self.sort_reverse)
        signature = (self.now, self.needle, self.sort_column, self.sort_reverse,
                     tuple((r.id, r.pinned, r.locations, len(r.verifications), r.status) for r in visible))
        if signature == self._signature and not force:
            return
        self._signature = signature
        keep = self.selected.id if self.selected else None
        self.shown = visible
        self.table.clear()
        self._generation += 1
        self._add_rows(self._generation, 0, keep)

    def _add_rows(self, generation: int, start: int, keep: str | None) -> None:
        """Rows in slices, a timer tick apart: 5,000 backups never freeze the screen while they load."""
        if generation != self._generation or self.now is None:
            return  # a newer refresh or filter replaced this one
        table, now, tz = self.table, self.now, self.tz
        end = min(len(self.shown), start + ROW_SLICE)
        for record in self.shown[start:end]:
            table.add_row(*row_cells(record, now, tz), key=record.id)
        if keep is not None:
            index = next((i for i, r in enumerate(self.shown[start:end], start) if r.id == keep), None)
            if index is not None:
                table.move_cursor(row=index, animate=False)
        if end < len(self.shown):
            self.set_timer(0.005, lambda: self._add_rows(generation, end, keep))
        else:
            # Thousands of long-lived records and cells would make every full garbage collection a 100 ms
            # stall; they are freed by reference counting when replaced, so the cycle collector may skip them.
            gc.freeze()
        if start == 0:
            self._show_detail()

    def _show_detail(self) -> None:
        record = self.selected
        detail = self.query_one("#detail", Static)
        if record is None or self.now is None:
            detail.update("No backup matches the filter" if self.needle else "No backups yet: press b")
        else:
            detail.update(detail_text(record, self.now, self.tz))
        self.screen.refresh_bindings()

    def _label_columns(self) -> None:
        for i, column in enumerate(COLUMNS):
            arrow = (" ▼" if self.sort_reverse else " ▲") if i == self.sort_column else ""
            self.table.columns[column.key].label = Text(column.label + arrow)  # type: ignore[index]
        self.table.refresh()

    @on(DataTable.RowHighlighted, "#backup-table")
    def _row_highlighted(self) -> None:
        self._show_detail()

    @on(DataTable.HeaderSelected, "#backup-table")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        index = next(i for i, c in enumerate(COLUMNS) if c.key == event.column_key.value)
        self.sort_by(index, not self.sort_reverse if index == self.sort_column else True)

    def sort_by(self, index: int, reverse: bool) -> None:
        self.sort_column, self.sort_reverse = index, reverse
        self._label_columns()
        self._populate()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.needle = event.value.strip()
        self._populate()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.table.focus()

    def on_key(self, event: Any) -> None:
        if getattr(event, "key", "") == "escape" and self.query_one("#filter", Input).has_focus:
            event.stop()
            self.filter_to("")
            self.table.focus()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_sort(self) -> None:
        self.sort_by((self.sort_column + 1) % len(COLUMNS), True)

    def action_request(self, action: str) -> None:
        record = self.selected
        if record is not None:
            self.post_message(self.ActionRequested(action, record))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action != "request":
            return True
        record = self.selected
        what = parameters[0] if parameters else ""
        if what == "upload":
            return None  # S3 is not built yet: shown, greyed out
        if record is None:
            return None
        if what in ("restore", "pin"):
            return True if record.status == "valid" or (what == "restore" and record.is_valid) else None
        return True
