"""Typed LUT keys: what a layer is (:class:`BlockKey`) and where it was timed (:class:`Context`).

Keys are frozen, hashable, ordered dataclasses built from :class:`search.arch.LayerShape`; a
formatted string exists only for display (:meth:`BlockKey.label`) and file names (:meth:`digest`).
Runtimes, delegates and dtypes come from deploy's target registry (:mod:`deploy.registry`), which
also resolves the names users type (``litert``/``tflite``, ``onnx``/``onnxruntime``, ...).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from enum import Enum

from deploy.registry import lut_target, resolve
from deploy.types import Dtype, TargetSpec
from search.arch import Act, ArchSpec, LayerKind, LayerShape, profile_arch

DType = Dtype  # deprecated second name of the one dtype enum (deploy.Dtype); use Dtype


class Runtime(str):
    """A runtime family of the target registry (``executorch``, ``litert``, ``onnxruntime``, ``coreml``).

    Built from any name a target declares: ``Runtime("tflite") == "litert"``,
    ``Runtime("onnx") == "onnxruntime"``. ``.value`` is the name itself (enum-like)."""

    def __new__(cls, name: str) -> Runtime:
        target = resolve(str(name))  # UnknownTarget is a ValueError
        plain = resolve(target.runtime)
        if target.delegate != plain.delegate:  # a name that means more than its runtime
            raise ValueError(
                f"{target.name} is {target.runtime} with the {target.delegate} delegate: pass the name "
                "itself where a target is meant (Context.for_target, collect, export)"
            )
        return super().__new__(cls, target.runtime)

    @property
    def value(self) -> str:
        return str(self)


@functools.lru_cache(maxsize=256)
def context_target(runtime: str, delegate: str | None = None) -> TargetSpec:
    """The LUT target (deploy descriptor) a context's runtime + delegate stand for (cached: contexts are
    built for every stored row); :class:`~deploy.registry.UnknownTarget` (a ValueError) if none."""
    return lut_target(runtime, delegate)


def resolve_lut(runtime: str, dtype: str) -> tuple[str, Dtype]:
    """(target name, LUT dtype) for the names users type (``litert`` -> ``tflite``); ValueError if the
    target is not measured for LUTs or has no such LUT dtype. Target names are what collection passes
    to exporters and meters: unlike runtime names they keep the delegate."""
    target = context_target(str(runtime))
    return target.name, lut_dtype(target, dtype)


def lut_dtype(target: TargetSpec, dtype: str) -> Dtype:
    """``dtype`` as a LUT dtype of ``target`` (ValueError naming the ones it has)."""
    have = [d.value for d in target.lut_dtypes]
    listed = ", ".join(have[:-1]) + f" or {have[-1]}" if len(have) > 1 else "".join(have)
    try:
        value = Dtype(str(dtype).strip().lower())
    except ValueError:
        raise ValueError(f"unknown dtype {dtype!r}; {target.name} LUTs are measured in {listed}") from None
    if value not in target.lut_dtypes:
        raise ValueError(f"{target.name} LUTs are measured in {listed}, not {value.value}")
    return value


def _conv_out(hw: int, stride: int) -> int:
    return (hw + stride - 1) // stride


@dataclass(frozen=True, order=True)
class BlockKey:
    """Everything that determines a layer's latency: type, kernel, widths, input HxW, stride, SE, act.

    For a head, ``mid_ch`` is the 1x1 conv width (0 = none), ``hidden_ch`` the hidden linear width
    and ``out_ch`` the number of classes (see :class:`LayerShape`).
    """

    kind: LayerKind
    kernel: int
    in_ch: int
    mid_ch: int
    out_ch: int
    in_hw: int
    stride: int
    se: bool
    act: Act
    hidden_ch: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", LayerKind(self.kind))
        object.__setattr__(self, "act", Act(self.act))
        for f in ("kernel", "in_ch", "mid_ch", "out_ch", "in_hw", "stride", "hidden_ch"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"BlockKey.{f} must be an int >= 0, got {v!r}")
            object.__setattr__(self, f, int(v))
        object.__setattr__(self, "se", bool(self.se))

    @classmethod
    def from_layer(cls, layer: LayerShape) -> BlockKey:
        return cls(
            layer.kind,
            layer.kernel,
            layer.in_ch,
            layer.mid_ch,
            layer.out_ch,
            layer.in_hw,
            layer.stride,
            layer.se,
            layer.act,
            layer.hidden_ch,
        )

    @property
    def out_hw(self) -> int:
        return 1 if self.kind is LayerKind.HEAD else _conv_out(self.in_hw, self.stride)

    @property
    def input_chw(self) -> tuple[int, int, int]:
        return (self.in_ch, self.in_hw, self.in_hw)

    def to_layer(self, name: str | None = None) -> LayerShape:
        """The LayerShape this key stands for (what :func:`search.build.build_layer` builds)."""
        return LayerShape(
            name or self.label(),
            self.kind,
            self.in_ch,
            self.mid_ch,
            self.out_ch,
            self.in_hw,
            self.out_hw,
            self.kernel,
            self.stride,
            self.se,
            self.act,
            self.hidden_ch,
        )

    def label(self) -> str:
        """Human-readable form for tables and logs (never parsed back)."""
        if self.kind is LayerKind.HEAD:
            parts = [f"head_i{self.in_ch}", f"c{self.mid_ch}", f"h{self.hidden_ch}", f"n{self.out_ch}"]
        elif self.kind is LayerKind.STEM:
            parts = [f"stem_k{self.kernel}", f"i{self.in_ch}", f"c{self.out_ch}", f"s{self.stride}"]
        elif self.kind is LayerKind.SKIP:
            parts = [f"skip_c{self.out_ch}"]
        elif self.kind is LayerKind.PROJ:
            parts = [f"proj_i{self.in_ch}", f"c{self.out_ch}", f"s{self.stride}"]
        else:
            parts = [
                f"ir_k{self.kernel}",
                f"i{self.in_ch}",
                f"m{self.mid_ch}",
                f"c{self.out_ch}",
                f"s{self.stride}",
            ]
            if self.se:
                parts.append("se")
        return "_".join([*parts, f"r{self.in_hw}", self.act.value])

    def as_row(self) -> dict[str, object]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    def digest(self, *salt: str) -> str:
        """Stable short hash (file names, artifact cache), optionally salted with toolchain versions."""
        text = repr((tuple(_plain(v) for v in astuple(self)), salt))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, order=True)
class Context:
    """Where and how entries were measured; a LUT answers only for one context.

    ``runtime`` may be given as any name the target registry knows; it is stored as the runtime
    family and ``delegate`` as the backend inside it (default: the delegate of the target named, so
    ``Context(..., "executorch-coreml", ...)`` is ExecuTorch with the Core ML delegate and plain
    ``executorch`` is XNNPACK). ``core_mask`` is the CPU affinity as a sorted comma list (``"0,1"``),
    ``""`` for no pinning.
    """

    device_id: str
    runtime: Runtime
    runtime_version: str
    dtype: Dtype
    threads: int
    core_mask: str = ""
    delegate: str = ""

    def __post_init__(self) -> None:
        target = context_target(str(self.runtime), self.delegate or None)
        object.__setattr__(self, "runtime", Runtime(target.runtime))
        object.__setattr__(self, "delegate", target.delegate)
        object.__setattr__(self, "dtype", lut_dtype(target, self.dtype))
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"Context.threads must be an int >= 1, got {self.threads!r}")
        object.__setattr__(self, "threads", int(self.threads))

    @classmethod
    def for_target(
        cls, device_id: str, target: str, runtime_version: str, dtype: str, threads: int, core_mask: str = ""
    ) -> Context:
        """The context of entries timed with ``target`` (any registry name; its runtime and delegate)."""
        spec = context_target(str(target))
        return cls(
            device_id,
            Runtime(spec.runtime),
            runtime_version,
            lut_dtype(spec, dtype),
            threads,
            core_mask,
            spec.delegate,
        )

    @property
    def target(self) -> TargetSpec:
        """The deploy target these entries were measured with."""
        return lut_target(self.runtime, self.delegate)

    def as_row(self) -> dict[str, object]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    def digest(self) -> str:
        """Stable short hash (file names of per-context artefacts)."""
        text = repr(tuple(_plain(v) for v in astuple(self)))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def label(self) -> str:
        mask = f" cpus={self.core_mask}" if self.core_mask else ""
        return (
            f"{self.device_id} {self.runtime.value}/{self.delegate} ({self.runtime_version}) "
            f"{self.dtype.value} t{self.threads}{mask}"
        )


BLOCK_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(BlockKey))
CONTEXT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Context))


def _plain(v: object) -> object:
    return v.value if isinstance(v, Enum) else v


def core_mask_str(cpus: Iterable[int] | None) -> str:
    return "" if cpus is None else ",".join(str(c) for c in sorted(set(cpus)))


def parse_core_mask(mask: str) -> set[int] | None:
    if not mask:
        return None
    try:
        return {int(c) for c in mask.split(",") if c.strip()}
    except ValueError:
        raise ValueError(f"bad core mask {mask!r}; expected a comma list of CPU ids like '0,1'") from None


def keys_from_layers(layers: Iterable[LayerShape], include_skip: bool = False) -> list[BlockKey]:
    """Unique keys of ``layers`` in first-seen order (skip layers dropped unless ``include_skip``)."""
    seen: dict[BlockKey, None] = {}
    for layer in layers:
        if layer.kind is LayerKind.SKIP and not include_skip:
            continue
        seen.setdefault(BlockKey.from_layer(layer), None)
    return list(seen)


def keys_from_archs(archs: Iterable[ArchSpec], include_skip: bool = False) -> list[BlockKey]:
    """Every unique layer key any of ``archs`` uses (stem, blocks, head), deduplicated."""
    return keys_from_layers(_layers_of(archs), include_skip)


def _layers_of(archs: Iterable[ArchSpec]) -> Iterator[LayerShape]:
    for arch in archs:
        yield from profile_arch(arch).layers
