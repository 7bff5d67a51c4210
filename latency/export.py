"""Export one LUT entry (a layer, or the call-overhead probe) through deploy, cached by key.

There is ONE exporter per runtime and it lives in :mod:`deploy`; this module only builds the layer
module (:func:`search.build.build_layer`, seeded weights), picks the example/calibration inputs and
keeps the artifacts in a cache directory keyed by a hash of (key, target, dtype, toolchain versions).

``runtime`` arguments take any name of deploy's target registry (``executorch``,
``executorch-coreml``, ``litert``, ``onnx``, ...): the LUT target it resolves to (its descriptor)
says which exporter, suffix and exported dtype a LUT dtype stands for.
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

from deploy.types import Dtype, TargetSpec
from latency.keys import BlockKey, context_target, lut_dtype
from search.arch import Act, ArchSpec, LayerKind, encode_arch

log = logging.getLogger(__name__)

# The call-overhead probe: a 1x1x1x1 elementwise op, i.e. the cost of invoking the runtime at all.
OVERHEAD_KEY = BlockKey(LayerKind.SKIP, 1, 1, 1, 1, 1, 1, False, Act.RELU)
# Calibration batches of an int8 LUT artifact. Only latency is measured, and int8 XNNPACK kernels run the
# same code whatever the scales; each batch costs a HistogramObserver pass over every activation (0.4 s
# a batch for a 112x112 block), so one batch (was 4: 8-30% of an int8 export, interleaved latency
# ratio 1-batch / 4-batch 0.94-1.0 on a loaded 2-core VM, see benchmarks/lut_throughput.md).
CALIB_BATCHES = 1
_export_lock = threading.Lock()  # torch.export / lowering are not thread-safe


def lut_target(runtime: str | TargetSpec) -> TargetSpec:
    """The deploy target a LUT for ``runtime`` (a registry name, or a descriptor) is measured with."""
    return runtime if isinstance(runtime, TargetSpec) else context_target(str(runtime))


def deploy_dtype(runtime: str | TargetSpec, dtype: str) -> Dtype:
    """The artifact dtype measured for LUT ``dtype`` (e.g. Core ML's int8 LUT times int8 weights)."""
    target = lut_target(runtime)
    return target.lut_dtypes[lut_dtype(target, dtype)]


def toolchain_versions() -> dict[str, str]:
    from deploy import runtime_versions

    return runtime_versions()


def runtime_version(runtime: str | TargetSpec) -> str:
    from deploy import get_target

    return get_target(lut_target(runtime).name).runtime_version()


def export_entry(key: BlockKey, runtime: str, dtype: str, out_path: Path, seed: int = 0) -> Path:
    """Build ``key`` as a module with seeded weights and export it with deploy's target for ``runtime``."""
    import torch

    from deploy import get_target
    from search.blocks import build_layer
    from search.build import init_weights

    target = lut_target(runtime)
    exported = deploy_dtype(target, dtype)
    install_decomposition_memo()
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
        calib = [torch.randn(shape) for _ in range(CALIB_BATCHES)] if exported.is_quantized else None
    with _export_lock:
        return get_target(target.name).export(module, example, exported, out_path, calib=calib)


_CIA_MODULES = ("torch._export.utils", "torch.export.exported_program", "torch.export.decomp_utils")
_cia_memo: dict[tuple, frozenset] = {}


def install_decomposition_memo() -> bool:
    """Memoize torch's scan for preservable CompositeImplicitAutograd ops (idempotent; True once installed).

    Every ``run_decompositions`` (ExecuTorch runs 3 per export, litert-torch its own) walks the C++
    dispatcher and all ~40 ``torch.ops`` namespaces for these ops: ~0.5 s of a 2-3 s block export,
    the same answer every time. torch does not cache it because a custom op registered later adds
    entries; the memo is keyed by the number of CIA registrations and the op namespaces, so such a
    registration recomputes it. Artifacts are byte-identical with and without (tests/latency).
    """
    import importlib

    mods = [importlib.import_module(m) for m in _CIA_MODULES]
    current = getattr(mods[0], "_collect_all_valid_cia_ops", None)
    if current is None:  # another torch: nothing to speed up
        return False
    if getattr(current, "_phonenas_memo", False):
        return True
    original = current

    def collect_cia_ops() -> set:
        import torch

        regs = torch._C._dispatch_get_registrations_for_dispatch_key("CompositeImplicitAutograd")
        key = (len(regs), tuple(torch.ops._dir))
        if key not in _cia_memo:
            _cia_memo[key] = frozenset(original())
        return set(_cia_memo[key])  # callers own (and may modify) the set they get

    collect_cia_ops._phonenas_memo = True  # type: ignore[attr-defined]
    collect_cia_ops._phonenas_original = original  # type: ignore[attr-defined]
    for mod in mods:
        if getattr(mod, "_collect_all_valid_cia_ops", None) is original:
            mod._collect_all_valid_cia_ops = collect_cia_ops  # type: ignore[attr-defined]
    return True


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
    exporter: Callable[[BlockKey, str, str, Path], Path] | None = None  # default: export_entry

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if not self.salt:
            self.salt = tuple(f"{k}={v}" for k, v in sorted(toolchain_versions().items()))
        self.hits = 0
        self.exports = 0

    def path_for(self, key: BlockKey, runtime: str, dtype: str) -> Path:
        target = lut_target(runtime)
        dt = lut_dtype(target, dtype).value
        return self.root / f"{target.name}-{dt}" / f"{key.digest(target.name, dt, *self.salt)}{target.suffix}"

    def get(self, key: BlockKey, runtime: str, dtype: str) -> Path:
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


def export_model(arch: ArchSpec, runtime: str, dtype: str, out_path: Path, seed: int = 0) -> Path:
    """A whole dense model (seeded weights) through the same deploy target as its layers."""
    import torch

    from deploy import get_target
    from search.build import build_model

    target = lut_target(runtime)
    exported = deploy_dtype(target, dtype)
    install_decomposition_memo()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(arch).eval()
        shape = (1, arch.in_ch, arch.input_hw, arch.input_hw)
        example = torch.randn(shape)
        calib = [torch.randn(shape) for _ in range(CALIB_BATCHES)] if exported.is_quantized else None
    with _export_lock:
        return get_target(target.name).export(model, example, exported, out_path, calib=calib)


def model_artifact(cache: ArtifactCache, arch: ArchSpec, runtime: str, dtype: str) -> Path:
    """Cached whole-model artifact (keyed by the arch string, target, dtype and toolchain)."""
    target = lut_target(runtime)
    dt = lut_dtype(target, dtype).value
    digest = hashlib.sha256(repr((encode_arch(arch), target.name, dt, cache.salt)).encode()).hexdigest()
    path = cache.root / f"models-{target.name}-{dt}" / f"{digest[:16]}{target.suffix}"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        os.replace(export_model(arch, runtime, dtype, tmp), path)
    finally:
        _remove(tmp)
    return path
