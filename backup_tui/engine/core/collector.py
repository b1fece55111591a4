"""The cycle collector around an entry point's import: the modules' objects live as long as the process."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_then_frozen() -> Iterator[None]:
    """No collection during the block (an import of hundreds of modules ran it over and over, tens of ms of a
    start, for almost nothing to free); afterwards every object so far is frozen out of later collections."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
