"""The one-pass stream, on bytes we make: hashes, bounded reads, damage detection."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import pytest
import zstandard

from backup_tui.engine.core.errors import Cancelled, VerificationError
from backup_tui.engine.core.progress import CancelToken
from backup_tui.engine.stream.pipeline import (
    CHUNK,
    GATHER_S,
    compress,
    decode,
    pipe_reader,
    pipe_size,
    sha256_of,
    widen_pipe,
    zstd_parameters,
)
from backup_tui.engine.stream.sinks import FileSink
from backup_tui.engine.stream.sources import FileSource


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


def test_round_trip_hashes_what_is_stored(tmp_path: Path) -> None:
    data = os.urandom(1 << 20) + b"text " * 600_000
    sizes, read = source(data)
    out = tmp_path / "x.zst"
    stats = compress(read, FileSink(out), level=3, threads=2, cancel=CancelToken())  # type: ignore[arg-type]
    assert set(sizes) == {CHUNK}  # bounded reads: memory does not grow with the input
    assert stats.raw_bytes == len(data) and stats.raw_sha256 == ""  # zstd's own checksum covers the raw bytes
    assert stats.stored_bytes == out.stat().st_size
    assert stats.stored_sha256 == sha256_of(FileSource(out))[0]
    received = bytearray()
    back = decode(FileSource(out), "zstd", cancel=CancelToken(), sink=received.extend, hash_raw=False)
    assert bytes(received) == data and back == stats
    assert decode(FileSource(out), "zstd", cancel=CancelToken()).raw_sha256 == hashlib.sha256(data).hexdigest()


def test_truncated_and_flipped_streams_are_told_apart(tmp_path: Path) -> None:
    out = tmp_path / "x.zst"
    _, read = source(b"abc" * 1_000_000)
    compress(read, FileSink(out), level=3, threads=1, cancel=CancelToken())  # type: ignore[arg-type]
    whole = out.read_bytes()
    out.write_bytes(whole[:-10])
    with pytest.raises(VerificationError, match=r"truncated|corrupt"):
        decode(FileSource(out), "zstd", cancel=CancelToken())
    flipped = bytearray(whole)
    flipped[len(flipped) // 2] ^= 0xFF
    out.write_bytes(bytes(flipped))
    with pytest.raises(VerificationError, match="corrupt"):
        decode(FileSource(out), "zstd", cancel=CancelToken())



def test_a_decode_that_differs_from_what_was_compressed_fails_on_zstds_checksum(tmp_path: Path) -> None:
    """What the raw sha256 used to catch: the frame's checksum of the raw bytes, written by the compressor."""
    out = tmp_path / "x.zst"
    _, read = source(os.urandom(3_000_000))
    compress(read, FileSink(out), level=3, threads=2, cancel=CancelToken())  # type: ignore[arg-type]
    whole = bytearray(out.read_bytes())
    whole[-1] ^= 0x01  # the last 4 bytes are the checksum: the content itself decodes fine
    out.write_bytes(bytes(whole))
    with pytest.raises(VerificationError, match="corrupt"):
        decode(FileSource(out), "zstd", cancel=CancelToken(), hash_raw=False)


def test_gzip_with_several_members(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"one\n") + gzip.compress(b"two\n"))
    received = bytearray()
    decode(FileSource(path), "gzip", cancel=CancelToken(), sink=received.extend)
    assert bytes(received) == b"one\ntwo\n"
    path.write_bytes(gzip.compress(b"x" * 100000)[:-20])
    with pytest.raises(VerificationError, match="truncated"):
        decode(FileSource(path), "gzip", cancel=CancelToken())


def test_cancel_stops_between_chunks(tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    _, read = source(b"x" * 10)
    with pytest.raises(Cancelled):
        compress(read, FileSink(tmp_path / "c.zst"), level=1, threads=1, cancel=token)  # type: ignore[arg-type]


def test_the_backup_file_is_synced_as_it_grows_so_its_last_fsync_is_short(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SYNC_EVERY bytes an fdatasync of the file runs beside the writer; close still fsyncs at the end."""
    from backup_tui.engine.stream import sinks

    synced: list[int] = []
    real_fdatasync = os.fdatasync
    monkeypatch.setattr(sinks, "SYNC_EVERY", 1 << 20)

    def fdatasync(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    sink = sinks.FileSink(tmp_path / "x.zst")
    for _ in range(6):
        sink.write(os.urandom(1 << 20))
        sink._syncing.finish()  # one sync at a time: let each end before the next write
    sink.close()
    assert synced == [n << 20 for n in range(1, 7)]


def sink_on_a_failing_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FileSink:
    """A backup file that has had 2 MiB written, where every fdatasync fails (EIO): its first sync is under way."""
    from backup_tui.engine.stream import sinks

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(sinks, "SYNC_EVERY", 1 << 20)
    monkeypatch.setattr(os, "fdatasync", failing)
    sink = sinks.FileSink(tmp_path / "x.zst")
    sink.write(os.urandom(2 << 20))
    return sink


def test_a_write_error_met_by_a_sync_on_the_way_fails_the_close(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux tells an fd's writeback error to one sync only: met in the thread, it must not be lost at close."""
    sink = sink_on_a_failing_disk(tmp_path, monkeypatch)
    with pytest.raises(OSError, match="Input/output error"):
        sink.close()


def test_a_sync_that_failed_stops_the_writer_at_its_next_write(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing disk is said at the next write, not after the rest of the backup went to it."""
    sink = sink_on_a_failing_disk(tmp_path, monkeypatch)
    with pytest.raises(OSError, match="Input/output error"):
        for _ in range(100):  # the sync runs in its thread: the write after it ended raises
            sink.write(b"x")
            time.sleep(0.01)
    sink.abort()
    assert not (tmp_path / "x.zst").exists()


def test_after_a_short_read_the_reader_lets_pg_dumps_small_writes_gather(monkeypatch: pytest.MonkeyPatch) -> None:
    """pg_dump writes a few kB at a time: a reader ahead of it reads again a moment later, not at each write."""
    naps: list[float] = []
    real_sleep, reader = time.sleep, threading.get_ident()

    def sleep(seconds: float) -> None:
        if threading.get_ident() == reader:
            naps.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    read_fd, write_fd = os.pipe()
    try:
        widen_pipe(read_fd)
        if pipe_size(read_fd) < CHUNK:
            pytest.skip("this kernel would not widen the pipe: the reader does not wait on a narrow one")
        read = pipe_reader(read_fd, CancelToken())
        for piece, waited in ((b"a" * 4096, []), (b"b" * 4096, [GATHER_S]), (b"c" * (CHUNK // 2), [GATHER_S] * 2),
                              (b"d", [GATHER_S] * 2)):  # a read of half a chunk is no short one: no wait after
            os.write(write_fd, piece)
            assert read(CHUNK) == piece and naps == waited
    finally:
        os.close(read_fd)
        os.close(write_fd)


@pytest.mark.parametrize("level", range(1, 23))
def test_zstd_levels_are_zstds_own_but_level_2_hashes_wider_and_level_4_looks_for_matches_of_seven_bytes(
        level: int) -> None:
    ours, stock = zstd_parameters(level, 2), zstandard.ZstdCompressionParameters.from_level(level)
    assert (ours.threads, ours.write_checksum) == (2, 1)
    assert ours.min_match == (7 if level == 4 else stock.min_match)
    assert ours.hash_log == (17 if level == 2 else stock.hash_log)
    assert (ours.strategy, ours.window_log, ours.chain_log) == (stock.strategy, stock.window_log, stock.chain_log)


def test_level_2s_wider_hash_stores_word_like_text_smaller_than_zstds_own_level_2() -> None:
    """The override is worth its CPU only while it pays on the text most dumps hold: words drawn from a skewed
    vocabulary, more distinct than zstd's 2^16 entries keep track of."""
    rng = random.Random(7)
    vocabulary = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 11)))
                  for _ in range(30_000)]
    text = " ".join(vocabulary[int(rng.random() ** 4 * len(vocabulary))] for _ in range(1_500_000)).encode()
    stock = zstandard.ZstdCompressor(compression_params=zstandard.ZstdCompressionParameters.from_level(2))
    ours = zstandard.ZstdCompressor(compression_params=zstd_parameters(2, 1))
    assert len(ours.compress(text)) < 0.99 * len(stock.compress(text))


@pytest.mark.parametrize("level", range(1, 23))
def test_zstd_jobs_stay_at_eight_mib_from_level_nine_so_memory_stays_where_level_eight_has_it(level: int) -> None:
    """zstd's own job size is four windows: 8 MiB at levels 3-8, 16 MiB and more from level 9, each job held with
    its output while queued. Ours stops at 8 MiB; one thread (no jobs) and lower levels keep zstd's choice."""
    assert zstd_parameters(level, 2).job_size == (0 if level <= 8 else 8 << 20)
    assert zstd_parameters(level, 1).job_size == 0


def test_a_level_nine_stream_in_eight_mib_jobs_decodes_with_zstd_itself(tmp_path: Path) -> None:
    words = [os.urandom(6).hex().encode() for _ in range(3000)]
    data = b" ".join(words[(i * 7919) % 3000] for i in range(2_400_000))[: 24 << 20]
    _, read = source(data)
    out = tmp_path / "x.zst"
    compress(read, FileSink(out), level=9, threads=2, cancel=CancelToken())  # type: ignore[arg-type]
    decoded = subprocess.run(["zstd", "-dc", str(out)], capture_output=True, check=True).stdout
    assert decoded == data
