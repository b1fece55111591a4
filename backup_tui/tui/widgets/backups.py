"""The catalog as a table: filter as you type, sort by column, a detail pane for the selected backup.

Staying responsive with thousands of backups (no event-loop stall over ~50 ms while
jobs and refreshes run, measured by tests/benchmarks/bench_tui.py) shapes this module:

- Formatting every row (``prepare``) and filtering, sorting and comparing with what
  is on screen (``plan_table``) are pure functions run in worker threads. Rows are
  compared as tuples of plain strings (``CellSpec``), which Python compares in C;
  cells are only made for rows that are added or changed.
- The table is updated by row key: new rows added, gone rows removed, changed cells
  updated, then one sort. A refresh that changed nothing touches nothing.
- Table work is applied in slices with a pause between them, because the DataTable
  measures every new cell when idle; a slice's cost is bounded by ``SLICE_COST``.
- ``CatalogTable`` spares the DataTable's per-change rebuild of its line index, and
  ``gc.freeze()`` keeps thousands of long-lived cells out of every full collection.
"""

from __future__ import annotations

import asyncio
import gc
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache, partial
from typing import Any, ClassVar, NamedTuple, overload

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, VerticalScroll
from textual.coordinate import Coordinate
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey, RowKey

from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.core.policy import can_pin, can_restore
from backup_tui.tui import format as fmt
from backup_tui.tui.widgets.row_table import RowTable

# Costs in "one new row" units (0.2-0.4 ms: adding it, then the table measuring its cells when idle).
# Removing a row or sorting re-indexes every row, which with 5,000 rows costs like a few dozen new rows.
SLICE_COST = 24.0
ADD_COST, UPDATE_COST, REMOVE_COST, SORT_COST = 1.0, 0.05, 12.0, 24.0
SLICE_PAUSE = 0.002  # between slices: the table measures, the screen repaints, timers fire
REBUILD_AFTER_REMOVALS = 10  # past this many gone rows, clearing and re-adding is cheaper than removing
# The first table's rows and cells live long: left to the cycle collector, every full collection would scan
# them all (a 60-100 ms stall with 5,000 backups). Nothing in them is cyclic, so reference counting frees them
# when replaced and the collector may skip them: ``gc.freeze()`` every so many new rows while the first table
# fills, and when it is full. Only then: whatever is alive at a freeze and becomes cyclic garbage later (a
# worker, Textual's layout maps) is never freed, some thousand objects each time.
FREEZE_COST = 1000.0

CellSpec = tuple[str, str | None, str]  # text, style (None: a plain string cell), justify
RowSpec = tuple[CellSpec, ...]
Row = tuple[str, RowSpec]  # backup id, cells


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sort_key: Callable[[BackupRecord], Any]


def _check_rank(record: BackupRecord) -> tuple[int, str]:
    """Verified, newest first (the order ``s`` gives first): passed checks, then backups never checked, then
    failed checks last. By the check's time alone a failed check ranked above backups that passed theirs."""
    last = record.last_verification
    if last is None:
        return 1, ""
    return (2 if last.ok else 0), last.at


COLUMNS = (
    Column("created", "Created", lambda r: (r.created_at, r.id)),
    Column("age", "Age", lambda r: (r.created_at, r.id)),
    Column("database", "Database", lambda r: (r.database, r.created_at)),
    Column("size", "Size", lambda r: r.stored_bytes),
    Column("ratio", "Ratio", lambda r: r.ratio or 0.0),
    Column("took", "Took", lambda r: r.duration_s),
    Column("verified", "Verified", _check_rank),
    Column("where", "Where", lambda r: ",".join(r.locations)),
    Column("host", "Host", lambda r: (r.host, r.created_at)),
    Column("pin", "Pin", lambda r: r.pinned),
    Column("id", "ID", lambda r: r.id),
)
ID_COLUMN = len(COLUMNS) - 1  # its text (id and status) is unique per row: the table sorts by it
INDEX = {column.key: i for i, column in enumerate(COLUMNS)}
# What stays when the table is narrow, most useful first: the id and state tell the rows apart and say what is
# wrong, the verification whether to trust them. The rest is in the detail pane.
PRIORITY = ("id", "verified", "size", "pin", "created", "database", "age", "where", "host", "took", "ratio")
# Where the columns shown stand, at every width: a column left out never moves the others.
ORDER = ("id", "created", "age", "database", "size", "ratio", "took", "verified", "where", "host", "pin")
# What ``s`` steps through from the default order (Created, newest first). Age orders rows as Created does, so
# the cycle leaves it out (a click on its header still sorts by it): the first press gives the backups whose
# check passed, newest first, then those never checked, then failed checks: what a restore looks for.
SORT_CYCLE = ("created", "verified", "size", "database", "took", "ratio", "where", "host", "pin", "id")
SAFETY_MARK = fmt.SAFETY_MARK  # see fmt.marked_id: the wizard's first page marks the same way
NARROW_FOOTER = 100  # below this width the footer is compact and leaves out keys that do nothing
DETAIL_WIDTH = 46  # the detail pane's width beside the table
# From this width the detail pane sits beside the table instead of under it: only once the table keeps 80
# columns there, so a wider terminal never shows fewer columns than an 80-column one.
WIDE = 80 + DETAIL_WIDTH
SCROLLBAR = 1  # the table's vertical scrollbar, see app.tcss
PADDING = 2  # a cell's padding, one each side
ARROW = 2  # " ▼" on the sorted column's label


def next_sort(column: int) -> int:
    """The column ``s`` sorts by after ``column``: the next in SORT_CYCLE (Age counts as Created)."""
    key = COLUMNS[column].key
    place = SORT_CYCLE.index(key) if key in SORT_CYCLE else 0
    return INDEX[SORT_CYCLE[(place + 1) % len(SORT_CYCLE)]]


def row_spec(record: BackupRecord, now: datetime, tz: tzinfo | None) -> RowSpec:
    """One row as plain data: cheap to make in a thread and to compare with what is shown."""
    verified = record.last_verification
    created = record.created  # parsed from text each time it is read
    label = record.status_label
    status = "" if label == "valid" else f" ({label})"
    return (
        (fmt.local_time(created, tz), None, ""),
        (fmt.ago(created, now), None, ""),
        (record.database, None, ""),
        (fmt.human_bytes(record.stored_bytes), "", "right"),
        (fmt.ratio(record.ratio), "", "right"),
        (fmt.duration(record.duration_s), "", "right"),
        (fmt.verification_text(verified, now), "green" if verified and verified.ok else "red" if verified else "dim",
         ""),
        (fmt.locations(record.locations), None, ""),
        (record.host, None, ""),  # the machine that took it: a bucket is a fleet's catalog (the filter finds it)
        ("📌" if record.pinned else "", None, ""),
        (fmt.marked_id(record, status), "" if record.trusted else "dim" if record.status == "unread" else "red", ""),
    )


@lru_cache(maxsize=4096)
def _text_cell(text: str, style: str, justify: str) -> Text:
    """Shared by every cell that reads the same ("1.9 MB", "never"): the table never changes its cells,
    and thousands fewer objects make each garbage collection shorter."""
    if justify == "right":
        return Text(text, style=style, justify="right")
    return fmt.id_cell(text, style)  # the safety mark dimmed, when there is one


def cell_of(spec: CellSpec) -> str | Text:
    text, style, justify = spec
    return text if style is None else _text_cell(text, style, justify)


def haystack(cells: RowSpec) -> str:
    """What the filter searches, lower case: the row as it reads (the ID column holds id and status)."""
    return " ".join(cell[0] for cell in cells).lower()


DATABASE_WORD = "db:"


def database_filter(database: str) -> str:
    """The filter a dashboard card opens its backups with: that database's alone, by its whole name."""
    return DATABASE_WORD + shlex.quote(database)


def matches(cells: RowSpec, needle: str, database: str = "") -> bool:
    """Every word of ``needle`` is in the row's visible text, case-insensitive; a word ``db:NAME`` (shell quoting
    for a name with spaces) is the row's ``database``, whole and exact: a card of ``pagila`` opened with the bare
    name listed ``pagila_archive``'s backups too, the newest on top, and a restore went on from there."""
    try:
        words = shlex.split(needle)
    except ValueError:  # an open quote, mid-typing
        words = needle.split()
    if any(database != word[len(DATABASE_WORD):] for word in words if word.startswith(DATABASE_WORD)):
        return False
    text = haystack(cells)
    return all(word.lower() in text for word in words if not word.startswith(DATABASE_WORD))


@dataclass(frozen=True)
class Prepared:
    """Every backup's cells, made once per catalog load (in the loading thread)."""

    records: list[BackupRecord]
    now: datetime
    cells: dict[str, RowSpec]
    by_id: dict[str, BackupRecord]
    widths: tuple[int, ...]  # of each column's widest cell, see ``layout``


def prepare(records: list[BackupRecord], now: datetime, tz: tzinfo | None,
            previous: Prepared | None = None) -> Prepared:
    """Rows that read as before keep their old cells: the new copies die at once instead of piling up for the
    cycle collector to scan."""
    old = previous.cells if previous is not None else {}
    cells = {}
    for record in records:
        spec = row_spec(record, now, tz)
        kept = old.get(record.id)
        cells[record.id] = kept if kept == spec else spec
    widths = content_widths(cells.values())
    longest_id = max((cell_len(r.id) for r in records), default=0)
    capped = min(widths[ID_COLUMN], max(LABEL_WIDTHS[ID_COLUMN], longest_id + ID_STATUS_ROOM))
    widths = (*widths[:ID_COLUMN], capped, *widths[ID_COLUMN + 1:])
    return Prepared(records, now, cells, {r.id: r for r in records}, widths)


# Room in the ID column for a status after the id, " (failed check)" whole: the rare row with a safety mark too is
# cut, with an ellipsis. One such row made the column 48 wide, and at 80 columns the table kept the id and the
# verification alone, the size and the pin left out for every row.
ID_STATUS_ROOM = cell_len(" (failed check)")


LABEL_WIDTHS = tuple(cell_len(column.label) for column in COLUMNS)


def content_widths(rows: Iterable[RowSpec]) -> tuple[int, ...]:
    """The widest text of each column, its label included: what the table will make it."""
    widths = list(LABEL_WIDTHS)
    for cells in rows:
        for i, cell in enumerate(cells):
            width = cell_len(cell[0])
            widths[i] = max(widths[i], width)
    return tuple(widths)


def layout(widths: Sequence[int], available: int, sort_column: int) -> tuple[int, ...]:
    """The first columns of ``PRIORITY`` that fit in ``available`` cells (the id always), in ``ORDER``.

    Stops at the first that does not fit: a narrower one further down the list never takes its place, so every
    width shows the same columns a narrower one does, and more.
    """
    budget = available - SCROLLBAR
    kept: set[str] = set()
    for key in PRIORITY:
        i = INDEX[key]
        need = max(widths[i], LABEL_WIDTHS[i] + ARROW if i == sort_column else 0) + PADDING
        if key != "id" and need > budget:
            break
        kept.add(key)
        budget -= need
    return tuple(INDEX[key] for key in ORDER if key in kept)


def column_labels(shown: Sequence[int], sort_column: int, reverse: bool) -> dict[str, Text]:
    """Header labels: an arrow on the sorted column, or, when it is left out, on the id's ("ID · by Age ▼")."""
    arrow = " ▼" if reverse else " ▲"
    labels = {COLUMNS[i].key: Text(COLUMNS[i].label + (arrow if i == sort_column else "")) for i in shown}
    if sort_column not in shown:
        labels[COLUMNS[ID_COLUMN].key] = Text(f"ID · by {COLUMNS[sort_column].label}{arrow}")
    return labels


class TableState(NamedTuple):
    needle: str
    sort_column: int
    sort_reverse: bool


@dataclass(frozen=True)
class PlanRequest:
    """What a planning thread needs: a new catalog (``fresh``) or the cells made last time."""

    serial: int
    fresh: tuple[list[BackupRecord], datetime] | None
    prepared: Prepared | None
    tz: tzinfo | None
    state: TableState
    base: tuple[Row, ...]


@dataclass(frozen=True)
class TablePlan:
    """How to turn the table from ``base`` into ``rows``: valid only while the table shows ``base``."""

    state: TableState
    base: tuple[Row, ...]
    rows: tuple[Row, ...]
    shown: list[BackupRecord]
    rebuild: bool = False
    removed: tuple[str, ...] = ()
    added: tuple[Row, ...] = ()
    changed: tuple[tuple[str, int, CellSpec], ...] = ()
    reorder: bool = False


def visible(records: list[BackupRecord], state: TableState,
            cells_of: Callable[[BackupRecord], RowSpec]) -> list[BackupRecord]:
    """The rows, filtered by what their cells read (``cells_of``, only asked when filtering) and sorted."""
    kept = [r for r in records if matches(cells_of(r), state.needle, r.database)] if state.needle else records
    return sorted(kept, key=COLUMNS[state.sort_column].sort_key, reverse=state.sort_reverse)


def plan_table(prepared: Prepared, state: TableState, base: tuple[Row, ...]) -> TablePlan:
    """Filter, sort and compare with ``base`` by row key. Pure: a worker thread runs it."""
    cells = prepared.cells
    shown = visible(prepared.records, state, lambda record: cells[record.id])
    rows = tuple((r.id, cells[r.id]) for r in shown)
    if not base:
        return TablePlan(state, base, rows, shown, rebuild=True)
    if rows == base:
        return TablePlan(state, base, base, shown)  # the same object: plans made against it stay valid
    old, new = dict(base), dict(rows)
    removed = tuple(key for key in old if key not in new)
    if len(removed) > REBUILD_AFTER_REMOVALS:
        return TablePlan(state, base, rows, shown, rebuild=True)
    added = tuple(row for row in rows if row[0] not in old)
    changed = tuple((key, i, cell) for key, cells in rows if key in old and old[key] != cells
                    for i, (cell, was) in enumerate(zip(cells, old[key], strict=True)) if cell != was)
    after = [key for key, _ in base if key in new] + [key for key, _ in added]
    return TablePlan(state, base, rows, shown, removed=removed, added=added, changed=changed,
                     reorder=after != [key for key, _ in rows])


def detail_text(record: BackupRecord, now: datetime, tz: tzinfo | None) -> Text:
    """Manifest, per-table row counts and verification history of one backup."""
    text = Text()
    text.append(record.id, style="bold")
    text.append(f"  {record.status_label}", style=fmt.status_style(record))
    broken = record.status in ("damaged", "incomplete")  # its reason field holds what is wrong, not why it was taken
    if broken:  # said beside the word, as show says it
        text.append(f" ({record.reason})", style=fmt.status_style(record))
    if record.pinned:
        text.append("  pinned", style="bold yellow")
    text.append(f"\ndatabase {record.database} · server {record.server_version or '?'} · "
                f"{record.format}/{record.compression}")
    if record.compression_level:
        text.append(f"-{record.compression_level}")
    text.append(f"\ncreated {fmt.local_time(record.created, tz)} ({fmt.ago(record.created, now)}) · "
                f"took {fmt.duration(record.duration_s) if record.finished_at else '?'}")  # damaged: not known
    if not broken:
        text.append(f" · reason {record.reason}")
    raw = fmt.human_bytes(record.raw_bytes) if record.raw_bytes else "?"  # the old scripts' .meta seldom says it
    text.append(f"\nsize {fmt.human_bytes(record.stored_bytes)} stored, {raw} raw ({fmt.ratio(record.ratio)})")
    if record.sha256:
        text.append(f"\nsha256 {record.sha256[:16]}…")
    text.append(f"\nlocations {', '.join(record.locations)}")
    if record.host:  # at 80 columns the Host column is past the edge: a fleet's rows of one name look alike
        text.append(f" · taken on {record.host}")
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
        for note in item.not_done:
            text.append(f"\n      {note}", style="yellow")
    text.append(f"\n\nRow counts ({fmt.plural(len(record.row_counts), 'table')})", style="bold underline")
    width = max((len(name) for name in record.row_counts), default=0)
    for name, count in sorted(record.row_counts.items()):
        text.append(f"\n  {name:<{width}} {count:>10,}")
    return text


class _LineRows(Sequence[tuple[RowKey, int]]):
    """The row on each line of a table whose rows are all one line high, looked up when asked."""

    def __init__(self, table: DataTable[Any]) -> None:
        self._table = table

    def __len__(self) -> int:
        return self._table.row_count

    @overload
    def __getitem__(self, y: int) -> tuple[RowKey, int]: ...

    @overload
    def __getitem__(self, y: slice) -> Sequence[tuple[RowKey, int]]: ...

    def __getitem__(self, y: int | slice) -> tuple[RowKey, int] | Sequence[tuple[RowKey, int]]:
        if isinstance(y, slice):
            return [self[i] for i in range(*y.indices(len(self)))]
        if not 0 <= y < len(self):
            raise IndexError(y)
        return self._table.coordinate_to_cell_key(Coordinate(y, 0)).row_key, 0

    def clear(self) -> None:
        """``DataTable.clear`` clears its cached list; there is nothing to clear here."""


class CatalogTable(RowTable):
    """A DataTable that does not rebuild its line index after every change.

    ``DataTable`` lists (row key, line) for every line of the table again after each
    added row, update or sort: 3-25 ms with 5,000 rows, on the event loop, for every
    slice of a refresh. Our rows are always one line high (``add_row``'s default), so
    the line index is the row index and the row key is looked up only for the lines
    drawn. Relies on ``DataTable._y_offsets`` (Textual 8); tests/tui/test_units.py
    checks it against the stock table.
    """

    _widths_given = False

    @property
    def _y_offsets(self) -> Sequence[tuple[RowKey, int]]:  # type: ignore[override]
        return _LineRows(self)

    def give_widths(self, widths: Mapping[str, int]) -> None:
        """Each column at least as wide as ``widths`` says, measured off the event loop (``content_widths``, in
        the catalog's worker thread). From then on the table measures no cell of its own: that was a third of
        the time 5,000 new rows took on the event loop. Widths only grow, as the stock table's do."""
        grown = False
        for key, width in widths.items():
            column = self.columns[ColumnKey(key)]
            if width > column.content_width:
                column.content_width, grown = width, True
        self._widths_given = True
        if grown:  # the rows and header drawn at the old widths are cached: drawn again at the new ones
            self._require_update_dimensions = True
            self._clear_caches()
            self.refresh()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """With the widths given, only the scrollable size follows the rows (one line each, no labels)."""
        if not self._widths_given:
            super()._update_dimensions(new_rows)
            return
        header = self.header_height if self.show_header else 0
        width = sum(column.get_render_width(self) for column in self.columns.values()) + self._row_label_column_width
        self.virtual_size = Size(width, self._total_row_height + header)

    def clear(self, columns: bool = False) -> CatalogTable:
        if columns:
            self._widths_given = False  # new columns: measured again until given
        super().clear(columns)
        return self

    def relabel(self, labels: dict[str, Text]) -> None:
        """New header labels, drawn now: the header is cached with the rows, so a new sort arrow would
        otherwise show only once the order changes."""
        for key, label in labels.items():
            column = self.columns[ColumnKey(key)]
            column.label = label
            column.content_width = max(column.content_width, label.cell_len)  # cells only ever widen it
        self._require_update_dimensions = True
        self._clear_caches()
        self.refresh()


class BackupsView(Widget):
    """Owns the table's order and filter; actions are posted to the app as ``ActionRequested``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False),
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

    class Planned(Message):
        """From the planning thread: the newest of them is applied, unless the table moved on meanwhile."""

        def __init__(self, serial: int, prepared: Prepared, plan: TablePlan) -> None:
            super().__init__()
            self.serial = serial
            self.prepared = prepared
            self.plan = plan

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.records: list[BackupRecord] = []
        self.shown: list[BackupRecord] = []
        self.needle = ""
        self.sort_column = 0
        self.sort_reverse = True
        self.now: datetime | None = None
        self.tz: tzinfo | None = None
        self._prepared: Prepared | None = None  # cells of the catalog the newest plan was made from
        self._fresh: tuple[list[BackupRecord], datetime] | None = None  # a newer catalog, cells not made yet
        self._applied: tuple[Row, ...] = ()  # what the table shows once no plan is being applied
        self._applied_state: TableState | None = None  # the filter and order it shows them in
        self._applying = False
        self._stale = False  # the catalog, filter or order changed while a plan was being applied
        self._plans = 0  # serial of the newest plan asked of a thread
        self._frozen = False  # the first full table was frozen, see FREEZE_COST
        self._layout: tuple[int, ...] = ()  # indexes in COLUMNS of the columns the table has, in its order
        self._detail_id: str | None = None  # the backup the detail pane shows
        self.upload_available = False  # set by the app when S3 is configured; greyed out until then

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter by what the rows show: 03-14, never, failed…  (esc clears)", id="filter")
        with Container(id="backups-body"):
            yield CatalogTable(id="backup-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="detail-pane"):
                yield Static("No backup selected", id="detail")

    def on_mount(self) -> None:
        self._set_columns(self._wanted_layout())

    @property
    def table(self) -> CatalogTable:
        return self.query_one("#backup-table", CatalogTable)

    def _wanted_layout(self) -> tuple[int, ...]:
        widths = self._prepared.widths if self._prepared is not None else LABEL_WIDTHS
        width = self.app.size.width
        return layout(widths, width - DETAIL_WIDTH if width >= WIDE else width, self.sort_column)

    def _set_columns(self, shown: tuple[int, ...]) -> None:
        table = self.table
        table.clear(columns=True)
        for i in shown:
            table.add_column(COLUMNS[i].label, key=COLUMNS[i].key)
        self._layout = shown
        self._label_columns()
        self._give_widths()

    def _give_widths(self) -> None:
        """The widths of every cell of the catalog being applied, measured when it was prepared."""
        widths = self._prepared.widths if self._prepared is not None else LABEL_WIDTHS
        self.table.give_widths({COLUMNS[i].key: widths[i] for i in self._layout})

    def relayout(self) -> None:
        """The terminal was resized: the table is rebuilt if other columns fit now."""
        self._populate()

    @property
    def busy(self) -> bool:
        """A catalog is being planned or applied to the table."""
        return self._applying or self._fresh is not None

    @property
    def state(self) -> TableState:
        return TableState(self.needle, self.sort_column, self.sort_reverse)

    @property
    def selected(self) -> BackupRecord | None:
        """By the cursor row's key, so it is right even while a plan is half applied."""
        key = self._cursor_key()
        return self._prepared.by_id.get(key) if self._prepared is not None and key is not None else None

    def _cursor_key(self) -> str | None:
        table = self.table
        if not 0 <= table.cursor_row < table.row_count:
            return None
        return table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value

    def show(self, records: list[BackupRecord], now: datetime, tz: tzinfo | None, state: TableState,
             shown: list[BackupRecord]) -> None:
        """A catalog load; ``shown`` is its rows in ``state``'s filter and order, from the loading thread.

        The cells and the table update are made in another thread: the list is known at once, the table
        follows a few dozen milliseconds later.
        """
        self.records, self.now, self.tz = records, now, tz
        if state == self.state:
            self.shown = shown
        self._fresh = (records, now)
        self._populate()

    def filter_to(self, needle: str) -> None:
        """Set the filter text from outside (e.g. a dashboard card opened)."""
        box = self.query_one("#filter", Input)
        box.value = needle
        box.display = bool(needle)
        self.needle = needle
        self._populate()

    def _populate(self, plan: TablePlan | None = None) -> None:
        """Apply ``plan`` if it still fits the table and the filter and order; otherwise plan again, in a thread."""
        if self._prepared is None and self._fresh is None:
            return
        if self._applying:
            self._stale = True  # planned again once the table is done changing: ``plan`` is for the old table
            return
        if self._layout != self._wanted_layout():
            self._applied = ()  # other columns: the table is rebuilt
        if plan is None or plan.base is not self._applied or plan.state != self.state:
            self._plans += 1
            self._plan([PlanRequest(self._plans, self._fresh, self._prepared, self.tz, self.state, self._applied)])
            return
        self.shown = plan.shown
        self._applying = True
        self._apply_plan([plan])

    # Workers get their input in a list they empty. A finished worker is freed by the cycle collector only,
    # and one frozen while it ran (see FREEZE_COST) never is: its arguments, 5,000 records, would leak.
    # An explicit description too: by default Textual describes a worker by the repr of its arguments.
    @work(thread=True, group="table-plan", description="plan the backups table")
    def _plan(self, handed: list[PlanRequest]) -> None:
        """Making 5,000 rows' cells, filtering, sorting and comparing with the table: 50-100 ms."""
        request = handed.pop()
        prepared = request.prepared
        if request.fresh is not None:
            prepared = prepare(*request.fresh, request.tz, previous=prepared)
        assert prepared is not None  # ``_populate`` has one or the other
        self.post_message(self.Planned(request.serial, prepared, plan_table(prepared, request.state, request.base)))

    @on(Planned)
    def _planned(self, message: Planned) -> None:
        if message.serial != self._plans:
            return  # a newer catalog, filter or order is being planned
        self._prepared = message.prepared
        if self._fresh is not None and self._fresh[0] is message.prepared.records:
            self._fresh = None
        self._populate(message.plan)

    @work(group="table", description="apply a plan to the backups table")
    async def _apply_plan(self, handed: list[TablePlan]) -> None:
        """The only writer of the table: what arrives meanwhile is planned again after it, see ``_populate``."""
        plan = handed.pop()
        try:
            await self._apply(plan)
            self._applied = plan.rows
        except NoMatches:  # the app is closing: its widgets go first (the table), the fill had paused between slices
            return
        finally:
            self._applying = False
        if self._stale:
            self._stale = False
            self._populate()

    async def _apply(self, plan: TablePlan) -> None:
        table = self.table
        keep = self._cursor_key()  # by the table: the new catalog may not hold the selected backup any more
        # The selected row gone (deleted, pruned) with the same filter and order: the cursor stays at its index,
        # on the next row down, instead of jumping to the newest backup where a second d would delete it.
        stay = table.cursor_row if keep is not None and plan.state == self._applied_state else None
        if not plan.rebuild:
            self._give_widths()  # new rows and cells may be wider; a rebuild fits its new columns
        spent, paused, unfrozen = 0.0, False, 0.0
        for cost, operation in self._operations(plan, keep):
            if spent and spent + cost > SLICE_COST:
                if not paused:
                    self._show_detail()  # the first rows are on screen: describe the selected one
                    paused = True
                unfrozen += spent
                if unfrozen >= FREEZE_COST and not self._frozen:
                    gc.freeze()
                    unfrozen = 0.0
                await asyncio.sleep(SLICE_PAUSE)
                spent = 0.0
            operation()
            spent += cost
        if not plan.rebuild and keep is not None and keep in table.rows:
            index = table.get_row_index(keep)
            if index != table.cursor_row:
                table.move_cursor(row=index, animate=False)
        elif stay is not None and keep not in table.rows and table.row_count:
            index = min(stay, table.row_count - 1)
            if index != table.cursor_row:
                table.move_cursor(row=index, animate=False)
        self._applied_state = plan.state
        self._show_detail()
        if not self._frozen:
            gc.freeze()
            self._frozen = True

    def _operations(self, plan: TablePlan, keep: str | None) -> Iterator[tuple[float, Callable[[], object]]]:
        """Table changes with their cost, in the order they apply."""
        table = self.table
        if plan.rebuild:
            yield 0.0, partial(self._set_columns, self._wanted_layout())
            for index, row in enumerate(plan.rows):
                yield ADD_COST, partial(self._add_row, row)
                if row[0] == keep:
                    yield 0.0, partial(table.move_cursor, row=index, animate=False)
            return
        for key in plan.removed:
            yield REMOVE_COST, partial(table.remove_row, key)
        for row in plan.added:
            yield ADD_COST, partial(self._add_row, row)
        for key, index, cell in plan.changed:
            yield UPDATE_COST, partial(self._update_cell, key, index, cell)
        if plan.reorder:
            rank = {cells[ID_COLUMN][0]: i for i, (_, cells) in enumerate(plan.rows)}
            yield SORT_COST, partial(table.sort, COLUMNS[ID_COLUMN].key, key=lambda cell: rank[str(cell)])

    def _add_row(self, row: Row) -> None:
        key, cells = row
        self.table.add_row(*(cell_of(cells[i]) for i in self._layout), key=key)

    def _update_cell(self, key: str, index: int, cell: CellSpec) -> None:
        """The column grows to a wider cell (``give_widths``); it never narrows, as the stock table's never do."""
        if index not in self._layout:
            return
        column = COLUMNS[index].key
        self.table.give_widths({column: cell_len(cell[0])})
        self.table.update_cell(key, column, cell_of(cell))

    def _show_detail(self) -> None:
        record = self.selected
        detail = self.query_one("#detail", Static)
        if record is None or self.now is None:
            detail.update("No backup matches the filter" if self.needle else "No backups yet: press b")
        else:
            detail.update(detail_text(record, self.now, self.tz))
        shown = record.id if record is not None else None
        if shown != self._detail_id:  # another backup reads from its top
            self._detail_id = shown
            self.query_one("#detail-pane", VerticalScroll).scroll_home(animate=False)
        self.screen.refresh_bindings()

    def _label_columns(self) -> None:
        self.table.relabel(column_labels(self._layout, self.sort_column, self.sort_reverse))

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
        """Esc clears the filter from anywhere on the tab, as the hint says; with no filter to clear it is left
        to whatever else handles it."""
        if getattr(event, "key", "") == "escape" and (self.needle or self.query_one("#filter", Input).has_focus):
            event.stop()
            self.filter_to("")
            self.table.focus()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_sort(self) -> None:
        self.sort_by(next_sort(self.sort_column), True)

    def action_reverse_sort(self) -> None:
        """Oldest first, smallest first: the keyboard's way to what a second click on the header does."""
        self.sort_by(self.sort_column, not self.sort_reverse)

    def action_request(self, action: str) -> None:
        record = self.selected
        if record is not None:
            self.post_message(self.ActionRequested(action, record))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action != "request":
            return True
        record = self.selected
        what = parameters[0] if parameters else ""
        if what == "upload" and not self.upload_available:
            # Greyed out; below 100 columns left out, so the footer keeps room for Help and Quit.
            return None if self.app.size.width >= NARROW_FOOTER else False
        if record is None:
            return None
        if record.status == "unread":
            return True  # its manifest is read first, then the action decided on what it says (the app's)
        if what in ("restore", "pin"):
            return True if (can_restore if what == "restore" else can_pin)(record) else None
        return True
