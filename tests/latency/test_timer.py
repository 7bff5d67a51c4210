"""The host timing loop: adaptive stop, and repeating a run whose median never settles (pre-emption)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from latency import timer
from latency.timer import TimingProtocol, time_callable


class FakeClock:
    """Each call of ``fn`` advances the clock by the next scripted duration (ms)."""

    def __init__(self, durations_ms):
        self.durations = iter(durations_ms)
        self.now_ns = 0
        self.calls = 0

    def fn(self) -> None:
        self.calls += 1
        self.now_ns += int(next(self.durations) * 1e6)


@pytest.fixture
def clock(monkeypatch):
    def install(durations_ms):
        c = FakeClock(durations_ms)
        fake = types.SimpleNamespace(
            perf_counter_ns=lambda: c.now_ns, monotonic=lambda: 0.0, sleep=lambda s: None
        )
        monkeypatch.setattr(timer, "time", fake)
        return c

    return install


PROTO = TimingProtocol(warmup=2, min_runs=10, max_runs=40, batch=10, rel_ci=0.01)


def _bimodal(n):  # half the calls pre-empted: the median's CI never gets within 1%
    return [1.0 if i % 2 else 3.0 for i in range(n)]


def test_unstable_run_is_repeated_and_lowest_median_kept(clock):
    c = clock(_bimodal(2 + 40) + [1.0] * (2 + 10))
    samples = time_callable(c.fn, PROTO)
    assert len(samples) == 10 and np.median(samples) == pytest.approx(1.0)
    assert c.calls == 42 + 12  # one unstable attempt to max_runs, one stable attempt stopping at min_runs


def test_retries_are_bounded_and_keep_the_best_attempt(clock):
    worse = [3.0 if i % 3 else 1.0 for i in range(42)]  # median 3.0, unstable
    c = clock(_bimodal(42) + worse + _bimodal(42))
    samples = time_callable(c.fn, PROTO)  # retries=2: three attempts, none stable
    assert c.calls == 3 * 42
    assert np.median(samples) == pytest.approx(2.0)  # the first bimodal attempt (median between modes)


def test_stable_run_and_fixed_count_protocol_are_not_repeated(clock):
    c = clock([1.0] * 12)
    assert len(time_callable(c.fn, PROTO)) == 10 and c.calls == 12
    fixed = TimingProtocol(warmup=2, min_runs=20, max_runs=20)
    c = clock(_bimodal(22) + [1.0] * 100)
    assert len(time_callable(c.fn, fixed)) == 20 and c.calls == 22  # the user asked for exactly 20 runs


def test_protocol_rejects_negative_retries():
    with pytest.raises(ValueError, match="inconsistent"):
        TimingProtocol(retries=-1)
