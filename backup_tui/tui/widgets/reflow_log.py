"""A log whose lines are wrapped to its width, and wrapped again when the terminal is resized.

Textual's RichLog wraps a line once, when it is written, and never narrower than ``min_width`` (78 by
default): in the restore's bordered log at 80 columns the last columns of a line were cut, and after a
terminal was made narrower every line was cut at its old width (the trial resized 120 -> 80 mid-restore).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Self

from rich.console import RenderableType
from textual.events import Resize
from textual.timer import Timer
from textual.widgets import RichLog

REFLOW_AFTER_S = 0.1  # a terminal dragged to its new size sends many resizes: wrap again once, after the last
HIDDEN = -1  # ``_wrapped_at`` while lines wait for a width: the next one wraps them all


class ReflowLog(RichLog):
    """RichLog with ``wrap`` on, no minimum width, and what was written kept to be wrapped again."""

    def __init__(self, *, max_lines: int | None = None, markup: bool = False, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, min_width=1, wrap=True, markup=markup, id=id)
        self._written: deque[RenderableType | object] = deque(maxlen=max_lines)
        self._wrapped_at = 0  # the content width the lines were last wrapped to
        self._reflow: Timer | None = None

    def write(self, content: RenderableType | object, width: int | None = None, *args: Any, **kwargs: Any) -> Self:
        """Wrapped to the log's own width, not to the console's (which a test's headless console keeps at 80)."""
        if not self._size_known:  # written again by RichLog once the size is known
            return super().write(content, width, *args, **kwargs)
        self._written.append(content)
        shown = self.scrollable_content_region.width
        if not shown:  # behind another tab: wrapped to no width, a line went one character to a line
            self._wrapped_at = HIDDEN
            return self
        return super().write(content, width or shown, *args, **kwargs)

    def clear(self) -> Self:
        self._written.clear()
        return super().clear()

    def on_resize(self, event: Resize) -> None:
        super().on_resize(event)
        if self._reflow is not None:
            self._reflow.stop()
        self._reflow = self.set_timer(REFLOW_AFTER_S, self._wrap_again)

    def _wrap_again(self) -> None:
        """At the log's width once it has settled; never at none (hidden): the lines wait to be shown."""
        width = self.scrollable_content_region.width
        if not self._size_known or not width or width == self._wrapped_at:
            return
        first = not self._wrapped_at
        self._wrapped_at = width
        if first:
            return
        written = list(self._written)
        self.clear()
        for content in written:
            self.write(content)
