"""Latency percentiles, one definition for every benchmark (nearest rank)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Percentiles:
    """Count, mean and percentiles of a set of durations, all in the unit they were given in."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    p999: float

    def as_dict(self) -> dict[str, float]:
        """The figures by name, for JSON."""
        return {
            "count": self.count,
            "mean": self.mean,
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
            "p99.9": self.p999,
        }


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def percentiles(values: Iterable[float]) -> Percentiles:
    """The percentiles of ``values`` (any order); all zero when there are none."""
    ordered = sorted(values)
    if not ordered:
        return Percentiles(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return Percentiles(
        count=len(ordered),
        mean=statistics.fmean(ordered),
        p50=percentile(ordered, 0.50),
        p95=percentile(ordered, 0.95),
        p99=percentile(ordered, 0.99),
        p999=percentile(ordered, 0.999),
    )
