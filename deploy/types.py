"""Closed sets and protocols shared by every deploy target: dtypes, target descriptors, runners, errors.

Importing this module is cheap (no torch, no numpy): the CLI builds its help strings from the
descriptors without loading any exporter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn


class Dtype(StrEnum):
    """Numeric format of an exported artifact and of a LUT context (the one dtype enum of PhoneNAS)."""

    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"  # weights and activations (static, calibrated PT2E / QDQ)
    INT8_WEIGHTS = "int8w"  # int8 weights, float activations

    @classmethod
    def parse(cls, text: str) -> Dtype:
        try:
            return cls(text.strip().lower())
        except ValueError:
            allowed = ", ".join(d.value for d in cls)
            raise DeployError(f"unknown dtype {text!r}; expected one of {allowed}") from None

    @property
    def is_quantized(self) -> bool:
        return self in (Dtype.INT8, Dtype.INT8_WEIGHTS)


class DeployError(RuntimeError):
    """A user-facing deploy failure; the message names the problem and the fix."""


class TargetUnavailable(DeployError):
    """The target's runtime (or a feature of it) cannot run on this machine; the message says why."""


class UnsupportedDtype(DeployError):
    """The target cannot produce an artifact in the requested dtype."""


class VerificationError(DeployError):
    """An artifact failed a numeric, delegation or integrity check."""


LAYOUTS = ("nchw", "nhwc")


@dataclass(frozen=True, eq=False)
class TargetSpec:
    """Everything PhoneNAS knows about one deployable runtime, declared once in ``deploy/targets/<file>.py``.

    Every table that needs a runtime fact (bundle names and manifests, base dtypes, LUT contexts and
    artifact caches, speed warnings, CLI choices and help) reads it from here through
    :mod:`deploy.registry`; adding a runtime is adding one target file.

    * ``name``: what users type (``--targets``, ``--runtime``) and what bundles and manifests record.
    * ``runtime``: the runtime family that executes the artifact (``executorch``, ``litert``,
      ``onnxruntime``, ``coreml``); LUT contexts and manifests record it.
    * ``delegate``: the backend that runs the compute inside the runtime (``xnnpack``, ``coreml``,
      ``cpu``, ...); LUT contexts record it, so two delegates of one runtime are two LUTs.
    * ``base_dtype``: the dtype every bundle of this target ships; ``--quantize`` adds others.
    * ``lut_dtypes``: LUT dtype -> the artifact dtype measured for it (empty: not a LUT target).
    * ``known_slow``: dtype -> why this runtime is known to run it slower than fp32 (quoted by the
      verifier next to the measured numbers).
    * ``aliases``: other names users type for it (e.g. the runtime name, ``litert`` for ``tflite``).
    * ``runs_on``: ``platform.system()`` values whose runtime can execute artifacts here (empty: any).
    * ``native_runner``: the android_bench runner class for a phone-side native benchmark binary.
    * ``packages``: Python distributions of its toolchain (versions recorded in manifests and LUT rows).
    * ``order``: position in listings; ``in_default_set``: part of the default ``--targets``.
    """

    name: str
    title: str
    runtime: str
    delegate: str
    suffix: str
    dtypes: frozenset[Dtype]
    base_dtype: Dtype = Dtype.FP32
    lut_dtypes: Mapping[Dtype, Dtype] = field(default_factory=dict)
    known_slow: Mapping[Dtype, str] = field(default_factory=dict)
    layout: str = "nchw"
    aliases: tuple[str, ...] = ()
    runs_on: tuple[str, ...] = ()
    native_runner: str = ""
    packages: tuple[str, ...] = ()
    order: int = 100
    in_default_set: bool = True

    def __post_init__(self) -> None:
        for attr in ("name", "runtime", "delegate"):
            value = getattr(self, attr)
            if not value or value != value.strip().lower() or " " in value:
                raise ValueError(f"TargetSpec.{attr} must be a lower-case word, got {value!r}")
        if not self.suffix.startswith("."):
            raise ValueError(f"{self.name}: suffix must start with '.', got {self.suffix!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"{self.name}: layout must be one of {LAYOUTS}, got {self.layout!r}")
        dtypes = frozenset(Dtype(d) for d in self.dtypes)
        lut = {Dtype(k): Dtype(v) for k, v in self.lut_dtypes.items()}
        slow = {Dtype(k): str(v) for k, v in self.known_slow.items()}
        if self.base_dtype not in dtypes:
            raise ValueError(f"{self.name}: base dtype {self.base_dtype} is not among its dtypes")
        if not set(lut.values()) <= dtypes:
            raise ValueError(f"{self.name}: LUT dtypes map to dtypes it cannot export: {lut}")
        object.__setattr__(self, "dtypes", dtypes)
        object.__setattr__(self, "lut_dtypes", MappingProxyType(lut))
        object.__setattr__(self, "known_slow", MappingProxyType(slow))
        object.__setattr__(self, "aliases", tuple(a.strip().lower() for a in self.aliases))
        object.__setattr__(self, "runs_on", tuple(self.runs_on))
        object.__setattr__(self, "packages", tuple(self.packages))

    @property
    def names(self) -> tuple[str, ...]:
        """The name and every alias (all resolve to this target)."""
        return (self.name, *self.aliases)

    @property
    def measurable(self) -> bool:
        """Whether LUTs are measured with this target (it declares LUT dtypes)."""
        return bool(self.lut_dtypes)

    def runs_here(self, system: str) -> bool:
        return not self.runs_on or system in self.runs_on

    def __repr__(self) -> str:
        return f"TargetSpec({self.name!r}: {self.runtime}/{self.delegate} {self.suffix})"


@dataclass(frozen=True)
class ArtifactInfo:
    """What an artifact contains, read back from the file itself (no runtime needed).

    ``ops`` counts operator types outside any delegate (or every op for non-delegating formats);
    ``delegates`` counts delegate calls; ``undelegated_compute`` are conv/linear/matmul ops that run
    outside the accelerated backend (must be empty for ExecuTorch XNNPACK).
    """

    ops: dict[str, int]
    delegates: dict[str, int] = field(default_factory=dict)
    undelegated_compute: dict[str, int] = field(default_factory=dict)
    inputs: dict[str, list[int]] = field(default_factory=dict)
    outputs: dict[str, list[int]] = field(default_factory=dict)


@runtime_checkable
class Runner(Protocol):
    """A loaded artifact. ``run`` takes NCHW float32 (any batch) and returns float32 logits."""

    runtime_version: str

    def run(self, x: np.ndarray) -> np.ndarray: ...


class Target(Protocol):
    """One deployment format. Implementations live one per file in :mod:`deploy.targets`, each
    declaring its :class:`TargetSpec` (the attributes below read from it)."""

    @property
    def spec(self) -> TargetSpec: ...

    @property
    def name(self) -> str: ...

    @property
    def runtime(self) -> str: ...

    @property
    def suffix(self) -> str: ...

    @property
    def dtypes(self) -> frozenset[Dtype]: ...

    @property
    def layout(self) -> str: ...  # "nchw" or "nhwc" (the artifact's own input layout; runners take NCHW)

    def export(
        self,
        model: nn.Module,
        example: torch.Tensor,
        dtype: Dtype,
        out_path: Path,
        calib: Sequence[torch.Tensor] | None = None,
    ) -> Path: ...

    def load(self, path: Path, threads: int = 1) -> Runner: ...

    def inspect(self, path: Path) -> ArtifactInfo: ...

    def runtime_version(self) -> str: ...


class DeclaredTarget:
    """Base of the implementations in :mod:`deploy.targets`: the descriptor's facts as attributes."""

    def __init__(self, spec: TargetSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def runtime(self) -> str:
        return self.spec.runtime

    @property
    def suffix(self) -> str:
        return self.spec.suffix

    @property
    def dtypes(self) -> frozenset[Dtype]:
        return self.spec.dtypes

    @property
    def layout(self) -> str:
        return self.spec.layout

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.name}>"


def require_dtype(target: Target, dtype: Dtype) -> None:
    """Raise :class:`UnsupportedDtype` naming what ``target`` supports when it has no ``dtype`` path."""
    if dtype not in target.dtypes:
        raise UnsupportedDtype(
            f"{target.name} supports {sorted(d.value for d in target.dtypes)}, not {dtype.value}"
        )
