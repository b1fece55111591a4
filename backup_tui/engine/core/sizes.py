"""Sizes and counts as people read them: one wording for the catalog, the health rules, the plans and the app."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """'1 table', '21 tables'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def human_bytes(n: float) -> str:
    """'512 B', '1.5 kB', '444.3 MB' (SI, as df -H and disk makers count): humanize's words, but a short 'B'
    under a kilobyte, where humanize says 'Bytes' and table columns would widen for it."""
    if abs(n) < 1000:
        return f"{n:.0f} B"
    import humanize  # here: reading the config (retention's plural words) needs none of it at every start

    return humanize.naturalsize(n)
