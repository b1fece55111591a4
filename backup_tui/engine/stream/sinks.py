"""Where compressed bytes go: a sink takes blocks in order and makes them durable on close.

A local file today (``FileSink``); an S3 multipart upload slots in with the same three calls, so
the stages before it (zstd, sha256) never learn where the bytes end up.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import BinaryIO, Protocol

from backup_tui.engine.stream.page_cache import forget

SYNC_EVERY = 32 << 20  # make the file durable every 32 MiB as it grows, in a thread of its own


class Sink(Protocol):
    def write(self, block: bytes) -> None: ...

    def close(self) -> None:
        """Everything written is durable when this returns."""
        ...

    def abort(self) -> None:
        """Stop and leave nothing behind (a partial file, an unfinished upload)."""
        ...


class FileSink:
    """A new file (never an existing one), private to its owner, handed to the disk as it grows and dropped
    from the page cache once there (``page_cache``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self._out: BinaryIO = os.fdopen(fd, "wb")
        self._syncing = _SyncAsItGrows(fd)

    def write(self, block: bytes) -> None:
        self._out.write(block)
        self._syncing.wrote(len(block))

    def close(self) -> None:
        try:
            self._out.flush()
            self._syncing.finish()  # raises what a sync on the way met: the kernel tells an fd's write error once
            os.fsync(self._out.fileno())
            forget(self._out.fileno(), self._syncing.forgotten, os.fstat(self._out.fileno()).st_size)
        finally:
            self._out.close()

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._syncing.finish()  # before the fd closes: its number may be another file's next
        with contextlib.suppress(OSError):
            self._out.close()
        self.path.unlink(missing_ok=True)


class _SyncAsItGrows:
    """fdatasync in a thread of its own every ``SYNC_EVERY`` bytes written, one at a time, so the fsync that
    makes the file durable is quick.

    On ext4 the final fsync of a new file of 150 MB waited 0.11 s here for its journal to commit every block
    allocated so far (the data itself long on the disk): the backup's last step, on its critical path. Synced
    as it grows, only the last stretch is left to commit (0.02 s), and no CPU is spent waiting meanwhile.
    What a sync made durable leaves the page cache after it.
    """

    def __init__(self, fd: int) -> None:
        self._fd, self._since = fd, 0
        self.forgotten = 0  # the file's first bytes, synced and dropped from the page cache
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def wrote(self, n: int) -> None:
        """Count ``n`` bytes written; start a sync when due and none runs. Raises what a sync met: a disk
        that fails is said now, not after the rest of the backup is written to it."""
        if self._error is not None:
            raise self._error
        self._since += n
        if self._since >= SYNC_EVERY and not (self._thread and self._thread.is_alive()):
            self._since = 0
            self._thread = threading.Thread(target=self._sync, name="sync-as-it-grows", daemon=True)
            self._thread.start()

    def _sync(self) -> None:
        try:
            written = os.fstat(self._fd).st_size  # what this sync makes durable, at least
            getattr(os, "fdatasync", os.fsync)(self._fd)  # macOS has no fdatasync
        except OSError as exc:
            self._error = exc
            return
        forget(self._fd, self.forgotten, written)
        self.forgotten = written

    def finish(self) -> None:
        """Wait for the sync under way; raise the error any sync met (a later fsync would not see it again)."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
