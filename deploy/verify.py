"""Stage 6: verify an artifact against the PyTorch model - numerics, delegation, measured speed.

Thresholds (per artifact dtype):

* fp32: ``max |out - ref| <= 1e-4 * max(1, max |ref|)`` (relative max-abs)
* fp16: cosine >= 0.999 and top-1 agreement >= 98 %
* int8 / int8 weights: cosine >= 0.99 and top-1 agreement >= 98 %

Cosine is the mean per-sample cosine similarity of the logit vectors. Artifacts whose runtime cannot
run here (Core ML off macOS) are checked structurally and reported ``unavailable`` - never passed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from deploy.registry import UnknownTarget, resolve
from deploy.timing import time_calls
from deploy.types import DeployError, Dtype, Target, TargetUnavailable

log = logging.getLogger(__name__)

FP32_REL_TOL = 1e-4
COSINE_MIN = {Dtype.FP16: 0.999, Dtype.INT8: 0.99, Dtype.INT8_WEIGHTS: 0.99}
TOP1_AGREEMENT_MIN = 0.98
SLOW_UNKNOWN = "no faster kernels for this dtype here"


@dataclass(frozen=True)
class Numerics:
    max_abs: float
    rel_max_abs: float
    cosine: float
    top1_agreement: float
    accuracy: float | None = None  # of the artifact on the labelled verification data
    ref_accuracy: float | None = None  # of the PyTorch model on the same data
    n: int = 0

    @property
    def accuracy_drop_pts(self) -> float | None:
        if self.accuracy is None or self.ref_accuracy is None:
            return None
        return 100.0 * (self.ref_accuracy - self.accuracy)


@dataclass
class ArtifactCheck:
    """The outcome for one artifact. ``status``: pass | fail | unavailable."""

    target: str
    dtype: Dtype
    status: str
    reason: str = ""
    numerics: Numerics | None = None
    latency_ms: float | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dtype"] = self.dtype.value
        if self.numerics is not None:
            d["numerics"]["accuracy_drop_pts"] = self.numerics.accuracy_drop_pts
        return d


def compare(ref: np.ndarray, out: np.ndarray, labels: np.ndarray | None = None) -> Numerics:
    """Numeric agreement of artifact logits ``out`` with reference logits ``ref`` (both N x classes)."""
    if ref.shape != out.shape:
        raise DeployError(f"artifact output shape {out.shape} differs from the model's {ref.shape}")
    ref64, out64 = ref.astype(np.float64), out.astype(np.float64)
    max_abs = float(np.max(np.abs(ref64 - out64)))
    scale = max(1.0, float(np.max(np.abs(ref64))))
    denom = np.linalg.norm(ref64, axis=1) * np.linalg.norm(out64, axis=1)
    cos = np.where(denom > 0, np.sum(ref64 * out64, axis=1) / np.maximum(denom, 1e-30), 1.0)
    agree = float(np.mean(ref.argmax(1) == out.argmax(1)))
    acc = ref_acc = None
    if labels is not None:
        acc = float(np.mean(out.argmax(1) == labels))
        ref_acc = float(np.mean(ref.argmax(1) == labels))
    return Numerics(max_abs, max_abs / scale, float(np.mean(cos)), agree, acc, ref_acc, int(ref.shape[0]))


def numeric_failure(n: Numerics, dtype: Dtype) -> str:
    """Empty if ``n`` meets the threshold for ``dtype``, else one line saying which bound failed."""
    if dtype is Dtype.FP32:
        if n.rel_max_abs > FP32_REL_TOL:
            return (
                f"fp32 max abs diff {n.max_abs:.3g} (relative {n.rel_max_abs:.3g}) exceeds {FP32_REL_TOL:g}"
            )
        return ""
    problems = []
    if n.cosine < COSINE_MIN[dtype]:
        problems.append(f"cosine {n.cosine:.4f} < {COSINE_MIN[dtype]}")
    if n.top1_agreement < TOP1_AGREEMENT_MIN:
        problems.append(f"top-1 agreement {100 * n.top1_agreement:.1f}% < {100 * TOP1_AGREEMENT_MIN:.0f}%")
    return f"{dtype.value}: " + ", ".join(problems) if problems else ""


def measure_latency_ms(runner, x: np.ndarray, warmup: int = 5, iters: int = 30) -> float:
    """Median wall time of ``runner.run(x)`` (batch of ``x``) in ms after ``warmup`` calls."""
    return float(np.median(time_calls(lambda: runner.run(x), iters, warmup)))


def verify_artifact(
    target: Target,
    dtype: Dtype,
    path: Path,
    inputs: np.ndarray,
    ref_logits: np.ndarray,
    labels: np.ndarray | None = None,
    threads: int = 1,
    time_it: bool = True,
) -> ArtifactCheck:
    """Structure (``target.inspect``), then numerics and host latency if the runtime runs here."""
    try:
        info = target.inspect(path)
    except DeployError as e:
        return ArtifactCheck(target.name, dtype, "fail", str(e))
    if info.undelegated_compute:
        return ArtifactCheck(
            target.name, dtype, "fail", f"compute ops outside the delegate: {info.undelegated_compute}"
        )
    try:
        runner = target.load(path, threads=threads)
    except TargetUnavailable as e:
        return ArtifactCheck(target.name, dtype, "unavailable", str(e))
    except DeployError as e:
        return ArtifactCheck(target.name, dtype, "fail", str(e))
    out = runner.run(inputs)
    numerics = compare(ref_logits, out, labels)
    failure = numeric_failure(numerics, dtype)
    latency = measure_latency_ms(runner, inputs[:1]) if time_it else None
    return ArtifactCheck(target.name, dtype, "fail" if failure else "pass", failure, numerics, latency)


def known_slow_reason(name: str, dtype: Dtype) -> str:
    """Why the target (or runtime) ``name`` is known to run ``dtype`` slowly, from its descriptor."""
    try:
        return resolve(name).known_slow.get(dtype, SLOW_UNKNOWN)
    except UnknownTarget:
        return SLOW_UNKNOWN


# a quantized artifact at most this much slower than its fp32 sibling ties with it (timing noise on the
# 2-core VMs); the deploy matrix benchmark uses the same cut for "SLOWER" vs "no gain"
TIE_RATIO = 1.05


def add_speed_warnings(checks: list[ArtifactCheck], runtime_of: Mapping[str, str] | None = None) -> None:
    """Warn (on the quantized check) when a quantized artifact measured slower than its fp32 sibling.

    The reason quoted is the target's declared known-slow fact; ``runtime_of`` maps check targets that
    are not registry names (renamed bundles) to a target or runtime name."""
    fp32 = {c.target: c.latency_ms for c in checks if c.dtype is Dtype.FP32 and c.latency_ms}
    for c in checks:
        base = fp32.get(c.target)
        if not c.dtype.is_quantized or c.latency_ms is None or base is None or c.latency_ms <= base:
            continue
        why = known_slow_reason((runtime_of or {}).get(c.target, c.target), c.dtype)
        ratio = c.latency_ms / base
        if ratio <= TIE_RATIO:  # a tie within timing noise: not "1.0x SLOWER"
            msg = (
                f"{c.target} {c.dtype.value} is no faster than fp32 on this host ({c.latency_ms:.3f} ms vs "
                f"{base:.3f} ms, median; within {100 * (TIE_RATIO - 1):.0f}%): {why}; it saves size, not time"
            )
        else:
            msg = (
                f"{c.target} {c.dtype.value} is {ratio:.1f}x SLOWER than fp32 on this host "
                f"({c.latency_ms:.3f} ms vs {base:.3f} ms, median): {why}; ship fp32 for this runtime"
            )
        c.warnings.append(msg)
        log.warning(msg)
