"""In-process timing on the host: warm-up, adaptive timed runs, CPU affinity, optional cool-down.

Wraps anything with ``run(np.ndarray)`` (a deploy ``Runner``) or any zero-argument callable. Samples
are ``time.perf_counter_ns`` deltas of single invocations, in milliseconds, taken by
:func:`deploy.timing.time_calls` (the one in-process timing loop).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from deploy.timing import time_calls
from latency.stats import fastest, median_is_stable


@dataclass(frozen=True)
class TimingProtocol:
    """How one artifact is timed.

    ``min_runs`` timed runs always; then batches of ``batch`` until the median's 95% CI half-width is
    within ``rel_ci`` of the median, ``max_runs`` is reached or ``max_time_s`` has elapsed (whichever
    first). ``cooldown_s`` sleeps before warm-up (thermal hygiene on phones; 0 on the host).

    Warm-up is ``warmup`` calls and at least ``warmup_s`` seconds of them: the first few hundred
    invocations of a freshly loaded microsecond-scale artifact run slow. Measured on the 2-core AMD VM
    (16 MiB L3, LiteRT fp32, an IR3 16-48-24@16/2 block of 10.2 us): after 10 warm-up calls five readings'
    medians spread 10.7-14.6 us, after 300 calls (3 ms) 10.18-10.23 us; the LUT had stored 15-16 us for it in
    every toy run, and the two 0.04 ms models built on it came out 11-21% high in all five. 10 calls of a
    millisecond-scale block already take longer than ``warmup_s``: nothing changes there.

    A run that ends without a stable median (bimodal samples: something pre-empted the timed code
    for part of the run) is repeated up to ``retries`` times and the attempt with the lowest median
    is kept - interference only ever adds time. Fixed-count protocols (``min_runs == max_runs``)
    are never repeated.
    """

    warmup: int = 10
    warmup_s: float = 0.02
    min_runs: int = 30
    max_runs: int = 300
    batch: int = 10
    rel_ci: float = 0.01
    max_time_s: float = 1.0
    cooldown_s: float = 0.0
    retries: int = 2

    def __post_init__(self) -> None:
        if (
            self.warmup < 0
            or self.warmup_s < 0
            or self.min_runs < 1
            or self.max_runs < self.min_runs
            or self.batch < 1
            or self.retries < 0
        ):
            raise ValueError(f"inconsistent timing protocol {self}")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def time_callable(fn: Callable[[], object], protocol: TimingProtocol) -> list[float]:
    """Warm up, then time single calls of ``fn`` under ``protocol``; returns samples in ms (of the
    attempt with the lowest median when unstable attempts were repeated)."""
    best = _attempt(fn, protocol)
    retries = protocol.retries if protocol.max_runs > protocol.min_runs else 0
    for _ in range(retries):
        if median_is_stable(best, protocol.rel_ci):
            break
        best = fastest([best, _attempt(fn, protocol)])
    return best


def _attempt(fn: Callable[[], object], protocol: TimingProtocol) -> list[float]:
    if protocol.cooldown_s > 0:
        time.sleep(protocol.cooldown_s)
    warm_until = time.monotonic() + protocol.warmup_s
    time_calls(fn, 0, warmup=protocol.warmup)  # warm-up only: the time budget starts after it
    while time.monotonic() < warm_until:  # and at least warmup_s of it (a fresh artifact's first calls)
        fn()
    samples: list[float] = []
    deadline = time.monotonic() + protocol.max_time_s
    while len(samples) < protocol.max_runs:
        n = protocol.min_runs if not samples else min(protocol.batch, protocol.max_runs - len(samples))
        samples += time_calls(fn, n)  # deploy's one timing loop, in batches until the median is stable
        if len(samples) >= protocol.min_runs and (
            median_is_stable(samples, protocol.rel_ci) or time.monotonic() > deadline
        ):
            break
    return samples


@contextmanager
def pinned(cpus: set[int] | None) -> Iterator[set[int] | None]:
    """Pin this process to ``cpus`` for the duration (Linux); yields the affinity actually in force."""
    if not hasattr(os, "sched_setaffinity"):
        if cpus:
            raise RuntimeError("CPU pinning needs Linux (os.sched_setaffinity); drop --cpus on this OS")
        yield None
        return
    before = os.sched_getaffinity(0)
    if cpus:
        unknown = set(cpus) - before
        if unknown:
            raise ValueError(
                f"CPUs {sorted(unknown)} are not available to this process (have {sorted(before)})"
            )
        os.sched_setaffinity(0, cpus)
    try:
        yield os.sched_getaffinity(0)
    finally:
        if cpus:
            os.sched_setaffinity(0, before)


def run_queue_wait_ns(proc: Path = Path("/proc/self/task")) -> int | None:
    """Nanoseconds this process's threads have spent runnable but waiting for a CPU (the sum of the
    second field of each ``/proc/self/task/*/schedstat``, Linux with ``CONFIG_SCHED_INFO``); None where
    the kernel does not say.

    The contention signal the drift reference cannot give: another process time-sharing the timing
    CPU lets calls that fit in a scheduler slice run at full speed, so a small reference reads the same
    while a millisecond-scale block is pre-empted mid-call (on the 2-core VM, two busy processes per
    CPU kept the reference's median and took a 2.4 ms model to 6.4 ms); the timed thread's wait for a
    CPU shows it either way (0% of a measurement's wall time idle, 66-80% under that load)."""
    try:
        tasks = list(proc.iterdir())
    except OSError:
        return None
    # a thread that ended since the listing, or no schedstat in this kernel, reads None
    waits = [w for w in (_schedstat_wait_ns(task / "schedstat") for task in tasks) if w is not None]
    return sum(waits) if waits else None


def _schedstat_wait_ns(path: Path) -> int | None:
    """The run-queue wait (second field) of one ``schedstat`` file; None where it is missing or odd."""
    try:
        fields = path.read_text().split()
    except OSError:
        return None
    return int(fields[1]) if len(fields) >= 2 and fields[1].isdigit() else None


THREAD_SCHEDSTAT = Path("/proc/thread-self/schedstat")


def thread_run_queue_wait_ns(path: Path = THREAD_SCHEDSTAT) -> int | None:
    """:func:`run_queue_wait_ns` of the calling thread alone (``/proc/thread-self/schedstat``): what a
    single-threaded runtime's wait for a CPU is, without the process's other threads. Summed over every
    thread, a demo's timing read 152-664% "of its time" waiting after training (other threads of the
    process were runnable) and called measurements on an idle VM contended."""
    return _schedstat_wait_ns(path)
