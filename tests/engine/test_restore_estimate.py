"""The restore time estimate: a fixed part plus a part per byte, never a mean of rates."""

from __future__ import annotations

import pytest

from backup_tui.engine.ops.restore import fit_duration

MB = 1_000_000


def test_sizes_that_differ_separate_the_fixed_part_from_the_rate() -> None:
    # 1 s fixed, 50 MB/s: a 3 MB restore takes 1.06 s, a 100 MB one 3 s.
    points = [(3 * MB, 1.06), (3 * MB, 1.06), (100 * MB, 3.0)]
    assert fit_duration(points, 444 * MB) == pytest.approx(1 + 444 / 50, abs=0.2)


def test_similar_sizes_scale_with_the_bytes_nearby_only() -> None:
    points = [(3 * MB, 1.5), (3.5 * MB, 1.6)]
    assert fit_duration(points, 6 * MB) == pytest.approx(6 * 3.1 / 6.5, abs=0.05)
    assert fit_duration(points, 444 * MB) is None  # a few 3 MB restores say nothing about 444 MB


def test_no_history_no_figure() -> None:
    assert fit_duration([], 10 * MB) is None
