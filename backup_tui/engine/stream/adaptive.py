"""What "auto" compression measures as a backup runs: the idle CPUs it may use (``/proc/stat``), the
reader's waits and how far the data's alphabet alone would shrink it, gathered into stretches for
``core.levels.next_level`` to judge."""

from __future__ import annotations

import os
import time
import zlib
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from backup_tui.engine.core.levels import Stretch

STRETCH_S = 0.3  # long enough for /proc/stat's 100 Hz ticks (60 on two CPUs), short enough to climb in a second
SAMPLE_BYTES = 16 << 10  # of a chunk, coded by byte frequency alone: 0.1-0.4 ms
# One sample every 4 MiB read (one 1 MiB chunk in four): a stretch at full speed holds dozens of chunks, and each
# sample is CPU taken on the thread that feeds zstd, on a machine the dump and zstd already saturate. By bytes, not
# by chunks: a small table came in reads of a few kB and, sampled one read in four, outweighed the 50 MB after it.
SAMPLE_EVERY = 4 << 20
PROC_STAT = Path("/proc/stat")
# The dump alone is timed over this long or this many bytes, whichever comes first, once zstd's workers have
# had this long to finish; held back meanwhile, at most PROBE_HELD bytes: a backup streamed to a bucket peaked
# at 150 MB, and the memory goal is 200.
PROBE_S = 0.3
PROBE_BYTES = 24 << 20
PROBE_SETTLE_S = 0.05
PROBE_HELD = 32 << 20


def usable_cpus() -> set[int]:
    """The CPUs this process may run on (taskset and cgroup cpusets shrink it)."""
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def symbol_coded_size(sample: bytes) -> int:
    """``sample``'s size coded by byte frequencies alone (deflate's Huffman-only mode): what its alphabet
    allows without finding a single repeat."""
    coder = zlib.compressobj(1, zlib.DEFLATED, -15, 9, zlib.Z_HUFFMAN_ONLY)
    return len(coder.compress(sample)) + len(coder.flush())


class IdleCpus:
    """Average idle CPUs among ``usable_cpus()`` between two calls; where /proc/stat cannot be read, every
    usable CPU counts as idle, so only the reader's waits decide."""

    def __init__(self) -> None:
        self.cpus = usable_cpus()
        self._last = self._ticks()

    def _ticks(self) -> tuple[int, int] | None:
        """(idle, total) ticks summed over our CPUs."""
        try:
            lines = PROC_STAT.read_text().splitlines()
        except OSError:
            return None
        idle = total = 0
        for line in lines:
            name, _, rest = line.partition(" ")
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in self.cpus:
                values = [int(v) for v in rest.split()]
                idle += values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
                total += sum(values[:8])  # guest time is counted inside user already
        return idle, total

    def since_last(self) -> float:
        now = self._ticks()
        before, self._last = self._last, now
        if now is None or before is None or now[1] <= before[1]:
            return float(len(self.cpus))
        return len(self.cpus) * (now[0] - before[0]) / (now[1] - before[1])


class FloorProbe:
    """The dump's own pace, what ``pg_dump > /dev/null`` would keep: for a moment its chunks are read and held
    back from the compressor, then handed on. On a machine that runs the server too, the compressor's CPU
    slows the dump by a share this tells (``LevelChooser.floor``); the bytes stored are the same, only later.

    zstd's workers are drained first; what piled up meanwhile (a full pipe, the server's socket buffers) comes
    faster than the dump goes, so the clock starts ``PROBE_SETTLE_S`` in, at a read that found less than a
    whole chunk (the reader has caught up with pg_dump)."""

    def __init__(self) -> None:
        self.held: deque[bytes] = deque()
        self.began, self.started = time.monotonic(), 0.0  # started 0: the clock has not started
        self.size = self.taken = 0

    def hold(self, chunk: bytes, whole: int) -> bool:
        """Hold ``chunk`` (read asking for ``whole`` bytes); True when the probe is over (then ``rate``,
        ``release``)."""
        now = time.monotonic()
        self.held.append(chunk)
        self.size += len(chunk)
        if not self.started:
            if now - self.began >= PROBE_SETTLE_S and len(chunk) < whole:
                self.started = now
            return self.size >= PROBE_HELD  # a dump the reader never catches up with: no measure
        self.taken += len(chunk)
        return now - self.started >= PROBE_S or self.taken >= PROBE_BYTES or self.size >= PROBE_HELD

    @property
    def rate(self) -> float:
        seconds = time.monotonic() - self.started
        return self.taken / seconds if self.started and self.taken and seconds > 0 else 0.0

    def release(self) -> Iterator[bytes]:
        """The chunks held, oldest first, each let go as it is handed on."""
        while self.held:
            yield self.held.popleft()


class Compressed(NamedTuple):
    """zstd's own count so far: raw bytes compressed and the bytes they made, every frame's, and the current
    frame's ratio alone (0 until its first job is done)."""

    raw: int
    stored: int
    frame_ratio: float = 0.0


class WholeBackup(NamedTuple):
    """Where "auto"'s budget counts from (``time.monotonic()`` values): the backup's start, our own start
    included, and pg_dump's; the dump's expected raw size (0: not known); the level the last backup of the
    database kept (``LevelChooser.kept``, from its manifest; 0: none)."""

    began: float
    dump_began: float
    expected_raw: int = 0
    last_level: int = 0


class StretchMeter:
    """Times the reader's waits and the compressor's work; hands out a ``Stretch`` every ``STRETCH_S``.

    Sizes come from zstd's own count of the raw bytes it has compressed and the bytes they made (exact,
    where the output handed on lags behind the jobs still running). They fade by half each stretch
    instead of starting again: a few stretches together follow the data from one table to the next.
    ``whole`` keeps the totals. Each stretch also says where the whole backup stands (``backup``): the seconds
    since it began, the bytes read, and how long pg_dump took to send its first ones."""

    def __init__(self, backup: WholeBackup | None = None) -> None:
        self.idle = IdleCpus()
        self.started, self.wait_s, self.work_s = time.monotonic(), 0.0, 0.0
        self.backup = backup or WholeBackup(self.started, self.started)
        self.dump_start_s = 0.0
        self.recent = [0.0, 0.0, 0.0, 0.0]  # compressed raw, stored, sampled, coded: faded
        self.new_bytes = 0  # read, this stretch alone
        self.total = [0, 0, 0, 0]
        self.chunks = 0
        self.read_bytes = 0  # read from the dump so far, held ones too
        self._to_sample = 0  # bytes to read before the next sample

    def add(self, chunk: bytes, compressed: Compressed, wait_s: float, work_s: float) -> Stretch | None:
        """Count ``chunk`` (read after ``wait_s``, handed to zstd in ``work_s``), with zstd's count after it."""
        first = not self.chunks
        if first:  # the wait for the first bytes is pg_dump starting (catalog queries), not its pace: the clock
            if not self.dump_start_s:  # the backup's first chunk, not the first after a probe
                self.dump_start_s = time.monotonic() - self.backup.dump_began
            self.started, self.idle = time.monotonic(), IdleCpus()  # starts after the first chunk, without it
        self.chunks += 1
        self._count(0, compressed.raw - self.total[0])
        self._count(1, compressed.stored - self.total[1])
        self.read(chunk)
        if not first:
            self.new_bytes += len(chunk)
            self.wait_s += wait_s
            self.work_s += work_s
        now = time.monotonic()
        if now - self.started < STRETCH_S:
            return None
        raw, stored, sampled, coded = self.recent
        stretch = Stretch(int(raw), int(stored), self.wait_s, self.work_s, self.idle.since_last(),
                          sampled / coded if coded else 0.0, self.new_bytes, compressed.frame_ratio,
                          now - self.backup.began, self.read_bytes, self.dump_start_s)
        self.recent = [n / 2 for n in self.recent]
        self.started, self.wait_s, self.work_s, self.new_bytes = now, 0.0, 0.0, 0
        return stretch

    def read(self, chunk: bytes) -> None:
        """Note ``chunk`` read from the dump: the bytes so far, and a sample of its alphabet where one is due (by
        bytes read, so every chunk counts). ``add`` calls it; the pipeline too, for the chunks a measure of the
        dump alone held back."""
        self.read_bytes += len(chunk)
        due = self._to_sample <= 0
        self._to_sample = (SAMPLE_EVERY if due else self._to_sample) - len(chunk)
        if due:
            sample = chunk[:SAMPLE_BYTES]
            self._count(2, len(sample))
            self._count(3, symbol_coded_size(sample))

    def _count(self, i: int, n: int) -> None:
        self.recent[i] += n
        self.total[i] += n

    def restart(self) -> None:
        """The next chunk starts a stretch, as the first one did: a pause the meter did not see (a probe of
        the dump's own pace, the compressor catching up after it) is in no stretch."""
        self.chunks = 0

    def whole(self, compressed: Compressed) -> Stretch:
        """The backup so far as one stretch (``compressed`` taken after the last frame ended)."""
        _, _, sampled, coded = self.total
        return Stretch(compressed.raw, compressed.stored, 0.0, 0.0, 0.0, sampled / coded if coded else 0.0)
