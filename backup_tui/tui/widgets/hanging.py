"""Lines that wrap under their own text: a labelled line ("Target    REPLACE ...") or a numbered step
("  3. restore   restore ... into 'x'") continues below its text, not at column 0 under the label, so the
labels and step numbers stay a column one reads down at 80 columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

Line = tuple[int, Text]  # where its wrapped continuation starts, and the line
# What a line's continuation goes under: past a numbered step and its action ("  3. restore   "), past a label
# padded to its column ("Rollback  "), past a warning's mark ("⚠ "), past an advice's arrow ("  → "). Any other
# line wraps at its own start.
HEAD = re.compile(r"^(?:  \d+\. \S+ +|[A-Z][a-z]+ {2,}|[⚠✖✓▲●] |  → )")


class Hanging:
    """A Rich renderable of lines, each wrapped with a hanging indent at whatever width it is drawn."""

    def __init__(self, lines: Iterable[Line]) -> None:
        self.lines: tuple[Line, ...] = tuple(lines)

    @classmethod
    def of(cls, text: Text) -> Hanging:
        """``text``'s lines, each hanging under its own head (see HEAD)."""
        lines = text.split("\n", allow_blank=True)
        return cls(((match.end() if (match := HEAD.match(line.plain)) else 0), line) for line in lines)

    @property
    def plain(self) -> str:
        """The text unwrapped, as the lines were given: what tests and searches read."""
        return "\n".join(line.plain for _, line in self.lines)

    def __str__(self) -> str:
        return self.plain

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hanging) and [(i, t.plain, t.spans) for i, t in self.lines] == \
            [(i, t.plain, t.spans) for i, t in other.lines]

    __hash__ = None  # type: ignore[assignment]  # mutable Text inside: compared, never hashed

    def wrapped(self, console: Console, width: int) -> list[Text]:
        return [row for indent, line in self.lines for row in hang(line, indent, width, console)]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.wrapped(console, options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max((line.cell_len for _, line in self.lines), default=0)
        return Measurement(min(widest, 20), widest)


def hang(line: Text, indent: int, width: int, console: Console) -> Iterator[Text]:
    """``line`` as rows of at most ``width`` cells, the second and later starting at ``indent``. When the
    indent would leave too little room (a very narrow widget) the line wraps as plain text does."""
    if line.cell_len <= width or indent <= 0 or width - indent < 12:
        yield from line.wrap(console, max(width, 1))
        return
    head, body = line[:indent], line[indent:]
    for n, row in enumerate(body.wrap(console, width - indent)):
        row.rstrip()
        yield Text.assemble(head if n == 0 else " " * indent, row)
