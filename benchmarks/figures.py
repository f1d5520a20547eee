"""Shared by the benchmark drivers: percentiles of timing samples."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Awaitable, Callable


def percentile(samples: list[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100) of the samples."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


async def timed(calls: int, make: Callable[[int], Awaitable[object]]) -> list[float]:
    """Milliseconds of each of `calls` awaits of make(i), one after another."""
    durations = []
    for i in range(calls):
        started = time.perf_counter()
        await make(i)
        durations.append((time.perf_counter() - started) * 1000)
    return durations


def report(name: str, samples: list[float], width: int = 44) -> float:
    """Print the samples' p50 and p99; return the p99."""
    p99 = percentile(samples, 99)
    print(f"  {name:<{width}} p50 {statistics.median(samples):8.3f} ms   p99 {p99:8.3f} ms")
    return p99
