"""Deployment: capture, PT2E quantization, one module per target, verification and bundles.

Staged pipeline (each stage a function you can test)::

    ArchSpec + weights -> dense model -> torch.export -> [PT2E quantize + calibrate]
        -> lower per target -> serialize -> verify (numerics, delegation, speed) -> bundle

Importing this package is cheap: torch, exporters and runtimes (executorch, coremltools, litert_torch,
onnxruntime) are imported inside the functions that use them. Each deployable runtime declares itself
in one file of :mod:`deploy.targets` (a :class:`TargetSpec`); :mod:`deploy.registry` answers from them.

    >>> from deploy import Dtype, get_target
    >>> t = get_target("executorch")
    >>> path = t.export(model.eval(), example, Dtype.INT8, Path("m.pte"), calib=[...])
    >>> logits = t.load(path, threads=1).run(x_nchw)
"""

from deploy.registry import UnknownTarget, get_target, resolve, specs, target_names
from deploy.types import (
    ArtifactInfo,
    DeployError,
    Dtype,
    Runner,
    Target,
    TargetSpec,
    TargetUnavailable,
    UnsupportedDtype,
    VerificationError,
)
from deploy.versions import runtime_versions

__all__ = [
    "ArtifactInfo",
    "DeployError",
    "Dtype",
    "Runner",
    "Target",
    "TargetSpec",
    "TargetUnavailable",
    "UnknownTarget",
    "UnsupportedDtype",
    "VerificationError",
    "get_target",
    "resolve",
    "runtime_versions",
    "specs",
    "target_names",
]
