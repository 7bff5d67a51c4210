"""Summary statistics of latency samples and the adaptive stopping rule (pure numpy).

:class:`LatencyStats` and :func:`summarize` are android_bench's (torch-free, the lowest layer; one
implementation for phones and the LUT): re-exported here, where the LUT code has always imported them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from android_bench.stats import LatencyStats, summarize

__all__ = ["LatencyStats", "fastest", "median_ci", "median_is_stable", "summarize"]


def median_ci(samples_ms: Sequence[float], z: float = 1.96) -> tuple[float, float]:
    """Distribution-free ~95% confidence interval of the median from order statistics."""
    x = np.sort(np.asarray(samples_ms, dtype=np.float64))
    n = x.size
    if n == 0:
        raise ValueError("no samples")
    half = z * math.sqrt(n) / 2
    lo = max(0, int(math.floor(n / 2 - half)))
    hi = min(n - 1, int(math.ceil(n / 2 + half)))
    return float(x[lo]), float(x[hi])


def median_is_stable(samples_ms: Sequence[float], rel_tol: float) -> bool:
    """True when the median's 95% CI half-width is within ``rel_tol`` of the median."""
    if len(samples_ms) < 10:
        return False
    lo, hi = median_ci(samples_ms)
    med = float(np.median(samples_ms))
    return med > 0 and (hi - lo) / 2 <= rel_tol * med


def fastest(attempts: Sequence[Sequence[float]]) -> list[float]:
    """The attempt (samples in ms) with the lowest median: interference only ever adds time."""
    return list(min(attempts, key=lambda a: float(np.median(np.asarray(a, dtype=np.float64)))))
