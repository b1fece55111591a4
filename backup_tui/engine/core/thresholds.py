"""The limits health judges by (``[health]`` of the config): apart from ``core.health`` so that reading the
config loads none of the rules, their statistics and their wording; what judges health loads them itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

ANOMALY_TOLERANCE = 0.5  # more than 50% off the median of the previous backups


@dataclass(frozen=True)
class Thresholds:
    """``[health]`` of the config, overridable in each ``[[databases]]``."""

    max_age_hours: float = 25
    min_size_bytes: int = 1_000_000  # 1 MB, SI like every size we print
    size_change: float = ANOMALY_TOLERANCE
    verify_max_age_days: float = 8

    @property
    def max_age(self) -> timedelta:
        return timedelta(hours=self.max_age_hours)


DEFAULT_THRESHOLDS = Thresholds()
