""""auto" compression: the level follows the spare CPU, frames stay standard zstd, the manifest says which."""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import zstandard

from backup_tui.engine.config import Settings
from backup_tui.engine.core.levels import (
    AUTO_RANGE,
    LevelChooser,
    Stretch,
    levels_said,
    next_level,
)
from backup_tui.engine.core.next_size import grown
from backup_tui.engine.core.progress import CancelToken, LogLine, ProgressEvent
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import niced, run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.stream import adaptive
from backup_tui.engine.stream.adaptive import symbol_coded_size
from backup_tui.engine.stream.pipeline import compress, decode
from backup_tui.engine.stream.sinks import FileSink
from backup_tui.engine.stream.sources import FileSource
from tests.conftest import restore

MB = 1 << 20


def stretch(wait: float, idle_cpus: float, ratio: float = 3.0, rate_mb: float = 100.0) -> Stretch:
    """Half a second of work: ``wait`` of it spent waiting on the dump, ``rate_mb`` MiB a second taken in."""
    return Stretch(raw_bytes=64 * MB, stored_bytes=int(64 * MB / ratio), wait_s=0.5 * wait, work_s=0.5 * (1 - wait),
                   idle_cpus=idle_cpus, new_bytes=int(0.5 * rate_mb * MB))


def waiting_without_spare_cpu(rate_mb: float = 100.0, wait: float = 0.4, frame_ratio: float = 3.0) -> Stretch:
    """A small machine running the server too: no CPU idle, yet the compressor waits on the dump."""
    return replace(stretch(wait=wait, idle_cpus=0.05, rate_mb=rate_mb), frame_ratio=frame_ratio)


def denser(rate_mb: float, frame_ratio: float = 3.3) -> Stretch:
    """A stretch at the level on trial: its frame 10% smaller than ``waiting_without_spare_cpu``'s data."""
    return waiting_without_spare_cpu(rate_mb=rate_mb, frame_ratio=frame_ratio)


ALONE_MB = 100.0  # the dump's own pace in these tests, MiB a second: with slowdown 0.1, 91 MiB/s keep within


def judged(chooser: LevelChooser, stretches: list[Stretch], alone_mb: Iterable[float] = (ALONE_MB,)) -> list[int]:
    """The level after each stretch, as the pipeline has it: the dump alone measured whenever the chooser asks,
    at the paces ``alone_mb`` gives in turn (the last one again and again)."""
    paces, levels, pace = iter(alone_mb), [], 0.0
    for each in stretches:
        level = chooser.judge(each)
        while chooser.wants_floor:  # a first measure wants the next at once
            pace = next(paces, pace)
            level = chooser.floor_measured(pace * MB)
        levels.append(level)
    return levels


ASKS = LevelChooser.UP_AFTER  # stretches that ask, then FLOOR_PROBES measures of the dump alone in a row


def bought(chooser: LevelChooser) -> list[int]:
    """The asks, then the trial's three keep 92% of the dump's own pace with a 10% denser frame: the levels."""
    return judged(chooser, [waiting_without_spare_cpu()] * ASKS + [denser(r) for r in (50, 92, 92)])


def test_the_compressor_setting_the_pace_steps_down() -> None:
    assert next_level(5, stretch(wait=0.01, idle_cpus=1.0)) == 4
    assert next_level(1, stretch(wait=0.0, idle_cpus=0.0)) == 1  # never below the range


def test_a_dump_setting_the_pace_with_idle_cpu_steps_up() -> None:
    assert next_level(3, stretch(wait=0.6, idle_cpus=0.9)) == 4
    assert next_level(AUTO_RANGE[1], stretch(wait=0.9, idle_cpus=2.0)) == AUTO_RANGE[1]  # never above it


def test_a_saturated_machine_steps_down_even_while_the_compressor_waits() -> None:
    # The dump is slow because it has no CPU left, which a denser level would only make worse.
    assert next_level(4, stretch(wait=0.7, idle_cpus=0.05)) == 3


def test_between_the_marks_the_level_holds() -> None:
    assert next_level(4, stretch(wait=0.15, idle_cpus=1.5)) == 4  # waits a little: no room to be sure of
    assert next_level(4, stretch(wait=0.6, idle_cpus=0.3)) == 4  # waits, but under half a CPU is idle


def test_data_that_does_not_compress_goes_to_the_cheapest_level() -> None:
    assert next_level(6, stretch(wait=0.9, idle_cpus=2.0, ratio=1.01)) == AUTO_RANGE[0]


def test_data_random_in_its_alphabet_goes_to_the_cheapest_level() -> None:
    # Random bytes written out in hex halve at any level: zstd finds nothing beyond the 16 symbols.
    hex_like = replace(stretch(wait=0.9, idle_cpus=2.0, ratio=1.98), symbol_ratio=1.97)
    assert hex_like.compresses_poorly and next_level(6, hex_like) == AUTO_RANGE[0]
    words = replace(stretch(wait=0.9, idle_cpus=2.0, ratio=3.2), symbol_ratio=1.8)  # repeats: levels pay
    assert not words.compresses_poorly and next_level(6, words) == 8


def test_the_alphabet_is_measured_on_samples_of_the_data() -> None:
    assert symbol_coded_size(os.urandom(16384)) >= 16384  # random bytes: nothing to code shorter
    half = 16384 / symbol_coded_size(os.urandom(8192).hex().encode())
    assert 1.9 < half < 2.05  # hex: four bits a byte


def test_the_alphabet_is_sampled_every_4_mib_read_and_every_byte_counted() -> None:
    meter = adaptive.StretchMeter()
    for i in range(9):
        meter.add(b"hex0" * 262144, adaptive.Compressed(i << 20, i * 1000), 0.0, 0.0)  # 1 MiB chunks; zstd one behind
    raw, stored, sampled, coded = meter.total
    assert (raw, stored) == (8 << 20, 8000)  # what zstd says it compressed, not what was read
    assert sampled == 3 * adaptive.SAMPLE_BYTES and 0 < coded < sampled  # chunks 1, 5 and 9
    # A small table read in pieces of 4 kB weighs by its bytes: 8 MiB of them, two samples (not one read in four)
    small = adaptive.StretchMeter()
    for _ in range(2048):
        small.add(b"word " * 819 + b"x", adaptive.Compressed(0, 0), 0.0, 0.0)
    assert small.total[2] == 2 * 4096


def test_the_pace_leaves_out_pg_dumps_start_and_the_first_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adaptive, "STRETCH_S", 0.0)  # a stretch after every chunk
    meter = adaptive.StretchMeter()
    first = meter.add(b"x" * MB, adaptive.Compressed(0, 0), 5.0, 0.01)  # five seconds of catalog queries before it
    assert first is not None and (first.new_bytes, first.wait_s, first.work_s) == (0, 0.0, 0.0)
    second = meter.add(b"x" * MB, adaptive.Compressed(MB, MB // 4, frame_ratio=4.0), 0.25, 0.25)
    assert second is not None and second.rate == 2 * MB and second.frame_ratio == 4.0
    assert second.ratio == 4.0  # zstd's own count of what it compressed


def test_each_stretch_says_where_the_whole_backup_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(adaptive, "time", SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr(adaptive, "STRETCH_S", 0.0)
    # The backup began at 99.0, pg_dump at 99.5, the compressor at 100.0 (after the space check)
    meter = adaptive.StretchMeter(adaptive.WholeBackup(began=99.0, dump_began=99.5))
    now[0] = 100.4
    first = meter.add(b"x" * MB, adaptive.Compressed(0, 0), 0.4, 0.0)
    assert first is not None and first.elapsed_s == pytest.approx(1.4) and first.raw_total == MB
    assert first.dump_start_s == pytest.approx(0.9)  # pg_dump's start, from its own
    for _ in range(7):  # a measure of the dump alone held 7 MiB, handed on once it was over
        meter.read(b"x" * MB)
    meter.restart()
    now[0] = 101.5
    after = meter.add(b"x" * MB, adaptive.Compressed(MB, MB // 4), 0.0, 0.0)
    assert after is not None and after.elapsed_s == pytest.approx(2.5) and after.raw_total == 9 * MB
    assert after.dump_start_s == pytest.approx(0.9)  # pg_dump's start, not the restart's


def test_zstds_count_across_frames_is_what_was_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adaptive, "STRETCH_S", 0.0)
    cycle = itertools.cycle([1, 3, 2])
    monkeypatch.setattr(LevelChooser, "judge", lambda self, stretch: next(cycle))
    counted: list[adaptive.Compressed] = []
    real_whole = adaptive.StretchMeter.whole

    def whole(self: adaptive.StretchMeter, compressed: adaptive.Compressed) -> Stretch:
        counted.append(compressed)
        return real_whole(self, compressed)

    monkeypatch.setattr(adaptive.StretchMeter, "whole", whole)
    data = b"".join(f"{i}\tcustomer-{i % 977}\t{i * 7919 % 100_000}\n".encode() for i in range(400_000))
    for threads in (1, 2):
        chunks = iter([data[i:i + MB] for i in range(0, len(data), MB)])

        def read(n: int, chunks: Iterator[bytes] = chunks) -> bytes:
            return next(chunks, b"")

        stats = compress(read, FileSink(tmp_path / f"t{threads}.zst"), level="auto", threads=threads,
                         cancel=CancelToken())
        raw, stored, _ = counted[-1]
        assert len(stats.levels) == 3  # frames at three levels
        assert raw == len(data) and abs(stored - stats.stored_bytes) <= 8 * len(stats.levels)


def test_plenty_of_room_climbs_two_levels_at_a_step() -> None:
    # A remote or busy server sends slowly: the compressor idles and a whole CPU is spare.
    assert next_level(1, stretch(wait=0.8, idle_cpus=1.2)) == 3
    assert next_level(1, stretch(wait=0.8, idle_cpus=0.7)) == 2  # only half a CPU: one level
    assert next_level(AUTO_RANGE[1] - 1, stretch(wait=0.9, idle_cpus=2.0)) == AUTO_RANGE[1]


def test_a_step_up_waits_for_a_second_stretch_a_step_down_does_not() -> None:
    chooser = LevelChooser(3)
    room, busy = stretch(wait=0.6, idle_cpus=1.0), stretch(wait=0.01, idle_cpus=0.0)
    assert chooser.judge(room) == 3  # a moment's idle CPU: not yet a new frame
    assert chooser.judge(busy) == 2  # the compressor set the pace: down at once
    assert chooser.judge(room) == 2
    assert chooser.judge(room) == 2  # room twice in a row, but 3 set the pace a moment ago


def test_a_level_that_set_the_pace_is_retried_only_after_a_while() -> None:
    chooser = LevelChooser(4)
    room, busy = stretch(wait=0.6, idle_cpus=1.0), stretch(wait=0.01, idle_cpus=0.0)
    assert chooser.judge(busy) == 3
    levels = [chooser.judge(room) for _ in range(LevelChooser.RETRY_AFTER + 2)]
    assert levels[:LevelChooser.RETRY_AFTER - 1] == [3] * (LevelChooser.RETRY_AFTER - 1)  # no see-saw of frames
    assert levels[-1] == 4  # the data or the load may have changed since: tried again
    plenty = stretch(wait=0.9, idle_cpus=2.0)
    chooser = LevelChooser(5)
    assert chooser.judge(busy) == 4
    assert [chooser.judge(plenty) for _ in range(2)] == [4, 4]  # two levels up would pass the one left


def test_a_slowdown_buys_one_level_that_keeps_the_pace_and_measures_its_price_again_later() -> None:
    chooser = LevelChooser(1, slowdown=0.1)
    # Two measures of the dump alone before a trial; on trial, the stretch its new frame settles in is not counted.
    assert bought(chooser) == [1] * (ASKS - 1) + [2, 2, 2, 2]
    assert chooser.floor == ALONE_MB * MB
    kept = judged(chooser, [denser(92)] * LevelChooser.BOUGHT_FOR)
    assert kept[:-1] == [2] * (LevelChooser.BOUGHT_FOR - 1)  # one level above what spare CPU sustains, no more
    assert kept[-1] == 1  # time is up: back where the pace is measured again, and asked for again
    assert judged(chooser, [waiting_without_spare_cpu()]) == [1]  # the stretch level 1's frame settles in
    assert bought(chooser)[-4:] == [2, 2, 2, 2]  # the measure of the dump alone is old by now: taken again


def test_the_fastest_measure_of_the_dump_alone_stands_until_it_is_old() -> None:
    """Anything else on the machine only slows the dump: one measure low by chance cannot buy a level. The next
    tables may dump at another pace: a measure older than FLOOR_FRESH stretches gives way to the next."""
    chooser = LevelChooser(1, slowdown=0.1)
    asking = waiting_without_spare_cpu()
    assert judged(chooser, [asking] * ASKS, alone_mb=[80.0, 120.0]) == [1] * ASKS  # 100 * 1.1 < 120
    assert chooser.floor == 120 * MB
    quiet = judged(chooser, [asking] * (LevelChooser.FLOOR_FRESH + 1), alone_mb=[105.0])
    assert set(quiet) == {1} and chooser.floor == 120 * MB  # not asked while the measure is fresh
    assert judged(chooser, [asking] * ASKS, alone_mb=[105.0])[-1] == 2  # old: measured again twice, then tried
    assert chooser.floor == 105 * MB


def test_a_first_measure_within_the_budget_wants_the_next_at_once_not_after_new_asks() -> None:
    """On a 5 s dump, asking again before the second measure kept a third of it at the level below."""
    chooser = LevelChooser(1, slowdown=0.1)
    for _ in range(LevelChooser.UP_AFTER):
        chooser.judge(waiting_without_spare_cpu())
    assert chooser.wants_floor
    assert chooser.floor_measured(ALONE_MB * MB) == 1 and chooser.wants_floor  # one measure: the next, now
    assert chooser.floor_measured(ALONE_MB * MB) == 2 and not chooser.wants_floor  # two agree: the trial
    over = LevelChooser(1, slowdown=0.1)
    for _ in range(LevelChooser.UP_AFTER):
        over.judge(waiting_without_spare_cpu())
    assert over.floor_measured(120 * MB) == 1 and not over.wants_floor  # past the budget at once: no second


def test_a_probe_that_measured_nothing_changes_nothing() -> None:
    chooser = LevelChooser(1, slowdown=0.1)
    judged(chooser, [waiting_without_spare_cpu()] * LevelChooser.UP_AFTER, alone_mb=[0.0])
    assert chooser.floor == 0 and not chooser.wants_floor
    assert judged(chooser, [waiting_without_spare_cpu()] * ASKS)[-1] == 2  # still two real measures first


def test_nothing_is_bought_where_the_cheapest_level_already_slows_the_dump_past_the_budget() -> None:
    """The compressor waits, no CPU is spare, but the dump goes at 80% of its own pace: already 25% longer."""
    chooser = LevelChooser(1, slowdown=0.2)
    slowed = waiting_without_spare_cpu(rate_mb=80)
    measures = 0
    for each in [slowed] * 60:
        chooser.judge(each)
        if chooser.wants_floor:
            measures += 1
            assert chooser.floor_measured(ALONE_MB * MB) == 1
    assert chooser.level == 1 and measures <= 3  # measured again only once the last measure is old
    assert judged(LevelChooser(1, slowdown=0.3), [slowed] * ASKS + [denser(79)] * 3)[-3:] == [2, 2, 2]  # within 30%


def running(stretches: list[Stretch], start_s: float, dump_start_s: float = 0.1) -> list[Stretch]:
    """``stretches`` as one backup in progress: seconds and bytes add up, after ``start_s`` of our own start and
    ``dump_start_s`` of pg_dump's."""
    out, elapsed, read = [], start_s + dump_start_s, 0
    for each in stretches:
        elapsed, read = elapsed + each.wait_s + each.work_s, read + each.new_bytes
        out.append(replace(each, elapsed_s=elapsed, raw_total=read, dump_start_s=dump_start_s))
    return out


def first_bought(levels: list[int]) -> int | None:
    return levels.index(2) if 2 in levels else None


def test_the_budget_is_the_whole_backups_its_start_and_what_was_spent_counted() -> None:
    """Level 1 keeps 95% of the dump's own pace, within a 10% budget stretch by stretch. With the dump's size
    not known (a first backup) only what is spent counts: the backup must save up a trial's price first, and a
    start of 0.6 s more takes it four times as long."""
    level_1 = [waiting_without_spare_cpu(rate_mb=95)] * 80
    assert first_bought(judged(LevelChooser(1, slowdown=0.1), level_1)) == ASKS - 1  # stretch by stretch: at once
    quick = first_bought(judged(LevelChooser(1, slowdown=0.1), running(level_1, start_s=0.0)))
    slow = first_bought(judged(LevelChooser(1, slowdown=0.1), running(level_1, start_s=0.6)))
    # 0.5 s a stretch against 1.1 * 0.475 s of the dump alone: 0.0225 s saved a stretch, 0.15 s a trial's price
    assert quick is not None and 7 <= quick <= 12
    assert slow is not None and slow > 33
    chooser, measures = LevelChooser(1, slowdown=0.1), 0
    for each in running(level_1[:30], start_s=0.6):
        chooser.judge(each)
        while chooser.wants_floor:
            measures += 1
            chooser.floor_measured(ALONE_MB * MB)
    assert measures == 2  # the first asks', which found the budget spent, and one more once it was old


def test_a_long_dump_to_come_pays_for_the_start_and_a_short_one_ending_does_not() -> None:
    level_1 = running([waiting_without_spare_cpu(rate_mb=95)] * 40, start_s=0.6)
    stretch_bytes = level_1[0].new_bytes
    long_dump = LevelChooser(1, slowdown=0.1, expected_raw=200 * stretch_bytes)
    assert first_bought(judged(long_dump, level_1)) == ASKS - 1  # the rest at 95% of the pace repays 0.6 s
    short_dump = LevelChooser(1, slowdown=0.1, expected_raw=8 * stretch_bytes)
    assert first_bought(judged(short_dump, level_1[:8])) is None


def test_a_trial_within_the_budget_stretch_by_stretch_is_not_kept_where_the_rest_of_the_dump_would_overspend() -> None:
    """The dump's own pace at level 1 (spare CPU to the edge); level 2 keeps 92%, within 10% stretch by stretch,
    but 0.9 s of start leaves the dump's 50 stretches to come room for 95% at most."""
    free = waiting_without_spare_cpu(rate_mb=100)
    stretches = running([free] * ASKS + [denser(r) for r in (50, 92, 92)], start_s=0.9)
    expected = 50 * free.new_bytes
    assert judged(LevelChooser(1, slowdown=0.1), [replace(each, elapsed_s=0.0) for each in stretches])[-1] == 2
    assert judged(LevelChooser(1, slowdown=0.1, expected_raw=expected), stretches)[-1] == 1
    roomy = running([free] * ASKS + [denser(r) for r in (50, 97, 97)], start_s=0.9)
    assert judged(LevelChooser(1, slowdown=0.1, expected_raw=expected), roomy)[-1] == 2


def test_a_backup_tries_at_once_the_level_the_last_one_settled_at() -> None:
    """Last night's backup kept level 2: tonight's tries it from its first stretch, the dump alone measured at
    once, not after the asks, the measures and a trial that took a third of a 5 s dump."""
    warm = LevelChooser(1, slowdown=0.1, warm=2)
    assert warm.level == 2 and warm.wants_floor
    # Kept: within 10% of its own pace. Its stretches count from after the two measures (whose held chunks are then
    # compressed at level 2), the first of them the frame's settling one, as an asked trial's
    assert judged(warm, [denser(r) for r in (60, 50, 92, 92)]) == [2, 2, 2, 2]
    assert warm.floor == ALONE_MB * MB
    assert set(judged(warm, [denser(92)] * (LevelChooser.BOUGHT_FOR - 1))) == {2}  # a bought level's term
    assert judged(LevelChooser(1, slowdown=0.1, warm=2), [denser(r) for r in (92, 50, 80, 80)])[-1] == 1  # over
    over = LevelChooser(1, slowdown=0.1, warm=2)
    assert judged(over, [denser(92)] * 4, alone_mb=[120.0])[-1] == 1  # the dump alone went faster tonight
    retried = judged(over, [waiting_without_spare_cpu()] * (LevelChooser.RETRY_AFTER - 1))
    assert set(retried) == {1}  # a failed trial's wait before the next
    # The budget is the whole backup's, from the first stretch: 0.9 s of start leaves a 50-stretch dump no room
    free = waiting_without_spare_cpu(rate_mb=100)
    late = running([denser(r) for r in (92, 50, 92, 92)], start_s=0.9)
    assert judged(LevelChooser(1, slowdown=0.1, expected_raw=50 * free.new_bytes, warm=2), late)[-1] == 1
    # Only one level above the start, only with a slowdown, only where the last backup settled above it
    assert LevelChooser(1, slowdown=0.1, warm=6).level == 2
    assert LevelChooser(1, slowdown=0.0, warm=2).level == 1 and not LevelChooser(1, warm=2).wants_floor
    assert LevelChooser(1, slowdown=0.1, warm=1).level == 1
    assert LevelChooser(9, slowdown=0.1, warm=9).level == 9  # the top of the range: nothing above to try


def test_a_warm_start_waits_for_its_measures_of_the_dump_alone() -> None:
    """The trial's stretches are judged against the dump's own pace: with a measure not done, the trial goes on
    (up to TRIAL_LONGEST stretches), and a level never measured against is not kept."""
    unmeasured = LevelChooser(1, slowdown=0.1, warm=2)
    levels = [unmeasured.judge(denser(92)) for _ in range(LevelChooser.TRIAL_LONGEST)]
    assert levels == [2] * (LevelChooser.TRIAL_LONGEST - 1) + [1]
    one = LevelChooser(1, slowdown=0.1, warm=2)
    levels = judged(one, [denser(92)] * (1 + LevelChooser.TRIAL_LONGEST), alone_mb=[ALONE_MB, 0.0])
    assert levels[-2:] == [2, 1]  # one measure of two: the trial runs its longest, and is not kept


def test_what_the_last_judgement_kept_is_where_the_next_backup_starts() -> None:
    """Not the level most bytes went to: on a 2 s dump a failed trial at the start holds most of them, and the
    next backup would start on trial again, and the next."""
    paid = LevelChooser(1, slowdown=0.1)
    assert paid.kept == 1 and bought(paid)[-1] == 2 and paid.kept == 2
    term = judged(paid, [denser(92)] * LevelChooser.BOUGHT_FOR)
    assert term[-1] == 1 and paid.kept == 2  # its term is up, not its price: it was kept
    assert judged(paid, [stretch(wait=0.0, idle_cpus=0.0)]) == [1] and paid.kept == 1  # the compressor's pace
    failed = LevelChooser(1, slowdown=0.1, warm=2)
    assert judged(failed, [denser(r) for r in (92, 50, 80, 80)])[-1] == 1 and failed.kept == 1
    climbed = LevelChooser(1)
    judged(climbed, [stretch(wait=0.5, idle_cpus=1.0)] * LevelChooser.UP_AFTER)
    assert climbed.level == climbed.kept == 2  # spare CPU moved the free level
    assert LevelChooser(1, slowdown=0.1, warm=2).kept == 1  # nothing judged yet


def test_a_bought_level_whose_pace_falls_well_below_its_price_goes_before_its_time() -> None:
    chooser = LevelChooser(1, slowdown=0.1)
    assert bought(chooser)[-1] == 2
    assert judged(chooser, [denser(rate_mb=80)] * LevelChooser.BOUGHT_WATCH) == [2, 2, 1]  # 80 * 1.2 < 100
    assert set(judged(chooser, [waiting_without_spare_cpu()] * LevelChooser.RETRY_AFTER)) == {1}


def test_a_bought_level_that_would_take_the_whole_backup_past_its_budget_goes_before_its_time() -> None:
    """88% of the dump's own pace keeps within twice a 10% budget stretch by stretch, but not over the rest of a
    long dump; 95% does."""
    for pace, stays in ((88, False), (95, True)):
        chooser = LevelChooser(1, slowdown=0.1, expected_raw=60 * waiting_without_spare_cpu().new_bytes)
        asks_and_trial = [waiting_without_spare_cpu()] * ASKS + [denser(r) for r in (50, 92, 92)]
        levels = judged(chooser, running(asks_and_trial + [denser(pace)] * LevelChooser.BOUGHT_WATCH, start_s=0.0))
        assert levels[len(asks_and_trial) - 1] == 2  # bought
        assert levels[-1] == (2 if stays else 1)


def test_a_level_that_costs_more_than_the_slowdown_or_stores_no_less_is_tried_again_ever_later() -> None:
    for trial in ([denser(r) for r in (100, 85, 88)],  # 86.5% of the dump's own pace
                  [denser(r, frame_ratio=3.05) for r in (100, 98, 99)]):  # 1.7% smaller
        chooser = LevelChooser(1, slowdown=0.1)
        assert judged(chooser, [waiting_without_spare_cpu()] * ASKS + trial)[-4:] == [2, 2, 2, 1]
        waits = []
        for _ in range(3):
            asked = 1
            while judged(chooser, [waiting_without_spare_cpu()]) == [1]:
                asked += 1
            waits.append(asked)
            assert judged(chooser, trial) == [2, 2, 1]
        assert waits == [LevelChooser.RETRY_AFTER + 1, 2 * LevelChooser.RETRY_AFTER + 1,  # no see-saw of frames
                         4 * LevelChooser.RETRY_AFTER + 1]  # the measure went old: two new ones, in a row


def test_a_slow_dump_measures_its_trial_until_the_trial_frame_has_a_job_done() -> None:
    chooser = LevelChooser(1, slowdown=0.1)
    assert judged(chooser, [waiting_without_spare_cpu()] * ASKS)[-1] == 2
    nothing_yet = judged(chooser, [denser(95, frame_ratio=0.0)] * 4)
    assert nothing_yet == [2, 2, 2, 2]  # past TRIAL: still measuring
    assert judged(chooser, [denser(95)] * 2) == [2, 2]  # measured: kept
    late = LevelChooser(1, slowdown=0.1)
    judged(late, [waiting_without_spare_cpu()] * ASKS)
    levels = judged(late, [denser(95, frame_ratio=0.0)] * LevelChooser.TRIAL_LONGEST)
    assert levels[-1] == 1  # never measured: not bought


def test_no_level_is_bought_without_a_slowdown_or_without_the_compressor_waiting_on_the_dump() -> None:
    strict = LevelChooser(1)
    assert set(judged(strict, [waiting_without_spare_cpu()] * 10)) == {1}  # the rule
    assert strict.floor == 0  # nor is the dump ever held back to measure it
    busy = LevelChooser(1, slowdown=0.2)
    assert set(judged(busy, [waiting_without_spare_cpu(wait=0.1)] * 10)) == {1}  # no wait to spend


def test_a_bought_level_goes_at_once_when_the_compressor_sets_the_pace_or_the_data_stops_compressing() -> None:
    for last in (stretch(wait=0.01, idle_cpus=0.0), stretch(wait=0.5, idle_cpus=0.0, ratio=1.01)):
        chooser = LevelChooser(1, slowdown=0.1)
        assert bought(chooser)[-1] == 2
        assert judged(chooser, [last]) == [1]
    trial = LevelChooser(1, slowdown=0.1)
    assert judged(trial, [waiting_without_spare_cpu()] * ASKS)[-1] == 2
    assert judged(trial, [stretch(wait=0.5, idle_cpus=0.0, ratio=1.01)]) == [1]  # on trial: the trial ends too


def test_spare_cpu_turning_up_makes_a_bought_level_the_free_one_and_climbs_from_it() -> None:
    chooser = LevelChooser(1, slowdown=0.1)
    assert bought(chooser)[-1] == 2
    room = stretch(wait=0.6, idle_cpus=0.8)
    assert judged(chooser, [room] * 5) == [2, 2, 3, 3, 4]  # not back to 1 to measure a price


def test_a_level_left_for_the_compressor_setting_the_pace_is_not_bought_back() -> None:
    chooser = LevelChooser(3, slowdown=0.1)
    assert chooser.judge(stretch(wait=0.01, idle_cpus=0.0)) == 2
    no_room = stretch(wait=0.4, idle_cpus=0.3)  # a little idle CPU: 2 holds, and 3 would be bought...
    assert set(judged(chooser, [no_room] * (LevelChooser.RETRY_AFTER - 1))) == {2}  # ...but not yet
    assert judged(chooser, [no_room] * ASKS)[-1] == 3


def test_plenty_of_spare_cpu_reaches_the_top_of_the_range() -> None:
    chooser = LevelChooser(5)
    levels = [chooser.judge(stretch(wait=0.9, idle_cpus=2.0)) for _ in range(8)]
    assert levels[-1] == AUTO_RANGE[1]


def test_levels_are_said_by_share_of_the_bytes() -> None:
    assert levels_said({"2": 38, "3": 62}) == "3 (62%), 2 (38%)"
    assert levels_said({}) == ""


def test_a_change_of_level_starts_a_new_standard_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cycle = itertools.cycle([5, 1, 2])
    monkeypatch.setattr(adaptive, "STRETCH_S", 0.0)  # judge after every chunk
    monkeypatch.setattr(LevelChooser, "judge", lambda self, stretch: next(cycle))
    data = b"".join(f"{i}\tcustomer-{i % 977}\t2026-12-05 {i % 24:02}:00:00\n".encode() for i in range(300_000))
    chunks = iter([data[i:i + MB] for i in range(0, len(data), MB)])
    out = tmp_path / "auto.zst"
    stats = compress(lambda n: next(chunks, b""), FileSink(out), level="auto", threads=2, cancel=CancelToken())
    assert set(stats.levels) == {"5", "1", "2"} and sum(stats.levels.values()) == len(data)
    frames = 0
    rest = out.read_bytes()
    while rest:  # count the frames: each a whole standard zstd frame with its checksum
        obj = zstandard.ZstdDecompressor().decompressobj()
        obj.decompress(rest)
        assert obj.eof
        rest, frames = obj.unused_data, frames + 1
    assert frames >= 4
    received = bytearray()
    decode(FileSource(out), "zstd", cancel=CancelToken(), sink=received.extend)
    assert bytes(received) == data  # our decoder reads across the frames...
    by_hand = subprocess.run(["zstd", "-dc", str(out)], capture_output=True, check=True)
    assert by_hand.stdout == data  # ...and so does the zstd command-line tool


def test_the_probe_times_the_dump_once_the_reader_has_caught_up_and_hands_its_chunks_on_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adaptive, "PROBE_SETTLE_S", 0.0)
    monkeypatch.setattr(adaptive, "PROBE_BYTES", 3 * MB)
    probe = adaptive.FloorProbe()
    pieces = [bytes([i]) * MB for i in range(2)] + [bytes([i]) * (MB // 8) for i in range(2, 40)]
    done = [probe.hold(piece, MB) for piece in pieces[:2]]
    assert not probe.started  # whole chunks: what piled up in a full pipe, faster than the dump goes
    done += [probe.hold(piece, MB) for piece in pieces[2:]]
    assert done.index(True) == 2 + 24  # the short read started the clock; 3 MiB after it, the probe is over
    assert probe.rate > 0
    assert list(probe.release()) == pieces and not probe.held


def test_a_backup_that_measures_the_dump_alone_stores_every_byte_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the dump alone is timed its chunks wait in memory, then go to zstd at the level the measure chose, and
    count for the data's alphabet as any other chunk does."""
    monkeypatch.setattr(adaptive, "STRETCH_S", 0.0)
    monkeypatch.setattr(adaptive, "PROBE_SETTLE_S", 0.0)
    monkeypatch.setattr(adaptive, "PROBE_BYTES", 2 * MB)
    measured: list[float] = []
    real_measured = LevelChooser.floor_measured

    def ask_always(self: LevelChooser, stretch: Stretch) -> int:
        self.wants_floor = True
        return self.level

    def floor_measured(self: LevelChooser, pace: float) -> int:
        measured.append(pace)
        real_measured(self, pace)
        return 2

    seen_by_meter = [0]
    real_read = adaptive.StretchMeter.read

    def read_noted(self: adaptive.StretchMeter, chunk: bytes) -> None:
        seen_by_meter[0] += len(chunk)
        real_read(self, chunk)

    monkeypatch.setattr(LevelChooser, "judge", ask_always)
    monkeypatch.setattr(LevelChooser, "floor_measured", floor_measured)
    monkeypatch.setattr(adaptive.StretchMeter, "read", read_noted)
    data = b"".join(f"{i}\tcustomer-{i % 977}\t2026-12-05 {i % 24:02}:00:00\n".encode() for i in range(300_000))
    sizes = itertools.cycle([MB, 100_000, 37_000])  # whole chunks and short reads, as a pipe gives them
    position = 0

    def read(n: int) -> bytes:
        nonlocal position
        piece = data[position:position + min(n, next(sizes))]
        position += len(piece)
        return piece

    out = tmp_path / "auto.zst"
    stats = compress(read, FileSink(out), level="auto", threads=2, cancel=CancelToken(), slowdown=0.2)
    assert measured and all(pace > 0 for pace in measured) and stats.dump_pace == max(measured)
    assert set(stats.levels) == {"1", "2"} and sum(stats.levels.values()) == len(data)
    assert subprocess.run(["zstd", "-dc", str(out)], capture_output=True, check=True).stdout == data
    assert seen_by_meter[0] == len(data)  # held chunks too: a long measure skipped 24 MB of a 50 MB dump


def test_a_measure_that_wants_the_next_at_once_gets_it_before_any_stretch_is_judged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adaptive, "STRETCH_S", 0.0)
    monkeypatch.setattr(adaptive, "PROBE_SETTLE_S", 0.0)
    monkeypatch.setattr(adaptive, "PROBE_BYTES", MB)
    seen: list[str] = []

    def ask_once(self: LevelChooser, stretch: Stretch) -> int:
        self.wants_floor = not seen
        seen.append("judged")
        return self.level

    def floor_measured(self: LevelChooser, pace: float) -> int:
        seen.append("measured")
        self.wants_floor = seen.count("measured") < LevelChooser.FLOOR_PROBES
        return self.level

    monkeypatch.setattr(LevelChooser, "judge", ask_once)
    monkeypatch.setattr(LevelChooser, "floor_measured", floor_measured)
    data = b"".join(f"{i}\tcustomer-{i % 977}\n".encode() for i in range(400_000))
    chunks = iter([data[i:i + MB // 4] for i in range(0, len(data), MB // 4)])
    out = tmp_path / "auto.zst"
    compress(lambda n: next(chunks, b""), FileSink(out), level="auto", threads=1, cancel=CancelToken())
    assert seen[:1 + LevelChooser.FLOOR_PROBES] == ["judged"] + ["measured"] * LevelChooser.FLOOR_PROBES
    assert subprocess.run(["zstd", "-dc", str(out)], capture_output=True, check=True).stdout == data


def test_a_cut_between_frames_is_still_a_truncation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adaptive, "STRETCH_S", 0.0)
    flip = itertools.cycle([1, 2])
    monkeypatch.setattr(LevelChooser, "judge", lambda self, stretch: next(flip))
    data = os.urandom(MB // 2) * 6
    chunks = iter([data[i:i + MB] for i in range(0, len(data), MB)])
    out = tmp_path / "auto.zst"
    compress(lambda n: next(chunks, b""), FileSink(out), level="auto", threads=1, cancel=CancelToken())
    whole = out.read_bytes()
    obj = zstandard.ZstdDecompressor().decompressobj()
    obj.decompress(whole)
    first_frame = len(whole) - len(obj.unused_data)
    out.write_bytes(whole[:first_frame + 5])  # the first frame whole, the second begun
    with pytest.raises(Exception, match="ends early"):
        decode(FileSource(out), "zstd", cancel=CancelToken())


def test_an_auto_backup_restores_exactly_and_records_its_levels(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, tmp_path: Path,
) -> None:
    assert settings.compression_level == "auto"  # the default
    record = run_backup(Context(settings), settings.databases[0])
    assert record.compression_levels and sum(record.compression_levels.values()) == record.raw_bytes
    assert str(record.compression_level) in record.compression_levels
    stored = next((settings.repository / "backups").rglob(record.file_name))
    plain = tmp_path / "by-hand.dump"
    subprocess.run(["zstd", "-dq", str(stored), "-o", str(plain)], check=True)
    listed = subprocess.run([str(pg_sandbox.bin_dir / "pg_restore"), "--list", str(plain)], capture_output=True,
                            text=True, check=True)
    assert "TABLE DATA public rental" in listed.stdout  # a standard stream, read by the standard tools
    result = restore(settings, record.id, target_db=f"{pagila_db}_auto")
    assert result.row_counts and all(want == got for want, got in result.row_counts.values())


def test_the_slowdown_and_the_whole_backups_clock_reach_auto_in_a_real_backup(
    settings: Settings, pagila_db: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    slowdowns: list[float] = []
    warms: list[int] = []
    wholes: list[adaptive.WholeBackup] = []
    real_init, real_meter = LevelChooser.__init__, adaptive.StretchMeter.__init__

    def init(self: LevelChooser, level: int, *, slowdown: float = 0.0, expected_raw: int = 0, warm: int = 0) -> None:
        slowdowns.append(slowdown)
        warms.append(warm)
        real_init(self, level, slowdown=slowdown, expected_raw=expected_raw, warm=warm)

    def meter(self: adaptive.StretchMeter, backup: adaptive.WholeBackup | None = None) -> None:
        assert backup is not None
        wholes.append(backup)
        real_meter(self, backup)

    monkeypatch.setattr(LevelChooser, "__init__", init)
    monkeypatch.setattr(adaptive.StretchMeter, "__init__", meter)
    ctx = Context(replace(settings, compression_slowdown=20))
    before = time.monotonic()
    first = run_backup(ctx, settings.databases[0])
    second = run_backup(ctx, settings.databases[0])
    assert slowdowns == [0.2, 0.2] and first.compression_levels
    assert before <= wholes[0].began < wholes[0].dump_began < wholes[1].began  # our start counts, then pg_dump's
    # A first backup's dump is taken as half the database; the next as long as the last one's, grown as it grew
    assert wholes[0].expected_raw == first.database_bytes // 2
    assert wholes[1].expected_raw == int(first.raw_bytes * grown(first, second.database_bytes)) >= first.raw_bytes
    # The next backup starts from the level the last one kept
    assert warms == [0, first.compression_kept] and first.compression_kept >= 1
    assert Settings().compression_slowdown == 20  # the default; 0 is the strict rule


def test_nice_lowers_this_thread_and_the_threads_it_starts_then_gives_it_back() -> None:
    tid = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, tid)
    seen: list[int] = []
    with niced(before + 7):
        worker = threading.Thread(target=lambda: seen.append(os.getpriority(os.PRIO_PROCESS,
                                                                             threading.get_native_id())))
        worker.start()
        worker.join()
        assert os.getpriority(os.PRIO_PROCESS, tid) == before + 7
    assert seen == [before + 7]  # zstd's workers are started by the compressing thread: they inherit it
    if os.geteuid() == 0:  # raising priority back needs CAP_SYS_NICE
        assert os.getpriority(os.PRIO_PROCESS, tid) == before


def test_a_backup_of_random_bytes_says_so_and_spends_no_cpu_on_them(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(adaptive, "STRETCH_S", 0.02)  # a small table still gives several stretches to judge
    pg_sandbox.psql("CREATE TABLE blobs AS SELECT g AS id, (SELECT string_agg(sha256((g * 1000 + k)::text::bytea), "
                    "''::bytea) FROM generate_series(1, 64) k) AS body FROM generate_series(1, 12000) g;"
                    "DROP TABLE rental CASCADE; DROP TABLE payment CASCADE", pagila_db)
    events: list[ProgressEvent] = []

    def reporter(event: ProgressEvent) -> None:
        events.append(event)

    record = run_backup(Context(settings, reporter), settings.databases[0])
    said = [e.message for e in events if isinstance(e, LogLine)]
    assert any("compresses no better at any level" in m for m in said), said
    assert record.compression_level == 1  # most of the bytes at zstd's cheapest level
    assert restore(settings, record.id, target_db=f"{pagila_db}_blobs").row_counts["public.blobs"] == [12000, 12000]
