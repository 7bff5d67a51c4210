"""Toolchain versions for provenance (read from installed package metadata, no heavy imports)."""

from __future__ import annotations

import importlib.metadata as md
import platform

_EXPORTERS = ("torch", "torchao")  # every target exports through these; runtimes come from the targets


def package_version(name: str) -> str:
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return "not installed"


def runtime_versions() -> dict[str, str]:
    """``{package: version}`` for every exporter/runtime deploy uses (the targets' declared packages),
    plus python and platform."""
    from deploy.registry import specs

    names = dict.fromkeys([*_EXPORTERS, *(p for s in specs() for p in s.packages), "numpy"])
    out = {name: package_version(name) for name in names}
    out["python"] = platform.python_version()
    out["platform"] = f"{platform.system()}-{platform.machine()}"
    return out
