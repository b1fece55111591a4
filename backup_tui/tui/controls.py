"""No control character from the data reaches the terminal.

Manifests, records and the engine's messages quoting them come from an untrusted repository: a field holding
ESC or CSI sequences (clear the screen, set the title, move the cursor) was drawn into the terminal as it was.
Rich drops BEL, BS, VT, FF and CR from its texts, not ESC or the C1 controls. This filter removes every C0 and
C1 control and DEL from what each line draws, after the widgets made it, so no widget has to remember to;
they take no cell, so the layout is the one the widgets measured. The command line shows them escaped instead
(``core.printable``): there a record is read for what it holds, here it is only drawn.
"""

from __future__ import annotations

import re

from rich.segment import Segment
from textual.color import Color
from textual.filter import LineFilter

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class NoControls(LineFilter):
    """Drop control characters from every segment of text (a segment that is a control code of the renderer's
    own, which has no text, is left as it is)."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if not any(_CONTROL.search(segment.text) for segment in segments):
            return segments
        return [Segment(_CONTROL.sub("", segment.text), segment.style, segment.control)
                if not segment.control and _CONTROL.search(segment.text) else segment for segment in segments]
