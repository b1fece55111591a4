"""The one-pass stream, on bytes we make: hashes, bounded reads, damage detection."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from backup_tui.engine.errors import Cancelled, VerificationError
from backup_tui.engine.pipeline import CHUNK, compress_to_file, decode_file, sha256_file
from backup_tui.engine.progress import CancelToken


def source(data: bytes) -> tuple[list[int], object]:
    sizes: list[int] = []
    pos = 0

    def read(n: int) -> bytes:
        nonlocal pos
        sizes.append(n)
        chunk = data[pos:pos + n]
        pos += len(chunk)
        return chunk

    return sizes, read


def test_round_trip_hashes_both_sides(tmp_path: Path) -> None:
    data = os.urandom(1 << 20) + b"text " * 600_000
    sizes, read = source(data)
    out = tmp_path / "x.zst"
    stats = compress_to_file(read, out, level=3, threads=2, cancel=CancelToken())  # type: ignore[arg-type]
    assert set(sizes) == {CHUNK}  # bounded reads: memory does not grow with the input
    assert stats.raw_bytes == len(data) and stats.raw_sha256 == hashlib.sha256(data).hexdigest()
    assert stats.stored_bytes == out.stat().st_size
    assert stats.stored_sha256 == sha256_file(out)[0]
    received = bytearray()
    back = decode_file(out, "zstd", cancel=CancelToken(), sink=received.extend)
    assert bytes(received) == data and back == stats


def test_truncated_and_flipped_streams_are_told_apart(tmp_path: Path) -> None:
    out = tmp_path / "x.zst"
    _, read = source(b"abc" * 1_000_000)
    compress_to_file(read, out, level=3, threads=1, cancel=CancelToken())  # type: ignore[arg-type]
    whole = out.read_bytes()
    out.write_bytes(whole[:-10])
    with pytest.raises(VerificationError, match=r"truncated|corrupt"):
        decode_file(out, "zstd", cancel=CancelToken())
    flipped = bytearray(whole)
    flipped[len(flipped) // 2] ^= 0xFF
    out.write_bytes(bytes(flipped))
    with pytest.raises(VerificationError, match="corrupt"):
        decode_file(out, "zstd", cancel=CancelToken())


def test_gzip_with_several_members(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"one\n") + gzip.compress(b"two\n"))
    received = bytearray()
    decode_file(path, "gzip", cancel=CancelToken(), sink=received.extend)
    assert bytes(received) == b"one\ntwo\n"
    path.write_bytes(gzip.compress(b"x" * 100000)[:-20])
    with pytest.raises(VerificationError, match="truncated"):
        decode_file(path, "gzip", cancel=CancelToken())


def test_cancel_stops_between_chunks(tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    _, read = source(b"x" * 10)
    with pytest.raises(Cancelled):
        compress_to_file(read, tmp_path / "c.zst", level=1, threads=1, cancel=token)  # type: ignore[arg-type]
