"""Target registry: name -> Target, importing each target module only when asked for."""

from __future__ import annotations

import importlib

from deploy.types import DeployError, Target

# name -> (module, attribute); modules import their heavy toolchains inside functions.
_TARGETS: dict[str, tuple[str, str]] = {
    "executorch": ("deploy.targets.executorch_xnnpack", "TARGET"),
    "executorch-coreml": ("deploy.targets.executorch_coreml", "TARGET"),
    "coreml": ("deploy.targets.coreml", "TARGET"),
    "tflite": ("deploy.targets.tflite", "TARGET"),
    "tflite-nhwc": ("deploy.targets.tflite", "TARGET_NHWC"),
    "onnx": ("deploy.targets.onnx", "TARGET"),
}


def target_names() -> tuple[str, ...]:
    return tuple(_TARGETS)


def get_target(name: str) -> Target:
    """The target called ``name`` (see :func:`target_names`)."""
    try:
        module, attr = _TARGETS[name.strip().lower()]
    except KeyError:
        raise DeployError(f"unknown deploy target {name!r}; expected one of {', '.join(_TARGETS)}") from None
    return getattr(importlib.import_module(module), attr)
