"""Toolchain versions for provenance (read from installed package metadata, no heavy imports)."""

from __future__ import annotations

import importlib.metadata as md
import platform

_PACKAGES = (
    "torch",
    "torchao",
    "executorch",
    "coremltools",
    "litert-torch",
    "ai-edge-litert",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "numpy",
)


def package_version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def runtime_versions() -> dict[str, str]:
    """``{package: version}`` for every exporter/runtime deploy uses, plus python and platform."""
    out = {name: package_version(name) for name in _PACKAGES}
    out["python"] = platform.python_version()
    out["platform"] = f"{platform.system()}-{platform.machine()}"
    return out
