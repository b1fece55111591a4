"""The one-pass streams: producer -> zstd (with its checksum) -> sha256 -> sink, and back.

Nothing is read twice and memory stays bounded by a few chunks, whatever the
size of the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import select
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, Protocol

import zstandard

from backup_tui.engine.core.errors import VerificationError
from backup_tui.engine.core.kinds import Reading
from backup_tui.engine.core.levels import AUTO_START, LevelChooser
from backup_tui.engine.core.progress import SIGNAL_CHECK_S, CancelToken
from backup_tui.engine.stream.adaptive import Compressed, FloorProbe, StretchMeter, WholeBackup
from backup_tui.engine.stream.sinks import Sink
from backup_tui.engine.stream.sources import Source
from backup_tui.engine.stream.stages import Stage, read_stages

CHUNK = 1 << 20  # 1 MiB: large enough for throughput, small enough for memory
# After a read that found less than a quarter of a chunk, the next waits this long: at any pace a 1 MiB pipe
# holds more than that (pg_dump never waits on it), and the reader wakes a thousand times a second at most
# where it woke for every 4-16 kB pg_dump wrote (a tenth of a second's CPU at 250 MB/s).
GATHER_S = 0.001
# Where dumps are better served than by zstd's own table of levels: level -> parameter overrides.
# At level 4 (the default), 7-byte matches instead of zstd's 5 made dumps smaller than stock level 4
# (word-like text 2.5%, pagila 3%, md5 hex 8%) and hex 6x faster to compress, where 5-6 byte matches
# are chance. Level 3 keeps zstd's 5: with its smaller tables, 7 made short app rows 3% larger.
# At level 2, where "auto" spends the bytes its spare CPU pays for one level up, a hash table of 2^17
# entries instead of 2^16 stored word-like dumps 1.3-2.3% smaller for 5-10% more CPU (two threads): most of
# level 3's gain (2.2-3.2%) for a quarter of its price (20-43%). Random hex, random bytes and event rows
# changed by 0.3% either way; "auto" keeps those at level 1.
LEVEL_OVERRIDES: dict[int, dict[str, int]] = {2: {"hash_log": 17}, 4: {"min_match": 7}}


# zstd's workers take jobs of four windows (levels 3-8: 8 MiB), each held with its output while it runs and
# queued: from level 9 (4 MiB windows) that made 16 MiB jobs, and a backup streamed to S3 at level 9 peaked at
# 193 MB of our 200 MB bound (212 MB encrypted). Jobs stay at 8 MiB: memory stays where level 8 has it.
MAX_JOB = 8 << 20


def zstd_parameters(level: int, threads: int) -> zstandard.ZstdCompressionParameters:
    """zstd's ``level`` with our measured overrides (``LEVEL_OVERRIDES``), a checksum, ``threads``, and jobs
    of at most ``MAX_JOB``."""
    overrides = dict(LEVEL_OVERRIDES.get(level, {}))
    params = zstandard.ZstdCompressionParameters.from_level(level, threads=threads, write_checksum=1, **overrides)
    if threads > 1 and 4 << params.window_log > MAX_JOB:
        overrides["job_size"] = MAX_JOB
        params = zstandard.ZstdCompressionParameters.from_level(level, threads=threads, write_checksum=1,
                                                                 **overrides)
    return params


@dataclass(frozen=True)
class StreamStats:
    raw_bytes: int
    raw_sha256: str
    stored_bytes: int
    stored_sha256: str
    # How the bytes were written, not what they are: two reads of one stream compare equal without them.
    levels: dict[str, int] = field(default_factory=dict, compare=False)  # zstd level -> raw bytes at it
    compresses_poorly: bool = field(default=False, compare=False)  # "auto" found no level would help (core.levels)
    dump_pace: float = field(default=0.0, compare=False)  # the dump's own bytes a second, where "auto" measured it
    kept_level: int = field(default=0, compare=False)  # "auto": the level its last judgement kept (LevelChooser.kept)


class Decoder(Protocol):
    def decompress(self, data: bytes) -> bytes: ...


def pipe_reader(fd: int, cancel: CancelToken) -> Callable[[int], bytes]:
    """``os.read`` of a pipe that wakes up while it is quiet (pg_dump waiting on a lock sends nothing).

    Waking lets the calling thread act on a cancel, or on a signal the kernel handed to one of the
    compressor's threads instead of this one, within ``SIGNAL_CHECK_S``.
    """

    short = False
    gather = pipe_size(fd) >= CHUNK  # a narrow pipe fills within GATHER_S: pg_dump would wait on it

    def read(n: int) -> bytes:
        nonlocal short
        if short:  # a writer of a few kB at a time (pg_dump without stdbuf): let them gather, not wake for each
            time.sleep(GATHER_S)
        while not select.select([fd], [], [], SIGNAL_CHECK_S)[0]:
            cancel.raise_if_cancelled()
        data = os.read(fd, n)
        short = gather and len(data) < n // 4
        return data

    return read


def pipe_size(fd: int) -> int:
    """What the pipe holds (Linux); elsewhere, or not a pipe, 0."""
    try:
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    except (OSError, AttributeError):
        return 0


def widen_pipe(fd: int) -> None:
    """Ask for a 1 MiB pipe (Linux): each read from pg_dump moves a whole chunk instead of 64 KiB, and
    pg_restore has a whole decoded chunk to read while the next one is decoded."""
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, CHUNK)


class _Frames:
    """zstd frames in a row: a change of level ends one frame and starts the next, so every frame is
    standard zstd (``zstd -d`` and older readers decode the concatenation) and carries its checksum."""

    def __init__(self, level: int, threads: int, emit: Callable[[bytes], None]) -> None:
        self.threads, self.emit, self.levels = threads, emit, dict[str, int]()
        self._done = (0, 0)  # raw bytes compressed and what they made, in the frames already ended
        self._start(level)

    def _start(self, level: int) -> None:
        self.level = level
        self._cctx = zstandard.ZstdCompressor(compression_params=zstd_parameters(level, self.threads))
        self._chunker = self._cctx.chunker(chunk_size=CHUNK)  # output in pieces of CHUNK: no burst of the last jobs

    def progress(self) -> Compressed:
        """zstd's count so far, every frame's and the current one's ratio: exact where the output handed on is
        not (held in pieces of CHUNK, and behind the jobs still running)."""
        _, consumed, produced = self._cctx.frame_progression()
        return Compressed(self._done[0] + consumed, self._done[1] + produced, consumed / produced if produced else 0.0)

    def compress(self, chunk: bytes) -> None:
        self.levels[str(self.level)] = self.levels.get(str(self.level), 0) + len(chunk)
        for block in self._chunker.compress(chunk):
            self.emit(block)

    def finish(self) -> None:
        for block in self._chunker.finish():  # type: ignore[no-untyped-call]  # unannotated in zstandard 0.25's stub
            self.emit(block)

    def drain(self) -> None:
        """Hand on every byte given so far: zstd ends the job it fills and waits for all of them (its flush);
        the frame goes on."""
        for block in self._chunker.flush():  # type: ignore[no-untyped-call]  # unannotated in zstandard 0.25
            self.emit(block)

    def switch(self, level: int) -> None:
        if level != self.level:
            self.finish()
            self._done = self.progress()[:2]
            self._start(level)


def compress(
    read: Callable[[int], bytes],
    sink: Sink,
    *,
    level: int | Literal["auto"],
    threads: int,
    cancel: CancelToken,
    on_bytes: Callable[[int], None] = lambda n: None,
    stages: Sequence[Stage] = (),
    slowdown: float = 0.0,
    backup: WholeBackup | None = None,
) -> StreamStats:
    """Read ``read(CHUNK)`` until empty; compress with zstd, pass it through ``stages`` (encryption),
    hash what is stored, hand it to ``sink``, close the sink (durable when this returns). The sink is
    the repository's: a file here, an upload later; the stages do not know which. ``level="auto"``:
    the level follows the spare CPU (``core.levels``), measured every ``adaptive.STRETCH_S``, and may buy one
    level more while the backup takes at most ``slowdown`` more time than the dump alone (its pace measured
    when a level is asked for, ``adaptive.FloorProbe``): the whole ``backup``'s time counts (by default, from
    this call, with the dump's size not known).

    The raw stream is not hashed: zstd's frame checksum (of the raw bytes, written by the
    compressor) proves a decode is exact, and the stored sha256 binds the file; a second
    sha256 cost a tenth of the backup's CPU for no further protection.
    """
    stored_hash = hashlib.sha256()
    raw_total = stored_total = 0

    def emit(block: bytes, final: bool = False) -> None:
        nonlocal stored_total
        for stage in stages:
            block = stage.update(block) + (stage.finish() if final else b"")
        if block:
            stored_hash.update(block)
            stored_total += len(block)
            sink.write(block)

    auto = backup if level == "auto" and backup else None
    chooser = LevelChooser(level if isinstance(level, int) else AUTO_START, slowdown=slowdown,  # for "auto" only
                           expected_raw=auto.expected_raw if auto else 0, warm=auto.last_level if auto else 0)
    frames = _Frames(chooser.level, threads, emit)
    meter = StretchMeter(backup) if level == "auto" else None
    probe: FloorProbe | None = None  # the dump alone being timed, its chunks held back

    def release(held: FloorProbe) -> None:
        for chunk in held.release():
            frames.compress(chunk)
            if meter is not None:
                meter.read(chunk)  # its bytes and alphabet count as any other chunk's

    while True:
        cancel.raise_if_cancelled()
        asked = time.monotonic()
        chunk = read(CHUNK)
        if not chunk:
            break
        read_at = time.monotonic()
        raw_total += len(chunk)
        on_bytes(raw_total)
        if probe is not None:
            if probe.hold(chunk, CHUNK):
                frames.switch(chooser.floor_measured(probe.rate))
                release(probe)
                probe = None
                assert meter is not None
                meter.restart()
        else:
            frames.compress(chunk)
            if meter is not None:
                stretch = meter.add(chunk, frames.progress(), read_at - asked, time.monotonic() - read_at)
                if stretch is not None:
                    frames.switch(chooser.judge(stretch))
        if probe is None and chooser.wants_floor:  # asked for by the asks, or by a first measure
            frames.drain()  # zstd's workers idle: the probe times the dump alone
            probe = FloorProbe()
    if probe is not None:  # the dump ended within the probe
        release(probe)
    frames.finish()
    emit(b"", final=True)
    sink.close()
    poorly = meter is not None and meter.whole(frames.progress()).compresses_poorly
    return StreamStats(raw_total, "", stored_total, stored_hash.hexdigest(), frames.levels, poorly, chooser.floor,
                       chooser.kept if meter is not None else 0)


class _FramesDecoder:
    """Frames in a row (zstd's after a change of level, gzip's members as ``cat a.gz b.gz`` makes), each
    decoded by a fresh object; ``eof`` is true only at the end of a whole frame."""

    def __init__(self, new: Callable[[], Any]) -> None:
        self._new = new
        self._obj = new()
        self.eof = False

    def decompress(self, data: bytes) -> bytes:
        out = []
        while data:
            out.append(self._obj.decompress(data))
            self.eof = self._obj.eof
            data = self._obj.unused_data if self._obj.eof else b""
            if data:
                self._obj = self._new()
                self.eof = False
        return b"".join(out)


def _decoder(compression: str) -> tuple[Decoder, Callable[[], bool]]:
    if compression in ("zstd", "gzip"):
        frames = _FramesDecoder(
            (lambda: zstandard.ZstdDecompressor().decompressobj(write_size=CHUNK)) if compression == "zstd"
            else (lambda: zlib.decompressobj(wbits=31)))
        return frames, lambda: frames.eof
    if compression == "none":
        class _Plain:
            def decompress(self, data: bytes) -> bytes:
                return data
        return _Plain(), lambda: True
    raise VerificationError(f"unknown compression {compression!r}")


def decode(
    source: Source,
    reading: Reading | str,
    *,
    cancel: CancelToken,
    sink: Callable[[bytes], None] = lambda b: None,
    on_bytes: Callable[[int], None] = lambda n: None,
    hash_raw: bool = True,
) -> StreamStats:
    """Read the stored bytes once: hash them, undo ``reading``'s stages (decrypt, then decompress; a bare
    decoder name for a stream that is only compressed) to the end, hash the raw stream, feed ``sink``.

    A stream that does not decode, or stops before its end, raises VerificationError
    naming the byte offset, so a bit flip and a truncation are told apart. Restores pass
    ``hash_raw=False``: the stored sha256 and zstd's own checksum already vouch for the
    decoded bytes, and the second hash would cost a sixth of the restore's CPU.
    """
    raw_hash, stored_hash = hashlib.sha256(), hashlib.sha256()
    raw_total = stored_total = 0
    reading = Reading((reading,)) if isinstance(reading, str) else reading
    compression = reading.decoder
    decoder, at_end = _decoder(compression)
    unwrap = read_stages(reading)

    def feed(chunk: bytes, final: bool = False) -> None:
        nonlocal raw_total
        try:
            for stage in unwrap:
                chunk = stage.update(chunk) + (stage.finish() if final else b"")
        except VerificationError as exc:
            raise VerificationError(f"{source.name}: {exc.message}") from None
        try:
            raw = decoder.decompress(chunk)
        except (zstandard.ZstdError, zlib.error) as exc:
            where = f"bytes {stored_total:,}-{stored_total + len(chunk):,}" if not unwrap else "its decrypted stream"
            raise VerificationError(f"{source.name}: {compression} stream is corrupt within {where}: {exc}") from None
        if raw:
            if hash_raw:
                raw_hash.update(raw)
            raw_total += len(raw)
            sink(raw)

    with source.open() as src:
        for chunk in _chunks(src):
            cancel.raise_if_cancelled()
            stored_hash.update(chunk)
            feed(chunk)
            stored_total += len(chunk)
            on_bytes(stored_total)
        if unwrap:
            feed(b"", final=True)
    if not at_end():
        raise VerificationError(
            f"{source.name}: {compression} stream ends early after {stored_total:,} bytes (truncated)"
        )
    return StreamStats(raw_total, raw_hash.hexdigest() if hash_raw else "", stored_total, stored_hash.hexdigest())


def _chunks(src: BinaryIO) -> Iterator[bytes]:
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            return
        yield chunk


def sha256_of(source: Source, cancel: CancelToken | None = None) -> tuple[str, int]:
    digest, total = hashlib.sha256(), 0
    with source.open() as src:
        for chunk in _chunks(src):
            if cancel is not None:
                cancel.raise_if_cancelled()
            digest.update(chunk)
            total += len(chunk)
    return digest.hexdigest(), total
