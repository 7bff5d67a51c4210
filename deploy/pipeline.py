"""The staged deploy pipeline: ArchSpec + weights -> dense model -> export/quantize/lower per target
-> serialize -> verify -> one bundle directory per target (see :mod:`deploy.bundle`).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from deploy.bundle import REFERENCE, write_manifest, write_reference
from deploy.registry import get_target
from deploy.types import DeployError, Dtype, Target, UnsupportedDtype
from deploy.verify import ArtifactCheck, add_speed_warnings, verify_artifact
from deploy.versions import runtime_versions
from search.arch import ArchSpec, arch_to_dict, encode_arch
from search.build import build_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Normalization:
    mean: tuple[float, ...]
    std: tuple[float, ...]
    note: str = "x = (pixel / 255 - mean) / std, per channel"


@dataclass(frozen=True)
class EvalData:
    """Calibration batches plus a labelled verification set, already shaped for the model (NCHW)."""

    calib: torch.Tensor
    inputs: torch.Tensor
    labels: torch.Tensor | None
    label_names: tuple[str, ...]
    normalization: Normalization
    source: str


@dataclass(frozen=True)
class DeployRequest:
    arch: ArchSpec
    targets: tuple[str, ...]
    quantize: tuple[Dtype, ...]  # extra dtypes on top of each target's base dtype
    out_dir: Path
    data: EvalData
    weights: str = "random init (seed 0)"  # provenance of the weights, for the manifest
    device: str | None = None  # phone the bundle is for (manifest only)
    threads: int = 1
    predicted_latency_ms: Mapping[tuple[str, str], float] = field(default_factory=dict)


@dataclass
class BundleResult:
    target: str
    path: Path
    checks: list[ArtifactCheck]
    export_s: dict[str, float]
    size_bytes: dict[str, int]


def dtypes_for(target: Target, quantize: Sequence[Dtype]) -> list[Dtype]:
    """The target's base dtype (its descriptor's; fp16 for Core ML) plus every extra one it can export."""
    base = target.spec.base_dtype
    wanted = [base] + [d for d in quantize if d is not base]
    missing = [d for d in wanted if d not in target.dtypes]
    for d in missing:
        log.warning("%s has no %s path; skipping that dtype", target.name, d.value)
    return [d for d in wanted if d in target.dtypes]


def load_model(arch: ArchSpec, weights: Path | None, seed: int = 0) -> nn.Module:
    """Stage 1: the dense model in eval mode, with ``weights`` (a state_dict file) or a seeded init."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(arch)
    if weights is not None:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise DeployError(f"weights file {weights} not found") from None
        except Exception as e:  # noqa: BLE001
            raise DeployError(
                f"{weights}: not a torch state_dict ({type(e).__name__}); "
                "save with torch.save(model.state_dict())"
            ) from None
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise DeployError(f"{weights} does not fit arch {encode_arch(arch)}: {first}") from None
    return model.eval()


def deploy(
    request: DeployRequest, model: nn.Module, on_step: Callable[[str], None] | None = None
) -> list[BundleResult]:
    """Export, verify and bundle ``model`` for every requested target; returns one result per bundle."""
    data = request.data
    example = data.inputs[:1].contiguous()
    with torch.no_grad():
        ref_logits = torch.cat([model(x.unsqueeze(0)) for x in data.inputs]).numpy()
    inputs = data.inputs.numpy()
    labels = data.labels.numpy() if data.labels is not None else None
    calib = [data.calib]
    results = []
    for typed in request.targets:
        target = get_target(typed)
        name = target.name  # an alias (litert, onnxruntime) names the bundle like the target
        bundle = Path(request.out_dir) / (f"{request.device}-{name}" if request.device else name)
        bundle.mkdir(parents=True, exist_ok=True)
        checks, export_s, sizes, artifacts = [], {}, {}, []
        for dtype in dtypes_for(target, request.quantize):
            if on_step:
                on_step(f"{name} {dtype.value}: export")
            path = bundle / f"model_{dtype.value}{target.suffix}"
            t0 = time.perf_counter()
            try:
                target.export(model, example, dtype, path, calib=calib)
            except UnsupportedDtype:
                continue
            export_s[dtype.value] = time.perf_counter() - t0
            sizes[dtype.value] = _size(path)
            if on_step:
                on_step(f"{name} {dtype.value}: verify")
            check = verify_artifact(target, dtype, path, inputs, ref_logits, labels, threads=request.threads)
            checks.append(check)
            artifacts.append((path, dtype))
        add_speed_warnings(checks)
        write_reference(bundle, inputs, ref_logits, labels)
        manifest = _manifest(request, target, artifacts, checks, export_s, sizes)
        write_manifest(bundle, manifest)
        results.append(BundleResult(name, bundle, checks, export_s, sizes))
    return results


def _size(path: Path) -> int:
    return (
        path.stat().st_size
        if path.is_file()
        else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    )


def _manifest(request: DeployRequest, target: Target, artifacts, checks, export_s, sizes) -> dict:
    arch, data = request.arch, request.data
    shape = [1, arch.in_ch, arch.input_hw, arch.input_hw]
    by_dtype = {c.dtype: c for c in checks}
    entries = []
    for path, dtype in artifacts:
        check = by_dtype[dtype]
        entries.append(
            {
                "file": path.name,
                "dtype": dtype.value,
                "size_bytes": sizes[dtype.value],
                "export_s": round(export_s[dtype.value], 3),
                "latency_ms": {
                    "predicted": request.predicted_latency_ms.get((target.name, dtype.value)),
                    "measured_host": check.latency_ms,
                    "measured_on": "host (this build machine, 1 process)" if check.latency_ms else None,
                    "threads": request.threads,
                },
                "check": check.to_dict(),
            }
        )
    return {
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "target": target.name,
        "runtime": target.runtime,
        "device": request.device,
        "arch": encode_arch(arch),
        "arch_json": arch_to_dict(arch),
        "weights": request.weights,
        "input": {
            "shape": shape if target.layout == "nchw" else [1, arch.input_hw, arch.input_hw, arch.in_ch],
            "layout": target.layout,
            "dtype": "float32",
            "normalization": {
                "mean": list(data.normalization.mean),
                "std": list(data.normalization.std),
                "note": data.normalization.note,
            },
        },
        "output": {"shape": [1, arch.num_classes], "kind": "logits"},
        "labels": list(data.label_names),
        "data": {
            "source": data.source,
            "verify_samples": int(data.inputs.shape[0]),
            "calib_samples": int(data.calib.shape[0]),
        },
        "toolchain": runtime_versions(),
        "artifacts": entries,
        "reference": {"file": REFERENCE, "n": int(data.inputs.shape[0])},
    }
