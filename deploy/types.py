"""Closed sets and protocols shared by every deploy target: dtypes, targets, runners, typed errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn


class Dtype(StrEnum):
    """Numeric format of an exported artifact."""

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
    """One deployment format. Implementations live one per file in :mod:`deploy.targets`."""

    name: str
    runtime: str
    suffix: str
    dtypes: frozenset[Dtype]
    layout: str  # "nchw" or "nhwc" (the artifact's own input layout; runners always take NCHW)

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


def require_dtype(target: Target, dtype: Dtype) -> None:
    """Raise :class:`UnsupportedDtype` naming what ``target`` supports when it has no ``dtype`` path."""
    if dtype not in target.dtypes:
        raise UnsupportedDtype(
            f"{target.name} supports {sorted(d.value for d in target.dtypes)}, not {dtype.value}"
        )
