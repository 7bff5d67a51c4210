"""Export one LUT entry (a layer, or the call-overhead probe) through deploy, cached by key.

There is ONE exporter per runtime and it lives in :mod:`deploy`; this module only builds the layer
module (:func:`search.build.build_layer`, seeded weights), picks the example/calibration inputs and
keeps the artifacts in a cache directory keyed by a hash of (key, runtime, dtype, toolchain versions).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from latency.keys import BlockKey, DType, Runtime
from search.arch import Act, ArchSpec, LayerKind, encode_arch

log = logging.getLogger(__name__)

# runtime -> deploy target name
TARGETS: dict[Runtime, str] = {
    Runtime.EXECUTORCH: "executorch",
    Runtime.LITERT: "tflite",
    Runtime.ONNX: "onnx",
    Runtime.COREML: "coreml",
}
SUFFIX: dict[Runtime, str] = {
    Runtime.EXECUTORCH: ".pte",
    Runtime.LITERT: ".tflite",
    Runtime.ONNX: ".onnx",
    Runtime.COREML: ".mlpackage",
}
# deploy dtype for each LUT dtype and runtime (Core ML "int8" = int8 weights, fp16 compute)
_DEPLOY_DTYPE = {(Runtime.COREML, DType.INT8): "int8w"}

# The call-overhead probe: a 1x1x1x1 elementwise op, i.e. the cost of invoking the runtime at all.
OVERHEAD_KEY = BlockKey(LayerKind.SKIP, 1, 1, 1, 1, 1, 1, False, Act.RELU)
CALIB_BATCHES = 4
_export_lock = threading.Lock()  # torch.export / lowering are not thread-safe


def deploy_dtype(runtime: Runtime, dtype: DType) -> str:
    return _DEPLOY_DTYPE.get((runtime, dtype), dtype.value)


def toolchain_versions() -> dict[str, str]:
    from deploy import runtime_versions

    return runtime_versions()


def runtime_version(runtime: Runtime) -> str:
    from deploy import get_target

    return get_target(TARGETS[runtime]).runtime_version()


def export_entry(key: BlockKey, runtime: Runtime, dtype: DType, out_path: Path, seed: int = 0) -> Path:
    """Build ``key`` as a module with seeded weights and export it with deploy's target for ``runtime``."""
    import torch

    from deploy import Dtype, get_target
    from search.blocks import build_layer
    from search.build import init_weights

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if key == OVERHEAD_KEY:
            module: torch.nn.Module = _Probe()
        else:
            module = build_layer(key.to_layer("lut"))
            init_weights(module)
        module.eval()
        shape = (1, key.in_ch, key.in_hw, key.in_hw)
        example = torch.randn(shape)
        calib = [torch.randn(shape) for _ in range(CALIB_BATCHES)] if dtype is DType.INT8 else None
    target = get_target(TARGETS[runtime])
    with _export_lock:
        return target.export(module, example, Dtype(deploy_dtype(runtime, dtype)), out_path, calib=calib)


def _probe_cls():
    import torch

    class Probe(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + 1.0

    return Probe


def _Probe():  # noqa: N802 - a factory that keeps torch out of import time
    return _probe_cls()()


@dataclass
class ArtifactCache:
    """Exported artifacts on disk, one per (key, runtime, dtype, toolchain); reused across runs."""

    root: Path
    salt: tuple[str, ...] = ()
    exporter: Callable[[BlockKey, Runtime, DType, Path], Path] | None = None  # default: export_entry

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if not self.salt:
            self.salt = tuple(f"{k}={v}" for k, v in sorted(toolchain_versions().items()))
        self.hits = 0
        self.exports = 0

    def path_for(self, key: BlockKey, runtime: Runtime, dtype: DType) -> Path:
        name = f"{key.digest(runtime.value, dtype.value, *self.salt)}{SUFFIX[runtime]}"
        return self.root / f"{runtime.value}-{dtype.value}" / name

    def get(self, key: BlockKey, runtime: Runtime, dtype: DType) -> Path:
        """The artifact for ``key``, exporting it (atomically: temp name, then rename) if not cached."""
        path = self.path_for(key, runtime, dtype)
        if path.exists():
            self.hits += 1
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")
        try:
            out = (self.exporter or export_entry)(key, runtime, dtype, tmp)
            os.replace(out, path)
        finally:
            _remove(tmp)
        self.exports += 1
        log.info("exported %s -> %s", key.label(), path.name)
        return path


def _remove(path: Path) -> None:
    if path.is_dir():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def export_model(arch: ArchSpec, runtime: Runtime, dtype: DType, out_path: Path, seed: int = 0) -> Path:
    """A whole dense model (seeded weights) through the same deploy target as its layers."""
    import torch

    from deploy import Dtype, get_target
    from search.build import build_model

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(arch).eval()
        shape = (1, arch.in_ch, arch.input_hw, arch.input_hw)
        example = torch.randn(shape)
        calib = [torch.randn(shape) for _ in range(CALIB_BATCHES)] if dtype is DType.INT8 else None
    with _export_lock:
        return get_target(TARGETS[runtime]).export(
            model, example, Dtype(deploy_dtype(runtime, dtype)), out_path, calib=calib
        )


def model_artifact(cache: ArtifactCache, arch: ArchSpec, runtime: Runtime, dtype: DType) -> Path:
    """Cached whole-model artifact (keyed by the arch string, runtime, dtype and toolchain)."""
    digest = hashlib.sha256(
        repr((encode_arch(arch), runtime.value, dtype.value, cache.salt)).encode()
    ).hexdigest()
    path = cache.root / f"models-{runtime.value}-{dtype.value}" / f"{digest[:16]}{SUFFIX[runtime]}"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        os.replace(export_model(arch, runtime, dtype, tmp), path)
    finally:
        _remove(tmp)
    return path
