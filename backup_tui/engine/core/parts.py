"""How an object is cut into multipart parts, and how many are sent at once: S3's limits (every part but
the last at least 5 MiB, at most 5 GiB each, at most 10,000 of them) and our memory bound, in one place."""

from __future__ import annotations

from backup_tui.engine.core.errors import ConfigError

MIB = 1 << 20
MIN_PART = 5 * MIB  # S3's smallest part (but the last)
MAX_PART = 5 * 1024 * MIB  # S3's largest part
MAX_PARTS = 10_000  # S3's most parts in one object
GROW_EVERY = 2_000  # a stream of unknown size doubles its part size after this many parts


def stream_part_size(number: int, base: int) -> int:
    """The size of part ``number`` (from 1) of a stream whose size is unknown: ``base`` for the first
    GROW_EVERY parts, then doubled every GROW_EVERY parts (at most MAX_PART), so 10,000 parts hold 31 times
    ``base`` times GROW_EVERY (968 GiB at 16 MiB) instead of failing at part 10,001 (156 GiB)."""
    if number < 1:
        raise ValueError(f"part numbers start at 1, not {number}")
    size = max(MIN_PART, base) << ((number - 1) // GROW_EVERY)
    return min(size, MAX_PART)


def stream_capacity(base: int) -> int:
    """The most bytes a stream cut by ``stream_part_size`` can hold in MAX_PARTS parts."""
    return sum(min(max(MIN_PART, base) << i, MAX_PART) * GROW_EVERY for i in range(MAX_PARTS // GROW_EVERY))


def file_part_size(size: int, base: int) -> int:
    """The part size for an object of known ``size``: ``base``, or larger (in whole MiB) when ``base`` would
    need more than MAX_PARTS parts."""
    part = max(MIN_PART, base)
    if -(-size // part) > MAX_PARTS:
        part = -(-size // MAX_PARTS // MIB) * MIB
    if part > MAX_PART:
        raise ConfigError(f"{size:,} bytes do not fit in one S3 object ({MAX_PARTS:,} parts of at most 5 GiB)")
    return part


def part_count(size: int, part: int) -> int:
    return max(1, -(-size // part))


def parts_in_flight(part: int, concurrency: int, memory: int | None) -> int:
    """How many parts are sent at once: ``concurrency``, fewer when parts held in memory would exceed
    ``memory`` (None: parts read from a file cost no memory), never fewer than one."""
    if memory is None:
        return max(1, concurrency)
    return max(1, min(concurrency, memory // max(1, part)))
