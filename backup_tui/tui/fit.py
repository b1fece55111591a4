"""What fits a narrow terminal whole: the choices a screen makes from the widths of what it shows, rather than
letting the terminal cut the end off (80 columns over SSH is where on-call engineers read it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
