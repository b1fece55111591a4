"""A size sparkline drawn as text, so anomalies can be marked in their own colour."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median

from rich.text import Text

BARS = "▁▂▃▄▅▆▇█"
FLAT = 0.1  # spreads under this share of the median size are drawn over this share: near the middle bar


def trend_text(sizes: Sequence[int], anomalies: Sequence[int], normal: str = "green",
               anomaly: str = "bold red") -> Text:
    """One bar per backup, oldest first.

    Bars are scaled to the normal backups only (anomalies are clipped to the top or
    the bottom bar), so one spike does not flatten the trend of all the others; over at
    least ``FLAT`` of their median, centred, so a 1 % wobble does not read as a jump.
    """
    text = Text()
    if not sizes:
        return Text("no backups yet", style="dim")
    marked = set(anomalies)
    normal_sizes = [s for i, s in enumerate(sizes) if i not in marked] or list(sizes)
    low, high = min(normal_sizes), max(normal_sizes)
    span = max(high - low, FLAT * median(normal_sizes))
    base = low - (span - (high - low)) / 2
    top = len(BARS) - 1
    for i, size in enumerate(sizes):
        if high == low:  # flat: the middle bar, an anomaly at the top or the bottom
            level = top // 2 if size == low else top if size > low else 0
        else:
            level = round((size - base) / span * top)
        text.append(BARS[min(max(level, 0), top)], style=anomaly if i in marked else normal)
    return text
