"""Summary statistics of latency samples (pure, stdlib only)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

__all__ = ["LatencyStats", "summarize"]


@dataclass(frozen=True)
class LatencyStats:
    """Summary of ``n`` timed runs in ms: the one implementation (``latency.stats`` re-exports it)."""

    n: int
    mean_ms: float
    median_ms: float
    trimmed_mean_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    max_ms: float
    std_ms: float
    cv: float  # std / mean
    robust_cv: float  # 1.4826 * MAD / median: spread that a few outlier runs cannot inflate

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    # the summary columns of a LUT store row (latency.store.make_row): these names, in this order
    ROW_FIELDS: ClassVar[tuple[str, ...]] = (
        "n",
        "median_ms",
        "trimmed_mean_ms",
        "p10_ms",
        "p90_ms",
        "std_ms",
        "min_ms",
    )

    def as_row(self) -> dict[str, float | int]:
        """The summary columns a LUT store row keeps (:attr:`ROW_FIELDS`); the rest stay derivable from
        the row's raw samples."""
        return {f: getattr(self, f) for f in self.ROW_FIELDS}


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default 'linear' method)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _clamp(value: float, sorted_values: Sequence[float]) -> float:
    """Keep a mean inside [min, max] despite the last-ulp rounding of the division."""
    return min(max(value, sorted_values[0]), sorted_values[-1])


def summarize(samples_ms: Sequence[float], trim_fraction: float = 0.1) -> LatencyStats:
    """Stats of positive, finite samples; ``trim_fraction`` is cut from EACH end for the trimmed mean."""
    if not samples_ms:
        raise ValueError("no samples to summarize")
    bad = [s for s in samples_ms if not (math.isfinite(s) and s > 0)]
    if bad:
        raise ValueError(f"latency samples must be positive and finite, got {bad[:3]}")
    if not 0 <= trim_fraction < 0.5:
        raise ValueError("trim_fraction must be in [0, 0.5)")
    xs = sorted(float(s) for s in samples_ms)
    n = len(xs)
    mean = _clamp(math.fsum(xs) / n, xs)
    k = int(n * trim_fraction)
    kept = xs[k : n - k] if n - 2 * k > 0 else xs
    median = _percentile(xs, 0.5)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
    return LatencyStats(
        n=n,
        mean_ms=mean,
        median_ms=median,
        trimmed_mean_ms=_clamp(math.fsum(kept) / len(kept), xs),
        p10_ms=_percentile(xs, 0.1),
        p90_ms=_percentile(xs, 0.9),
        min_ms=xs[0],
        max_ms=xs[-1],
        std_ms=std,
        cv=std / mean,
        robust_cv=1.4826 * _percentile(sorted(abs(x - median) for x in xs), 0.5) / median,
    )
