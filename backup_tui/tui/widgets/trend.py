"""A size sparkline drawn as text, so anomalies can be marked in their own colour."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

BARS = "▁▂▃▄▅▆▇█"


def trend_text(sizes: Sequence[int], anomalies: Sequence[int], normal: str = "green",
               anomaly: str = "bold red") -> Text:
    """One bar per backup, oldest first.

    Bars are scaled to the normal backups only (anomalies are clipped to the top or
    the bottom bar), so one spike does not flatten the trend of all the others.
    """
    text = Text()
    if not sizes:
        return Text("no backups yet", style="dim")
    marked = set(anomalies)
    normal_sizes = [s for i, s in enumerate(sizes) if i not in marked] or list(sizes)
    low, high = min(normal_sizes), max(normal_sizes)
    top = len(BARS) - 1
    for i, size in enumerate(sizes):
        level = top // 2 if high == low else round((size - low) / (high - low) * top)
        text.append(BARS[min(max(level, 0), top)], style=anomaly if i in marked else normal)
    return text
