"""Summary statistics of latency samples and the adaptive stopping rule (pure numpy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    """Summary of ``n`` timed runs in milliseconds. ``trimmed_mean_ms`` drops 10% at each end."""

    n: int
    median_ms: float
    trimmed_mean_ms: float
    p10_ms: float
    p90_ms: float
    std_ms: float
    min_ms: float

    def as_row(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "median_ms": self.median_ms,
            "trimmed_mean_ms": self.trimmed_mean_ms,
            "p10_ms": self.p10_ms,
            "p90_ms": self.p90_ms,
            "std_ms": self.std_ms,
            "min_ms": self.min_ms,
        }


def summarize(samples_ms: Sequence[float], trim: float = 0.1) -> LatencyStats:
    """Median, ``trim``-trimmed mean, p10/p90 (linear interpolation), sample std (ddof=1), min."""
    x = np.sort(np.asarray(samples_ms, dtype=np.float64))
    if x.size == 0:
        raise ValueError("no latency samples to summarize")
    if not np.all(np.isfinite(x)) or x[0] < 0:
        raise ValueError("latency samples must be finite and >= 0")
    k = int(math.floor(trim * x.size))
    core = x[k : x.size - k] if x.size - 2 * k > 0 else x
    return LatencyStats(
        n=int(x.size),
        median_ms=float(np.median(x)),
        trimmed_mean_ms=float(core.mean()),
        p10_ms=float(np.percentile(x, 10)),
        p90_ms=float(np.percentile(x, 90)),
        std_ms=float(x.std(ddof=1)) if x.size > 1 else 0.0,
        min_ms=float(x[0]),
    )


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
