"""JSON read from where others write (a repository, a bucket, a record of another run).

``json.loads`` recurses once per nesting level: a crafted file of ``[[[[...`` (a few hundred KB, under any size
cap) raised RecursionError, which no reader expects, and one such file stopped ``list`` for the whole
catalog. Here it is a ValueError like any other text that is not JSON, and so is nesting deeper than
any record of ours has (writing the checksum of a manifest recurses as deep again).
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64  # our records nest three or four levels deep


def load_json(text: str | bytes) -> Any:
    """``json.loads``, with too deep a nesting refused as ValueError."""
    try:
        data = json.loads(text)
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
