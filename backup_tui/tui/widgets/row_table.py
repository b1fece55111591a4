"""A table read row by row (backups, jobs, row counts): Home and End go to the first and the last row, and
rows added while the table is hidden behind another tab do not scroll out of sight."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable


class RowTable(DataTable[str | Text]):
    """Textual's table scrolls sideways on Home and End, to its first and last column: in a list of rows that
    fit the width it did nothing, and an operator's Home (back to the newest backup) was lost; the backup under
    the cursor, days old, was then restored."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    _scroll_when_shown = False

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        """Not while another tab hides the table: scrolled against no height, the selected row went to the top
        and every row added above it meanwhile (the newer backups) out of sight, so the newest read as days old.
        Once the table has its size again, the least scroll that shows the selected row."""
        if not self.size.height:
            self._scroll_when_shown = True
            return
        super()._scroll_cursor_into_view(animate)

    def on_resize(self) -> None:
        if self._scroll_when_shown and self.size.height:
            self._scroll_when_shown = False
            self.call_after_refresh(self._scroll_cursor_into_view)
