"""The one in-process timing loop: untimed warm-up calls, then single calls timed with ``perf_counter_ns``.

Used by deploy's verification (:func:`deploy.verify.measure_latency_ms`), the LUT's adaptive host
timer (:func:`latency.timer.time_callable` runs it in batches until the median is stable) and the
benchmarks that time host calls. It lives in deploy, the lowest layer that times anything in this
process and that both deploy and latency may import.

The one other timing loop is deliberate: ``android_bench/resources/phonenas_bench_runner`` runs on the
device under the device's own Python with nothing of PhoneNAS installed (it is pushed as a single
file, by hash), and it prints every warm-up time as well; the native ``phonenas-runner`` (runner/) is
C++. Both report samples in the same ``phonenas-bench`` format instead of sharing this code.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["time_calls"]


def time_calls(fn: Callable[[], object], runs: int, warmup: int = 0) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times, each call timed on its own; returns the
    ``runs`` samples in milliseconds, in order."""
    if runs < 0 or warmup < 0:
        raise ValueError(f"runs and warmup must be >= 0, got runs={runs}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    clock = time.perf_counter_ns
    samples: list[float] = []
    for _ in range(runs):
        t0 = clock()
        fn()
        samples.append((clock() - t0) / 1e6)
    return samples
