"""The restore time estimate: a fixed part plus a part per byte, never a mean of rates; a replace's safety
backup is a part of its own, from past backups; no figure where history says nothing."""

from __future__ import annotations

import pytest

from backup_tui.engine.core.estimate import (
    RESTORE,
    SAFETY_BACKUP,
    EstimatePart,
    backup_points,
    estimate_said,
    fit_duration,
    safety_backup_seconds,
    total_seconds,
)
from backup_tui.engine.core.health import human_duration
from backup_tui.engine.core.models import BackupRecord

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


def past_backup(database: str, size: int | str, seconds: float) -> BackupRecord:
    """A manifest as the engine writes it: the database's size when it was taken, and how long it took."""
    return BackupRecord(id=f"{database}-{size}-{seconds}", database=database, created_at="2026-01-01T00:00:00Z",
                        finished_at="2026-01-01T00:01:00Z", duration_s=seconds, format="custom",
                        compression="zstd", raw_bytes=1, stored_bytes=1, sha256="", file_name="x",
                        database_info={"size_bytes": str(size)})


def test_the_safety_backup_scales_this_databases_past_backups_to_its_size_now() -> None:
    own = [past_backup("shop", 100 * MB, 10.0), past_backup("shop", 120 * MB, 12.0)]
    others = [past_backup("blog", 100 * MB, 99.0)]
    assert safety_backup_seconds(own, others, 200 * MB) == pytest.approx(20.0, abs=0.1)


def test_without_its_own_history_the_other_databases_backups_speak() -> None:
    others = [past_backup("blog", 100 * MB, 5.0)]
    assert safety_backup_seconds([], others, 300 * MB) == pytest.approx(15.0, abs=0.1)
    assert safety_backup_seconds([], [], 300 * MB) is None  # nothing to go by: no figure
    assert safety_backup_seconds([], others, 4_000 * MB) is None  # 40x what was ever backed up


def test_a_manifest_without_its_size_or_with_nonsense_gives_no_point() -> None:
    unknown = past_backup("shop", "", 10.0)
    bad = past_backup("shop", "lots", 10.0)
    negative = past_backup("shop", 100 * MB, -1.0)
    endless = past_backup("shop", 100 * MB, float("inf"))
    huge = past_backup("shop", "9" * 400, 10.0)  # an int, but past any float
    assert backup_points([unknown, bad, negative, endless, huge]) == []


def test_a_replaces_total_needs_every_part() -> None:
    both = (EstimatePart(SAFETY_BACKUP, 20.0), EstimatePart(RESTORE, 8.0))
    assert total_seconds(both) == 28.0
    assert estimate_said(both, human_duration) == "about 28.0 s (safety backup 20.0 s, restore 8.0 s)"
    blind = (EstimatePart(SAFETY_BACKUP, None), EstimatePart(RESTORE, 8.0))
    assert total_seconds(blind) is None  # not 8 s: that would leave out the longest phase
    assert estimate_said(blind, human_duration) == "no estimate yet: no past backup of a comparable size " \
                                                   "(restore 8.0 s)"
    neither = (EstimatePart(SAFETY_BACKUP, None), EstimatePart(RESTORE, None))
    assert estimate_said(neither, human_duration) == "no estimate yet: no past backup or restore of a comparable size"
    alone = (EstimatePart(RESTORE, None),)
    assert estimate_said(alone, human_duration) == "no estimate yet: no past restore of a comparable size to go by"
    assert estimate_said((EstimatePart(RESTORE, 8.0),), human_duration) == "about 8.0 s (from past restores)"
