import numpy as np
import pytest

from deploy import Dtype
from deploy.verify import ArtifactCheck, add_speed_warnings, compare, numeric_failure


def _logits(n=100, c=10, seed=0):
    return np.random.default_rng(seed).normal(size=(n, c)).astype(np.float32) * 5


def test_fp32_tolerance_is_relative():
    ref = _logits()
    assert numeric_failure(compare(ref, ref + 1e-5), Dtype.FP32) == ""
    big = ref * 1000  # max |ref| ~ 1e4: 1e-4 relative allows ~1 absolute
    assert numeric_failure(compare(big, big + 0.5), Dtype.FP32) == ""
    msg = numeric_failure(compare(ref, ref + 1e-2), Dtype.FP32)
    assert "fp32 max abs diff" in msg


def test_int8_needs_cosine_and_top1_agreement():
    ref = _logits()
    noisy = ref + np.random.default_rng(1).normal(scale=0.05, size=ref.shape).astype(np.float32)
    n = compare(ref, noisy)
    assert n.cosine > 0.99 and numeric_failure(n, Dtype.INT8) == ""
    flipped = ref.copy()
    flipped[:5] = -flipped[:5]  # 5% of samples disagree
    bad = compare(ref, flipped)
    assert bad.top1_agreement == pytest.approx(0.95)
    assert "top-1 agreement 95.0% < 98%" in numeric_failure(bad, Dtype.INT8)
    assert "cosine" in numeric_failure(compare(ref, _logits(seed=3)), Dtype.INT8_WEIGHTS)


def test_accuracy_and_drop():
    ref = np.eye(10, dtype=np.float32)[np.arange(20) % 10]
    labels = np.arange(20) % 10
    out = ref.copy()
    out[0] = np.eye(10)[3]
    n = compare(ref, out, labels)
    assert n.ref_accuracy == 1.0 and n.accuracy == 0.95 and n.accuracy_drop_pts == pytest.approx(5.0)


def test_shape_mismatch_is_an_error():
    with pytest.raises(RuntimeError, match="differs"):
        compare(np.zeros((2, 10)), np.zeros((2, 5)))


def test_speed_warning_quotes_measured_numbers():
    checks = [
        ArtifactCheck("tflite", Dtype.FP32, "pass", latency_ms=0.1),
        ArtifactCheck("tflite", Dtype.INT8, "pass", latency_ms=0.45),
        ArtifactCheck("executorch", Dtype.FP32, "pass", latency_ms=0.2),
        ArtifactCheck("executorch", Dtype.INT8, "pass", latency_ms=0.1),
    ]
    add_speed_warnings(checks, {"tflite": "litert", "executorch": "executorch"})
    assert checks[1].warnings and "4.5x SLOWER" in checks[1].warnings[0]
    assert "0.450 ms vs 0.100 ms" in checks[1].warnings[0] and "hard-swish" in checks[1].warnings[0]
    assert not checks[3].warnings and not checks[0].warnings


def test_a_tie_with_fp32_is_not_called_slower():
    # the fresh-clone demo printed "1.0x SLOWER" for 0.038 vs 0.038 ms
    checks = [
        ArtifactCheck("executorch", Dtype.FP32, "pass", latency_ms=0.0380),
        ArtifactCheck("executorch", Dtype.INT8, "pass", latency_ms=0.0384),
        ArtifactCheck("tflite", Dtype.FP32, "pass", latency_ms=0.1),
        ArtifactCheck("tflite", Dtype.INT8, "pass", latency_ms=0.106),
    ]
    add_speed_warnings(checks, {"tflite": "litert", "executorch": "executorch"})
    (tie,) = checks[1].warnings
    assert "no faster than fp32" in tie and "SLOWER" not in tie and "0.038 ms vs 0.038 ms" in tie
    (slow,) = checks[3].warnings
    assert "1.1x SLOWER" in slow and "ship fp32" in slow
