"""How objects are cut into parts and how many are sent at once (core.parts): S3's limits and our memory bound."""

from __future__ import annotations

import pytest

from backup_tui.engine.core.errors import ConfigError
from backup_tui.engine.core.parts import (
    GROW_EVERY,
    MAX_PART,
    MAX_PARTS,
    MIB,
    MIN_PART,
    file_part_size,
    part_count,
    parts_in_flight,
    stream_capacity,
    stream_part_size,
)


def test_a_stream_keeps_its_part_size_then_grows_so_ten_thousand_parts_hold_far_more() -> None:
    base = 16 * MIB
    assert stream_part_size(1, base) == stream_part_size(GROW_EVERY, base) == base
    assert stream_part_size(GROW_EVERY + 1, base) == 2 * base
    sizes = [stream_part_size(n, base) for n in range(1, MAX_PARTS + 1)]
    assert all(MIN_PART <= s <= MAX_PART for s in sizes)
    assert sizes == sorted(sizes), "parts never shrink"
    assert sum(sizes) == stream_capacity(base) == 31 * GROW_EVERY * base  # 968 GiB at 16 MiB, not 156 GiB
    assert stream_part_size(1, 1 * MIB) == MIN_PART, "never below S3's smallest part"
    assert stream_part_size(MAX_PARTS, 4 * 1024 * MIB) == MAX_PART, "never above S3's largest"
    with pytest.raises(ValueError):
        stream_part_size(0, base)


def test_a_file_of_known_size_keeps_the_part_size_unless_it_needs_more_than_ten_thousand_parts() -> None:
    base = 16 * MIB
    assert file_part_size(320 * MIB, base) == base
    assert part_count(320 * MIB, base) == 20
    assert part_count(320 * MIB + 1, base) == 21
    assert part_count(0, base) == 1
    big = 200 * 1024 * MIB  # 200 GiB: 12,800 parts of 16 MiB, too many
    part = file_part_size(big, base)
    assert part % MIB == 0 and part > base and part_count(big, part) <= MAX_PARTS
    assert file_part_size(MAX_PARTS * base, base) == base, "exactly 10,000 parts is allowed"
    with pytest.raises(ConfigError, match="do not fit in one S3 object"):
        file_part_size(MAX_PARTS * MAX_PART + 1, base)


def test_parts_in_flight_follow_concurrency_and_the_memory_they_hold() -> None:
    assert parts_in_flight(16 * MIB, 8, None) == 8, "ranges of a file cost no memory: all of concurrency"
    assert parts_in_flight(16 * MIB, 8, 64 * MIB) == 4
    assert parts_in_flight(16 * MIB, 2, 64 * MIB) == 2
    assert parts_in_flight(128 * MIB, 8, 64 * MIB) == 1, "a part larger than the bound still goes, alone"
    assert parts_in_flight(16 * MIB, 0, None) == 1
