"""JSON read from where others write (a repository, a bucket, a record of another run).

``json.loads`` recurses once per nesting level: a crafted file of ``[[[[...`` (a few hundred KB, under any size
cap) raised RecursionError, which no reader expects, and one such file stopped ``list`` for the whole
catalog. Here it is a ValueError like any other text that is not JSON, and so is nesting deeper than
any record of ours has (writing the checksum of a manifest recurses as deep again).

Python reads ``NaN``, ``Infinity`` and ``1e400`` (infinity too) as numbers, though JSON has none of them: a
duration of NaN passed every check (no comparison with NaN is ever true) and came out of ``list --json`` as
JSON no other reader takes. They are ValueErrors here too.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 64  # our records nest three or four levels deep


def load_json(text: str | bytes) -> Any:
    """``json.loads``, with too deep a nesting refused as ValueError."""
    try:
        data = json.loads(text, parse_constant=_no_number, parse_float=_finite)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if too_deep(data):
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return data


def too_deep(data: object) -> bool:
    """Whether ``data`` nests deeper than MAX_DEPTH; walked without recursion."""
    pending: list[tuple[object, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _no_number(word: str) -> float:
    raise ValueError(f"JSON holds {word}, which is no number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"JSON number {text[:24]} is past a float's range")
    return value
