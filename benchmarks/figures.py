"""Shared by the benchmark drivers: percentiles of timing samples."""

from __future__ import annotations

import math


def percentile(samples: list[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100) of the samples."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
