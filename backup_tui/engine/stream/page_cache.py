"""A backup's bytes do not stay in the page cache: written once, read whole and rarely, they are dropped
as soon as they are on the disk, or read.

Kept, a 300 GB dump pushes out of the cache what the database server beside it reads every second. In a
VM whose host takes unused memory back (virtio-balloon free page reporting, as on these machines) every
new page cached costs a fault on the host besides: writing a 300 MB backup file took 0.8 s of kernel CPU
kept, 0.3 s dropped behind (``pg_dump | compress()``, alternating runs), a tenth of the backup's time on
two cores. Dropped behind, the same few megabytes of pages serve the whole file.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import Any

DROP_EVERY = 8 << 20  # a reader drops what it has read every 8 MiB


def forget(fd: int, start: int, end: int) -> None:
    """Drop the cached pages of bytes [start, end) of ``fd``'s file: clean ones go, dirty ones stay until
    written (this is no sync)."""
    if end > start:
        _advise(fd, start, end - start, "POSIX_FADV_DONTNEED")


def _advise(fd: int, start: int, length: int, advice: str) -> None:
    """``posix_fadvise``, where the platform has it (not macOS): advice only, so a file system that declines
    it loses nothing."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):
            os.posix_fadvise(fd, start, length, getattr(os, advice))


class ReadOnce(io.FileIO):
    """A file read from start to end once: what was read is dropped from the page cache every
    ``DROP_EVERY`` bytes, and the kernel is told to read ahead for a sequential reader."""

    def __init__(self, fd: int) -> None:
        super().__init__(fd, "rb", closefd=True)
        self._dropped = self._since = 0
        _advise(fd, 0, 0, "POSIX_FADV_SEQUENTIAL")

    def readinto(self, buffer: Any) -> int | None:
        n = super().readinto(buffer)
        if n:
            self._since += n
            if self._since >= DROP_EVERY:
                self._since, at = 0, self.tell()
                forget(self.fileno(), min(self._dropped, at), at)
                self._dropped = at
        return n
