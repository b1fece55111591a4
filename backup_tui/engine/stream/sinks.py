"""Where compressed bytes go: a sink takes blocks in order and makes them durable on close.

A local file today (``FileSink``); an S3 multipart upload slots in with the same three calls, so
the stages before it (zstd, sha256) never learn where the bytes end up.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

WRITEBACK_EVERY = 32 << 20  # start writing the file to disk every 32 MiB, as PostgreSQL's *_flush_after
SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h: start writeback of the range, do not wait for it


class Sink(Protocol):
    def write(self, block: bytes) -> None: ...

    def close(self) -> None:
        """Everything written is durable when this returns."""
        ...

    def abort(self) -> None:
        """Stop and leave nothing behind (a partial file, an unfinished upload)."""
        ...


class FileSink:
    """A new file (never an existing one), private to its owner, handed to the disk as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self._out: BinaryIO = os.fdopen(fd, "wb")
        self._writeback = _Writeback(self._out)

    def write(self, block: bytes) -> None:
        self._out.write(block)
        self._writeback.wrote(len(block))

    def close(self) -> None:
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._out.close()
        self.path.unlink(missing_ok=True)


def _sync_file_range() -> Callable[[int, int, int], object] | None:
    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # not Linux: the final fsync does all the work
        return None
    call.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    return lambda fd, offset, length: call(fd, offset, length, SYNC_FILE_RANGE_WRITE)


_START_WRITEBACK = _sync_file_range()


class _Writeback:
    """Hands written data to the disk as the backup goes, so the fsync that makes it durable is quick.

    Without it the kernel keeps hundreds of MB dirty and the final fsync waits for all of
    them (0.1 s per 230 MB here, more on slower disks), on the backup's critical path.
    """

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.started, self.written = out, 0, 0

    def wrote(self, n: int) -> None:
        self.written += n
        if _START_WRITEBACK is not None and self.written - self.started >= WRITEBACK_EVERY:
            self.out.flush()
            _START_WRITEBACK(self.out.fileno(), self.started, self.written - self.started)
            self.started = self.written
