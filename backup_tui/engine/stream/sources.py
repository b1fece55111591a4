"""Where stored bytes come from: a source opens a fresh reader of one backup's stored bytes.

A local file today (``FileSource``); an object in a bucket read with ranged GETs slots in with the
same calls, so the decoder, the hashes and pg_restore never learn where the bytes come from.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import queue
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from backup_tui.engine.stream.page_cache import ReadOnce

READ_AHEAD_BLOCK = 1 << 20
READ_AHEAD_DEPTH = 16  # blocks: 16 MiB on the way while the caller decodes the last ones
# How far ahead a reader starts: the depth grows by a block with each block taken, so a reader that stops
# after the table of contents (a restore's planning steps read three) has not had 16 MiB fetched for it.
READ_AHEAD_START = 2


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
        """A plain file only: a FIFO planted in its place would block the reader for ever (opened without
        waiting, then refused), a device would never end. What is read leaves the page cache behind the
        reader (``page_cache``): a verify or restore of the whole file keeps the server's cache."""
        fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a plain file", str(self.path))
        os.set_blocking(fd, True)
        return io.BufferedReader(ReadOnce(fd))


class ReadAhead(io.RawIOBase):
    """``inner`` read by a thread of its own, up to ``READ_AHEAD_DEPTH`` blocks ahead of the caller (from
    ``READ_AHEAD_START``, a block more with each taken): a network source's next bytes arrive while the last
    ones are decoded and restored, instead of after. An error in the thread reaches the caller where the bytes
    stop; ``close`` stops the thread first."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=READ_AHEAD_DEPTH)
        self._stop = threading.Event()
        self._pending = memoryview(b"")
        self._ended = False
        self._taken = 0  # blocks the caller took: how far ahead the thread may read
        self._gate = threading.Condition()
        self._thread = threading.Thread(target=self._fill, name="read-ahead", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        try:
            read = 0
            while not self._stop.is_set():
                with self._gate:
                    while read >= 2 * self._taken + READ_AHEAD_START and not self._stop.is_set():
                        self._gate.wait()
                data = self._inner.read(READ_AHEAD_BLOCK)
                read += 1
                if not data:
                    self._put(None)
                    return
                self._put(data)
        except BaseException as exc:  # handed to the reader, raised there
            self._put(exc)

    def _put(self, item: bytes | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not self._pending:
            if self._ended or not len(view):
                return 0
            item = self._queue.get()
            with self._gate:
                self._taken += 1
                self._gate.notify()
            if item is None or isinstance(item, BaseException):
                self._ended = True
                if item is None:
                    return 0
                raise item
            self._pending = memoryview(item)
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._stop.set()
        with self._gate:
            self._gate.notify()
        self._thread.join(timeout=30)
        with contextlib.suppress(Exception):
            self._inner.close()
        super().close()
