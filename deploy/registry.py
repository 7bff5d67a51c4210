"""The target registry: every module in :mod:`deploy.targets` that declares a ``TARGET`` is a target.

Each target file declares its :class:`~deploy.types.TargetSpec` (``SPEC``) and the implementation
(``TARGET``); this module finds them (``pkgutil``, in declared ``order``), checks that names, aliases
and LUT identities are unique, and answers every "which runtime is that?" question in the code base.
Target modules keep their toolchains (torch, executorch, coremltools, ...) inside functions, so
listing the registry is cheap.

Names users type resolve in this order: a target name, then an alias (``litert`` -> ``tflite``,
``onnxruntime`` -> ``onnx``, ``executorch-xnnpack`` -> ``executorch``).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Iterable

from deploy.types import DeployError, Target, TargetSpec

_PACKAGE = "deploy.targets"


class UnknownTarget(DeployError, ValueError):
    """A name that no target declares; the message lists the names that exist."""


@functools.cache
def _targets() -> tuple[Target, ...]:
    package = importlib.import_module(_PACKAGE)
    found: list[Target] = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{_PACKAGE}.{info.name}")
        target = getattr(module, "TARGET", None)
        if target is not None:  # helper modules (shared runtimes) declare none
            found.append(target)
    found.sort(key=lambda t: (t.spec.order, t.spec.name))
    check_unique([t.spec for t in found])
    return tuple(found)


def check_unique(specs: Iterable[TargetSpec]) -> None:
    """Names and aliases name one target each; a (runtime, delegate) pair has one LUT target."""
    owner: dict[str, str] = {}
    lut: dict[tuple[str, str], str] = {}
    for s in specs:
        for n in s.names:
            if n in owner:
                raise DeployError(f"target name {n!r} is declared by both {owner[n]} and {s.name}")
            owner[n] = s.name
        if s.measurable:
            pair = (s.runtime, s.delegate)
            if pair in lut:
                raise DeployError(f"{lut[pair]} and {s.name} are both LUT targets of {pair[0]}/{pair[1]}")
            lut[pair] = s.name


def targets() -> tuple[Target, ...]:
    return _targets()


def specs() -> tuple[TargetSpec, ...]:
    """Every target's descriptor, in declared order."""
    return tuple(t.spec for t in _targets())


def target_names() -> tuple[str, ...]:
    return tuple(s.name for s in specs())


def default_targets() -> tuple[str, ...]:
    """What ``phonenas deploy`` and the demo build when no ``--targets`` is given."""
    return tuple(s.name for s in specs() if s.in_default_set)


def runtime_names() -> tuple[str, ...]:
    """Runtime families, in declared order (``executorch``, ``coreml``, ``litert``, ``onnxruntime``)."""
    return tuple(dict.fromkeys(s.runtime for s in specs()))


def get_target(name: str) -> Target:
    """The target called ``name`` (a target name or alias; see :func:`target_names`)."""
    wanted = resolve(name).name
    return next(t for t in _targets() if t.spec.name == wanted)


def resolve(name: str) -> TargetSpec:
    """The descriptor a name users type stands for (target name first, then alias)."""
    text = str(name).strip().lower()
    all_specs = specs()
    for s in all_specs:
        if text == s.name:
            return s
    for s in all_specs:
        if text in s.aliases:
            return s
    raise UnknownTarget(f"unknown deploy target {name!r}; expected one of {choices()}")


def choices(measurable_only: bool = False) -> str:
    """``executorch, executorch-coreml, coreml, tflite (litert), ...`` for help strings and errors."""
    parts = []
    for s in specs():
        if measurable_only and not s.measurable:
            continue
        shown = [a for a in s.aliases if a == s.runtime] or list(s.aliases[:1])
        parts.append(f"{s.name} ({', '.join(shown)})" if shown else s.name)
    return ", ".join(parts)


def lut_target(runtime: str, delegate: str | None = None) -> TargetSpec:
    """The target LUT entries of ``runtime`` are measured with.

    ``runtime`` is any name :func:`resolve` knows (``executorch``, ``executorch-coreml``, ``litert``,
    ``onnx``...); ``delegate`` picks another delegate of the same runtime family."""
    spec = resolve(runtime)
    if delegate and delegate.strip().lower() != spec.delegate:
        wanted = delegate.strip().lower()
        found = [s for s in specs() if s.runtime == spec.runtime and s.delegate == wanted and s.measurable]
        if not found:
            have = sorted({s.delegate for s in specs() if s.runtime == spec.runtime and s.measurable})
            raise UnknownTarget(
                f"{spec.runtime} has no LUT target with delegate {delegate!r}; "
                f"its delegates: {', '.join(have)}"
            )
        spec = found[0]
    if not spec.measurable:
        others = [s.name for s in specs() if s.runtime == spec.runtime and s.measurable]
        raise UnknownTarget(
            f"{spec.name} is not measured for LUTs"
            + (f"; measure {' or '.join(others)} instead" if others else "")
        )
    return spec
