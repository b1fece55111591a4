"""Where stored bytes come from: a source opens a fresh reader of one backup's stored bytes.

A local file today (``FileSource``); an object in a bucket read with ranged GETs slots in with the
same calls, so the decoder, the hashes and pg_restore never learn where the bytes come from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


class Source(Protocol):
    @property
    def name(self) -> str:
        """The stored file's name, for messages."""
        ...

    @property
    def where(self) -> str:
        """Where it is, for the operator: a path, or a URL."""
        ...

    def size(self) -> int | None:
        """Its size in bytes; None when it is not there."""
        ...

    def open(self) -> BinaryIO:
        """A new reader from the first byte (OSError when it cannot be read)."""
        ...


@dataclass(frozen=True)
class FileSource:
    """A file the repository derived from its layout (it checked the path): opened without following a link."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def where(self) -> str:
        return str(self.path)

    def size(self) -> int | None:
        try:
            return self.path.stat().st_size if self.path.is_file() else None
        except OSError:
            return None

    def open(self) -> BinaryIO:
        return os.fdopen(os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW), "rb")
