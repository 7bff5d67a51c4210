"""LUT-predicted latency of one arch for deploy targets: what ``phonenas deploy --lut`` writes into
each bundle's manifest (``artifacts[].latency_ms.predicted``).

A target's LUT is the stored context of its runtime and delegate (``tflite-nhwc`` uses the ``tflite``
LUT: same runtime, same delegate), with the deploy's thread count and, when given, device. Each LUT
dtype predicts the artifact dtype its target declares for it (a Core ML ``int8`` LUT times int8
weights, so it predicts the ``int8w`` artifact).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from deploy.registry import lut_target, resolve
from latency.lut import LUT, MissingEntriesError
from latency.selection import ContextFilter
from latency.store import LUTStore
from search.arch import ArchSpec


@dataclass
class TargetLatency:
    """``latency_ms[(target, artifact dtype)]``; ``notes`` say why a stored LUT gave no prediction."""

    latency_ms: dict[tuple[str, str], float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def predict_targets(
    store: LUTStore, arch: ArchSpec, targets: Sequence[str], device: str | None = None, threads: int = 1
) -> TargetLatency:
    """Predict ``arch`` for every target and dtype ``store`` holds exactly one matching LUT for."""
    out = TargetLatency()
    contexts = store.contexts()
    for name in targets:
        spec = resolve(name)
        try:
            lut_spec = spec if spec.measurable else lut_target(spec.runtime, spec.delegate)
        except ValueError:  # UnknownTarget: a runtime whose latency no LUT measures
            continue
        for lut_dtype, artifact_dtype in lut_spec.lut_dtypes.items():
            if artifact_dtype not in spec.dtypes:
                continue
            found = ContextFilter(device, lut_spec.name, lut_dtype.value, threads).select(contexts)
            label = f"{spec.name} {artifact_dtype.value}"
            if len(found) > 1:
                out.notes.append(
                    f"no LUT prediction for {label}: several LUTs match "
                    f"({'; '.join(c.label() for c in found)}); pass --device"
                )
                continue
            if not found:
                continue
            try:
                pred = LUT.from_store(store, found[0]).predict(arch)
            except MissingEntriesError as e:
                out.notes.append(f"no LUT prediction for {label}: {e}")
                continue
            out.latency_ms[(spec.name, artifact_dtype.value)] = float(pred.latency_ms)
    return out
