"""Which zstd level a backup in "auto" mode uses next: a pure function of what the last stretches measured.

The dump sets the pace a backup can go at; the compressor should spend what CPU is left over. Two
measures tell: how long the compressor waited for the dump's next bytes (it had nothing to do: a
denser level is free) and how much of this process's CPUs sat idle (nobody needed them; zero means
the compressor takes CPU the dump or the server needs, even when it also waits). Like ``zstd
--adapt``, one level at a time, so a wrong step costs one stretch.

Where no CPU is spare but the compressor still waits on the dump (a small machine that runs the
server too), one level more may be worth a little time: ``LevelChooser``'s ``slowdown`` lets it try
that level and keep it only while the backup's pace stays within that share of the dump's own pace
(``floor``: measured with the compressor held back, ``adaptive.FloorProbe``). Where the compressor
already slows the dump by more at the cheapest level, nothing is bought; nor where the whole backup, its
start and what it spent so far counted, would end past that share of the dump's own time.
"""

from __future__ import annotations

from dataclasses import dataclass

AUTO_START = 1  # the cheapest: a backup climbs only on evidence of spare CPU, never slows the dump to find out
AUTO_RANGE = (1, 9)  # above 9, zstd's tables outgrow the memory goal for no gain on dumps
BOTTLENECK_WAIT = 0.05  # the compressor waited less than this share of the stretch: it set the pace
ROOM_WAIT = 0.25  # and more than this: the dump set the pace with room to spare
SATURATED_IDLE_CPUS = 0.15  # fewer idle CPUs than this: the machine is saturated
ROOM_IDLE_CPUS = 0.5  # at least half a CPU idle: a denser level has somewhere to run
PLENTY_WAIT = 0.6  # the compressor idle most of the time...
PLENTY_IDLE_CPUS = 1.0  # ...and a whole CPU idle: a remote or busy server's pace, two levels at a step
POOR_RATIO = 1.1  # data that shrinks by less than this at the current level is noise or compressed already
# zstd beating a byte-frequency code by less than this finds no repeats: random in its alphabet. Not 1.05:
# on random bytes in hex, zstd's entropy coder alone beats the deflate Huffman-only sample by 4-5%.
MATCH_GAIN = 1.1
# A level bought with slowdown must store at least this much less per raw byte than the one below: on event
# rows zstd's level 2 stored 0.5% more than level 1, for a tenth of the dump's pace.
BOUGHT_GAIN = 0.03


@dataclass(frozen=True)
class Stretch:
    """What one stretch of the backup measured."""

    raw_bytes: int  # read from the dump
    stored_bytes: int  # written after compression
    wait_s: float  # the compressor's reader waited for the dump
    work_s: float  # the compressor's reader was compressing (blocked on busy workers included)
    idle_cpus: float  # CPUs this process may run on that sat idle, on average (0.0 - cores)
    symbol_ratio: float = 0.0  # what coding bytes by their frequency alone makes of samples (0: not measured)
    new_bytes: int = 0  # read from the dump in this stretch alone (``raw_bytes`` fades over stretches)
    frame_ratio: float = 0.0  # the current zstd frame's ratio so far, by zstd's count (0: no job done yet)
    elapsed_s: float = 0.0  # since the backup began, at the stretch's end (0: not known; no whole-backup budget)
    raw_total: int = 0  # read from the dump so far
    dump_start_s: float = 0.0  # pg_dump's wait for its first bytes: its start, which the dump alone takes too

    @property
    def wait_share(self) -> float:
        total = self.wait_s + self.work_s
        return self.wait_s / total if total > 0 else 0.0

    @property
    def compressor_set_pace(self) -> bool:
        """The compressor hardly waited for the dump: it, not the dump, set the stretch's pace."""
        return self.wait_share < BOTTLENECK_WAIT

    @property
    def rate(self) -> float:
        """Raw bytes a second taken in: the dump's pace, or what the compressor left of it."""
        seconds = self.wait_s + self.work_s
        return self.new_bytes / seconds if seconds > 0 else 0.0

    @property
    def ratio(self) -> float:
        return self.raw_bytes / self.stored_bytes if self.stored_bytes else 0.0

    @property
    def compresses_poorly(self) -> bool:
        """No level would do much better: the bytes barely shrink, or shrink only as far as their alphabet
        allows (random bytes, random bytes written out in hex) with no repeats for a denser level to find."""
        ratio = self.ratio
        return bool(ratio) and (ratio < POOR_RATIO or ratio < self.symbol_ratio * MATCH_GAIN)


def next_level(current: int, stretch: Stretch, low: int = AUTO_RANGE[0], high: int = AUTO_RANGE[1]) -> int:
    """The level for the next stretch: lower when the compressor sets the pace or the machine is saturated,
    higher when it waits on the dump with CPU to spare, the lowest for data that does not compress."""
    if stretch.compresses_poorly:
        return low  # no level makes it much smaller: spend nothing
    if stretch.compressor_set_pace or stretch.idle_cpus < SATURATED_IDLE_CPUS:
        return max(low, current - 1)
    if stretch.wait_share > ROOM_WAIT and stretch.idle_cpus >= ROOM_IDLE_CPUS:
        plenty = stretch.wait_share > PLENTY_WAIT and stretch.idle_cpus >= PLENTY_IDLE_CPUS
        return min(high, current + (2 if plenty else 1))
    return current


class LevelChooser:
    """``next_level`` with patience upward: a step down is taken at once (the dump is being slowed now),
    a step up only after ``UP_AFTER`` stretches in a row ask for it, so a moment's idle CPU on a busy
    machine does not start a new frame (each one drains zstd's workers) only to step back. A level left
    because it set the pace is not tried again for ``RETRY_AFTER`` stretches: no see-saw of frames.

    With a ``slowdown`` (0.2: the backup may take 20% longer than the dump alone) and the dump's own pace
    measured (``floor``, bytes a second), where the spare CPU sustains no more but the compressor still
    waits on the dump at a pace within that share of the floor, one level above is bought when it keeps
    the pace within it too and stores ``BOUGHT_GAIN`` less: tried for ``TRIAL`` stretches after the one
    its new frame settles in, its own frame's ratio (zstd's count, so far) against the asks'; a slow dump
    whose trial frame has no job done yet is measured for up to ``TRIAL_LONGEST`` stretches. A level
    that did not pay is tried again after ``RETRY_AFTER`` stretches, twice as long after each failure in
    a row (up to ``RETRY_LONGEST``): data that never pays costs a trial now and then, not a see-saw. A
    bought level is kept for ``BOUGHT_FOR`` stretches, then its price is measured again (the data and
    the load change); it goes sooner when the compressor sets the pace or the last ``BOUGHT_WATCH``
    stretches were slower than twice the budget allows (or than the whole backup's budget allows, below),
    becomes the free level when spare CPU turns up, and is never more than one above the free level, so
    prices do not add up.

    The budget holds for the whole backup, not only stretch by stretch (``_affordable``): what our start, the
    measures and the levels so far spent counts, and the rest of the dump (``expected_raw``: its raw size, as
    the last backup's grown with the database; 0 unknown: only what is spent counts) is projected at the pace
    in question. A level is not bought late in a short dump, nor where the cheapest level and the start have
    used the budget up.

    ``warm``: the level the last backup of the same database kept (``kept``, recorded in its manifest).
    Where that is above the start, the level above the start goes on trial from the first stretch, the dump
    alone measured at once, instead of after asks, measures and a trial that took the first third of a 5 s
    dump: a nightly backup need not find out again what last night's found. The trial's rules are any trial's
    (the budget, the whole backup's too; two measures of the dump alone, its stretches counted from after
    them, the first one settling), but the frame to beat is not measured yet, so its ratio is not asked until
    the level's term is up and the asks' trial judges it again.
    No higher level is started at: a trial runs its stretches out, and three stretches at level 6 on a
    machine whose spare CPU is gone cost seconds.

    ``kept``: what the backup's last judgement kept, for the next backup to start from: a trial's level
    when it paid, the free level when it did not, and the free level wherever spare CPU or its lack moved
    it or the compressor set the pace at it. Not the level most bytes went to: on a 2 s dump a failed trial
    holds most of them."""

    UP_AFTER = 2
    RETRY_AFTER = 8
    RETRY_LONGEST = 64
    TRIAL = 2
    TRIAL_LONGEST = 6
    FLOOR_PROBES = 2
    FLOOR_FRESH = 20
    BOUGHT_FOR = 20
    BOUGHT_WATCH = 3

    def __init__(self, level: int = AUTO_START, low: int = AUTO_RANGE[0], high: int = AUTO_RANGE[1],
                 slowdown: float = 0.0, expected_raw: int = 0, warm: int = 0) -> None:
        self.level, self.low, self.high, self._ups = level, low, high, 0
        # The level that set the pace, and for how long it stays out; none: one above the range.
        self._ceiling, self._ceiling_for = high + 1, 0
        self.slowdown, self.expected_raw = slowdown, expected_raw
        self._last: Stretch | None = None  # the latest stretch judged: where the backup stands
        self.floor = 0.0  # the dump's own pace, bytes a second, the fastest measured lately (``floor_measured``)
        self.wants_floor = False  # asks for one level more are in: measure the dump alone, then the trial
        self._probes, self._floor_age = 0, 0  # measures of the dump alone lately; stretches since the last
        self._free = level  # what the spare CPU sustains; one above it is bought with slowdown
        self._base_ratio = 0.0  # the asks' ratio, for the trial frame to beat
        self._asks: list[float] = []  # the pace of settled stretches at the free level that would buy one more
        self._trial: list[float] | None = None  # the pace of stretches at a level on trial, the settling one first
        self._buy_wait, self._retry_after = 0, self.RETRY_AFTER  # before the next trial, after a failed one
        self._bought_for, self._bought_paces = 0, list[float]()  # what is left of its term; its last paces
        self._settled = True  # a stretch after a change of level is no measure of a pace (the first one is:
        # ``StretchMeter`` leaves pg_dump's start out of it)
        self.kept = level  # what the last judgement kept (see the class's docstring)
        if slowdown > 0 and warm > level < high:
            self._trial, self.level, self.wants_floor = [], level + 1, True  # measured at once, judged as any trial

    def judge(self, stretch: Stretch) -> int:
        self._last = stretch
        self._floor_age += 1
        self._ceiling_for = max(0, self._ceiling_for - 1)
        self._buy_wait = max(0, self._buy_wait - 1)
        settled, self._settled = self._settled, True
        before = self.level
        if stretch.compresses_poorly:  # no level pays: a bought one or one on trial goes at once
            self._trial, self.level, self.kept = None, self._free, self._free
        if self._trial is not None:
            self._try(stretch)
        elif self.level > self._free:
            self._keep_bought(stretch)
        else:
            self._follow_spare_cpu(stretch, settled)
        if self.level != before:
            self._settled, self._asks = False, []
        return self.level

    def _follow_spare_cpu(self, stretch: Stretch, settled: bool) -> None:
        ceiling = self._ceiling if self._ceiling_for else self.high + 1
        wanted = min(next_level(self.level, stretch, self.low, self.high), max(self.level, ceiling - 1))
        self._ups = self._ups + 1 if wanted > self.level else 0
        buy = self._would_buy(stretch, wanted, ceiling)
        if wanted < self.level and not stretch.compresses_poorly:
            self._ceiling, self._ceiling_for = self.level, self.RETRY_AFTER
        if wanted < self.level or self._ups >= self.UP_AFTER:
            self.level, self._ups = wanted, 0
        if self.level != self._free or stretch.compressor_set_pace:  # moved, or no level above pays
            self.kept = self.level
        self._free = self.level
        if buy and settled:
            self._asks.append(stretch.rate)
            self._base_ratio = stretch.ratio
            self.wants_floor = len(self._asks) >= self.UP_AFTER
        else:
            self._asks, self.wants_floor = [], False

    def floor_measured(self, pace: float) -> int:
        """The dump's own pace, measured again with the compressor held back (``adaptive.FloorProbe``): the
        fastest measure lately stands, as anything else on the machine only slows the dump; one older than
        ``FLOOR_FRESH`` stretches gives way (the next tables may dump at another pace). The trial the asks
        wanted starts once ``FLOOR_PROBES`` measures agree their pace is within the budget (one measure
        alone, low by chance, would buy a level the dump cannot afford): while fewer agree, the next measure
        is wanted at once (``wants_floor``), not after asks again, which on a 5 s dump cost a third of it at
        the level below. A probe that measured nothing (0) changes nothing."""
        self.wants_floor = False
        if pace <= 0:
            self._asks = []
            return self.level
        self.floor, self._probes = (pace, 1) if self._floor_stale() else (max(self.floor, pace), self._probes + 1)
        self._floor_age = 0
        if self._trial is not None:  # a warm start's trial: its stretches count from after the measures, as an
            # asked trial's do (the chunks a measure held back are compressed after it, at the level on trial)
            self.wants_floor, self._trial = self._probes < self.FLOOR_PROBES, []
            return self.level
        asked = sum(self._asks) / max(1, len(self._asks))
        if not self._within(asked, self.slowdown) or not self._affords_trial(asked, self._last):
            self._not_paid()
        elif self._probes >= self.FLOOR_PROBES:
            self._trial, self.level, self._settled = [], self.level + 1, False
        else:
            self.wants_floor = True
        if not self.wants_floor:  # decided: the next trial needs asks of its own
            self._asks = []
        return self.level

    def _would_buy(self, stretch: Stretch, wanted: int, ceiling: int) -> bool:
        """No spare CPU for one level more, but the compressor waits on the dump, whose pace is within the
        budget of its own (unless not measured lately): one level may be bought."""
        return (self.slowdown > 0 and not self._buy_wait and wanted == self.level < min(self.high, ceiling - 1)
                and not stretch.compresses_poorly and stretch.wait_share > ROOM_WAIT and stretch.ratio > 0
                and (self._floor_stale() or (self._within(stretch.rate, self.slowdown)
                                             and self._affords_trial(stretch.rate, stretch))))

    def _floor_stale(self) -> bool:
        return not self.floor or self._floor_age > self.FLOOR_FRESH

    def _within(self, pace: float, share: float) -> bool:
        """``pace`` takes at most ``share`` more time than the dump's own (unmeasured: never)."""
        return self.floor > 0 and pace > 0 and pace * (1 + share) >= self.floor

    def _affordable(self, pace: float, at: Stretch | None, reserve_s: float = 0.0) -> bool:
        """The whole backup, going on at ``pace`` to the dump's expected end, takes at most ``slowdown`` more
        time than the dump alone would (its start and the bytes so far and to come at ``floor``), with
        ``reserve_s`` to spare. Where the backup stands is not known (no ``elapsed_s``): the pace alone decides."""
        if at is None or not at.elapsed_s or self.floor <= 0 or pace <= 0:
            return True
        rest = max(0, self.expected_raw - at.raw_total)
        alone_s = at.dump_start_s + (at.raw_total + rest) / self.floor
        return at.elapsed_s + rest / pace + reserve_s <= (1 + self.slowdown) * alone_s

    def _affords_trial(self, pace: float, at: Stretch | None) -> bool:
        """Affordable with a trial's price to spare: its stretches, the settling one too, at the budget's edge."""
        seconds = at.wait_s + at.work_s if at is not None else 0.0
        return self._affordable(pace, at, (self.TRIAL + 1) * seconds * self.slowdown)

    def _try(self, stretch: Stretch) -> None:
        assert self._trial is not None
        self._trial.append(stretch.rate)
        if len(self._trial) <= self.TRIAL:
            return
        if (not stretch.frame_ratio or self._probes < self.FLOOR_PROBES) and len(self._trial) < self.TRIAL_LONGEST:
            return  # a slow dump: the trial frame's first job, or a warm start's measures, not done yet
        pace = sum(self._trial[1:]) / (len(self._trial) - 1)
        self._trial = None
        pays = (self._probes >= self.FLOOR_PROBES and self._within(pace, self.slowdown)
                and self._affordable(pace, stretch) and stretch.frame_ratio >= (1 + BOUGHT_GAIN) * self._base_ratio)
        if pays:
            self._bought_for, self._bought_paces, self._retry_after = self.BOUGHT_FOR, [], self.RETRY_AFTER
            self.kept = self.level
        else:
            self._not_paid()

    def _not_paid(self) -> None:
        """Back to the free level; the next trial later, twice as late after each failure in a row."""
        self.level, self.kept, self._buy_wait = self._free, self._free, self._retry_after
        self._retry_after = min(2 * self._retry_after, self.RETRY_LONGEST)

    def _keep_bought(self, stretch: Stretch) -> None:
        """A bought level goes when the compressor sets the pace, when its pace falls well below the price
        paid or would take the whole backup past its budget, and when its time is up; spare CPU makes it the
        free level."""
        self._bought_for -= 1
        self._bought_paces = [*self._bought_paces, stretch.rate][-self.BOUGHT_WATCH:]
        recent = sum(self._bought_paces) / len(self._bought_paces)
        slow = len(self._bought_paces) == self.BOUGHT_WATCH and (
            not self._within(recent, 2 * self.slowdown) or not self._affordable(recent, stretch))
        if next_level(self.level, stretch, self.low, self.high) > self.level:
            self._free = self.kept = self.level  # sustained by spare CPU now: the free rules take it from here
        elif stretch.compressor_set_pace:
            self._ceiling, self._ceiling_for, self.level = self.level, self.RETRY_AFTER, self._free
            self.kept = self._free
        elif slow:
            self._not_paid()
        elif not self._bought_for:
            self.level = self._free


def levels_said(levels: dict[str, int]) -> str:
    """'3 (62%), 2 (38%)': which levels a backup used, by share of its raw bytes, most first."""
    total = sum(levels.values())
    if not total:
        return ""
    ranked = sorted(levels.items(), key=lambda item: (-item[1], int(item[0])))
    return ", ".join(f"{level} ({share * 100 // total}%)" for level, share in ranked)
