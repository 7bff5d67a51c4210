import numpy as np
import pytest

from latency.stats import median_ci, median_is_stable, summarize


def test_summary_on_known_samples():
    s = summarize([float(i) for i in range(1, 11)])  # 1..10
    assert s.n == 10
    assert s.median_ms == 5.5
    assert s.trimmed_mean_ms == pytest.approx(np.mean(range(2, 10)))  # drops 1 and 10
    assert s.p10_ms == pytest.approx(1.9)
    assert s.p90_ms == pytest.approx(9.1)
    assert s.std_ms == pytest.approx(np.std(range(1, 11), ddof=1))
    assert s.min_ms == 1.0


def test_summary_single_sample_and_errors():
    s = summarize([2.0])
    assert s.median_ms == s.trimmed_mean_ms == s.p10_ms == 2.0 and s.std_ms == 0.0
    with pytest.raises(ValueError):
        summarize([])
    with pytest.raises(ValueError):
        summarize([1.0, float("nan")])


def test_median_ci_and_stability():
    rng = np.random.default_rng(0)
    tight = 1.0 + 0.001 * rng.standard_normal(200)
    loose = 1.0 + 0.5 * rng.random(20)
    lo, hi = median_ci(tight)
    assert lo <= np.median(tight) <= hi
    assert median_is_stable(tight, 0.01)
    assert not median_is_stable(loose, 0.01)
    assert not median_is_stable([1.0] * 5, 0.01)  # too few samples


def test_store_row_columns_are_unchanged():
    """One LatencyStats for phones and the LUT: a store row still carries exactly these summary columns."""
    row = summarize([3.0, 1.0, 2.0]).as_row()
    assert list(row) == ["n", "median_ms", "trimmed_mean_ms", "p10_ms", "p90_ms", "std_ms", "min_ms"]
    assert row["n"] == 3 and row["median_ms"] == 2.0 and row["min_ms"] == 1.0
