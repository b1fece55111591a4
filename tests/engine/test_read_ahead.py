"""Reading ahead of the decoder: a network source's next bytes arrive while the last ones are decoded."""

from __future__ import annotations

import io
import os
import time
from typing import Any, BinaryIO, cast

import pytest

from backup_tui.engine.stream.sources import READ_AHEAD_BLOCK, READ_AHEAD_DEPTH, READ_AHEAD_START, ReadAhead


class Failing(io.RawIOBase):
    """``data`` then the error a dropped connection gives, as a reader of a bucket would raise it."""

    def __init__(self, data: bytes) -> None:
        self.inner, self.closed_by_us = io.BytesIO(data), False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.inner.readinto(buffer)
        if not n:
            raise OSError("the store went away")
        return n

    def close(self) -> None:
        self.closed_by_us = True
        super().close()


def test_every_byte_arrives_in_order_whatever_the_reads() -> None:
    data = os.urandom(3 * READ_AHEAD_BLOCK + 12345)
    for size in (1, 4096, READ_AHEAD_BLOCK, 5 * READ_AHEAD_BLOCK):
        reader = ReadAhead(cast(BinaryIO, io.BytesIO(data)))
        got = bytearray()
        while chunk := reader.read(size if size > 1 else 70_001):
            got += chunk
        reader.close()
        assert bytes(got) == data


def test_an_error_reaches_the_reader_where_the_bytes_stop() -> None:
    data = os.urandom(READ_AHEAD_BLOCK + 7)
    reader = ReadAhead(cast(BinaryIO, Failing(data)))
    got = bytearray()
    with pytest.raises(OSError, match="the store went away"):
        while chunk := reader.read(65536):
            got += chunk
    assert bytes(got) == data  # everything before the failure, nothing made up after it


def test_closing_stops_the_thread_and_the_inner_reader() -> None:
    inner = Failing(os.urandom((READ_AHEAD_DEPTH + 4) * READ_AHEAD_BLOCK))
    reader = ReadAhead(cast(BinaryIO, inner))
    reader.read(10)  # the thread has filled its queue and waits to put more
    started = time.monotonic()
    reader.close()
    assert time.monotonic() - started < 5
    assert inner.closed_by_us and not reader._thread.is_alive()


class Counting(io.RawIOBase):
    """A long source that counts the reads asked of it."""

    def __init__(self, blocks: int) -> None:
        self.inner, self.reads = io.BytesIO(bytes(blocks * READ_AHEAD_BLOCK)), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.reads += 1
        return self.inner.readinto(buffer)


def test_a_reader_that_stops_early_has_little_fetched_for_it() -> None:
    """A table-of-contents read takes a block or two of a backup: 16 MiB fetched for it was a waste, and in a
    bucket a request more for the next reader of the same start."""
    inner = Counting(READ_AHEAD_DEPTH * 4)
    reader = ReadAhead(cast(BinaryIO, inner))
    reader.read(READ_AHEAD_BLOCK)
    time.sleep(0.2)  # the thread reads what it may
    assert inner.reads <= 2 + READ_AHEAD_START
    while reader.read(READ_AHEAD_BLOCK):
        pass  # a reader that goes on gets the full depth, and every byte (test above)
    reader.close()
    assert inner.reads >= READ_AHEAD_DEPTH * 4
