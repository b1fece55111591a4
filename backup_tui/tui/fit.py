"""What fits a narrow terminal whole: the choices a screen makes from the widths of what it shows, rather than
letting the terminal cut the end off (80 columns over SSH is where on-call engineers read it)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from rich.text import Text

CELL_PADDING = 2  # a DataTable cell's padding, one each side


def fit_columns(widths: Mapping[str, int], available: int, leave_out: Sequence[str]) -> list[str]:
    """The keys of ``widths`` (in its order) whose columns fit ``available`` cells whole: those named in
    ``leave_out`` are left out, in that order, until the rest fit (or none of them is left to leave out)."""
    shown = list(widths)
    for key in leave_out:
        if sum(widths[k] + CELL_PADDING for k in shown) <= available:
            break
        if key in shown:
            shown.remove(key)
    return shown


def fit_line(line: Text, width: int, keep: re.Pattern[str] | None = None) -> Text:
    """``line`` in one row of ``width`` cells: cut with an ellipsis when longer, keeping a tail that matches
    ``keep`` (a "(+3 more, see alerts)" that says where the rest is) after the cut."""
    if width <= 0 or line.cell_len <= width:
        return line
    match = keep.search(line.plain) if keep is not None else None
    head, tail = (line[:match.start()], line[match.start():]) if match else (line, Text())
    if tail.cell_len >= width - 1:  # no room for the head: the tail alone, cut
        head, tail = line, Text()
    head = head.copy()
    head.truncate(width - tail.cell_len, overflow="ellipsis")
    return Text.assemble(head, tail)


def fit_rows(rows: Sequence[Text], width: int, max_rows: int, more: Text) -> list[Text]:
    """Wrapped ``rows`` in at most ``max_rows``: when they are more, the last one shown is cut to end with
    an ellipsis and ``more`` (how to see it all), so a cut box never reads as whole."""
    if len(rows) <= max_rows:
        return list(rows)
    last = rows[max_rows - 1].copy()
    last.rstrip()
    room = width - more.cell_len - 1
    if last.cell_len > room:
        last.truncate(max(room, 0))
    return [*rows[:max_rows - 1], Text.assemble(last, "…", more)]
