from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from android_bench import summarize


@given(st.lists(st.floats(min_value=1e-3, max_value=1e4), min_size=1, max_size=200))
def test_summary_matches_numpy(samples: list[float]) -> None:
    s = summarize(samples, trim_fraction=0.1)
    xs = np.sort(np.array(samples))
    assert s.median_ms == pytest.approx(float(np.median(xs)))
    assert s.p10_ms == pytest.approx(float(np.percentile(xs, 10)))
    assert s.p90_ms == pytest.approx(float(np.percentile(xs, 90)))
    assert s.min_ms <= s.p10_ms <= s.median_ms <= s.p90_ms <= s.max_ms
    assert s.min_ms <= s.trimmed_mean_ms <= s.max_ms
    if len(samples) > 1:
        assert s.std_ms == pytest.approx(float(np.std(xs, ddof=1)), rel=1e-6, abs=1e-9)


def test_trimmed_mean_drops_outliers() -> None:
    samples = [10.0] * 18 + [1000.0, 0.5]
    s = summarize(samples, trim_fraction=0.1)
    assert s.trimmed_mean_ms == pytest.approx(10.0)
    assert s.mean_ms > 50


@pytest.mark.parametrize("bad", [[], [0.0], [1.0, -2.0], [float("nan")], [float("inf")]])
def test_rejects_bad_samples(bad: list[float]) -> None:
    with pytest.raises(ValueError):
        summarize(bad)


def test_robust_cv_ignores_a_few_outliers() -> None:
    steady = [10.0, 10.1, 9.9, 10.0, 10.05, 9.95] * 5
    s = summarize(steady + [80.0, 95.0])
    assert s.cv > 0.5  # std/mean explodes on two outliers
    assert s.robust_cv < 0.02  # the spread of the bulk stays small
    noisy = summarize([5.0, 10.0, 15.0, 7.0, 13.0, 9.0, 11.0, 6.0, 14.0])
    assert noisy.robust_cv > 0.2
