"""The one architecture spec: frozen, validated dataclasses shared by search, latency and deploy.

An ``ArchSpec`` is a conv-bn-act stem, stages of blocks, a pooling head and an input resolution.
Everything derived from it (per-block input shapes, MACs, params) is a pure function of the spec,
see :mod:`search.arch.shapes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import Enum


class ArchError(ValueError):
    """A malformed architecture; the message names the offending block and the fix."""


class BlockType(str, Enum):  # noqa: UP042 - see LayerKind
    """Closed set of block types."""

    IR = "ir"  # inverted residual: [pw expand] -> dw kxk -> [SE] -> pw linear (+ residual)
    SKIP = "skip"  # identity: the layer is skipped (needs stride 1 and in_ch == out_ch)
    PROJ = "proj"  # 1x1 conv -> BN -> act: mobile-vision's width-changing (or strided) "skip"


class Act(str, Enum):  # noqa: UP042 - see LayerKind
    RELU = "relu"
    HSWISH = "hs"


_KERNELS = (1, 3, 5, 7)
_STRIDES = (1, 2)


def fb_divisible(value: float, divisor: int = 8) -> int:
    """mobile_cv's width rounding: nearest multiple (halves up), +divisor if that loses > 5%."""
    out = int(value)
    if value % divisor != 0:
        out = int((math.floor(value / divisor + 0.5) or 1) * divisor)
        if out < 0.95 * value:
            out += divisor
    return max(out, divisor)


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` without going 10% below it (MobileNet rule)."""
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


@dataclass(frozen=True)
class BlockSpec:
    """One searchable block.

    ``expand`` is the expansion ratio of an inverted residual: its hidden width is
    ``mid_channels(in_ch) = make_divisible(in_ch * expand, 8)`` (``in_ch`` when ``expand == 1``, in
    which case there is no expansion conv). ``mid_ch`` overrides that rule with an exact hidden width
    (what a channel search derives); the codec writes it as ``m<mid>``.

    A ``proj`` block is a 1x1 conv -> BN -> ``act`` projection to ``out_ch`` (mobile-vision's ``skip``
    when the width or stride changes); ``kernel``, ``expand``, ``se`` and ``mid_ch`` do not apply.
    """

    type: BlockType
    out_ch: int
    stride: int = 1
    kernel: int = 3
    expand: float = 1.0
    se: bool = False
    act: Act = Act.RELU
    mid_ch: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", _coerce(BlockType, self.type, "block type"))
        object.__setattr__(self, "act", _coerce(Act, self.act, "activation"))
        if isinstance(self.out_ch, bool) or not isinstance(self.out_ch, int) or self.out_ch <= 0:
            raise ArchError(f"out_ch must be a positive int, got {self.out_ch!r}")
        if self.stride not in _STRIDES:
            raise ArchError(f"stride must be one of {_STRIDES}, got {self.stride!r}")
        if self.type is BlockType.IR:
            if self.kernel not in _KERNELS:
                raise ArchError(f"kernel must be one of {_KERNELS}, got {self.kernel!r}")
            if not isinstance(self.expand, (int, float)) or not math.isfinite(self.expand) or self.expand < 1:
                raise ArchError(f"expand must be a finite number >= 1, got {self.expand!r}")
            object.__setattr__(self, "expand", float(self.expand))
            if self.mid_ch is not None and (not isinstance(self.mid_ch, int) or self.mid_ch <= 0):
                raise ArchError(f"mid_ch must be a positive int or None, got {self.mid_ch!r}")
        elif self.type is BlockType.PROJ:
            object.__setattr__(self, "kernel", 1)
            object.__setattr__(self, "expand", 1.0)
            object.__setattr__(self, "se", False)
            object.__setattr__(self, "mid_ch", None)

    def mid_channels(self, in_ch: int) -> int:
        """Hidden (depthwise) width of this block when fed ``in_ch`` channels."""
        if self.type in (BlockType.SKIP, BlockType.PROJ):
            return in_ch
        if self.mid_ch is not None:
            return self.mid_ch
        if self.expand == 1.0:
            return in_ch
        return make_divisible(in_ch * self.expand, 8)

    def se_channels(self, in_ch: int) -> int:
        """Squeeze width of the SE module (a quarter of the hidden width, divisible by 8)."""
        return make_divisible(self.mid_channels(in_ch) / 4, 8)


@dataclass(frozen=True)
class StemSpec:
    """conv kxk (stride) -> BN -> act."""

    out_ch: int
    kernel: int = 3
    stride: int = 2
    act: Act = Act.HSWISH

    def __post_init__(self) -> None:
        object.__setattr__(self, "act", _coerce(Act, self.act, "stem activation"))
        if isinstance(self.out_ch, bool) or not isinstance(self.out_ch, int) or self.out_ch <= 0:
            raise ArchError(f"stem: out_ch must be a positive int, got {self.out_ch!r}")
        if self.kernel not in _KERNELS:
            raise ArchError(f"stem: kernel must be one of {_KERNELS}, got {self.kernel!r}")
        if self.stride not in _STRIDES:
            raise ArchError(f"stem: stride must be one of {_STRIDES}, got {self.stride!r}")


@dataclass(frozen=True)
class HeadSpec:
    """[conv1x1 -> BN -> act] -> global avg pool -> [linear hidden -> act] -> linear classes.

    ``conv_ch == 0`` drops the 1x1 conv (pool the last stage directly); ``hidden_ch == 0`` drops the
    hidden linear layer (FBNet style); MobileNetV3 uses both.
    """

    conv_ch: int = 0
    hidden_ch: int = 0
    act: Act = Act.HSWISH

    def __post_init__(self) -> None:
        object.__setattr__(self, "act", _coerce(Act, self.act, "head activation"))
        for name in ("conv_ch", "hidden_ch"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ArchError(f"head: {name} must be an int >= 0, got {v!r}")


@dataclass(frozen=True)
class ArchSpec:
    """A whole network. ``stages`` is a tuple of stages, each a non-empty tuple of blocks."""

    input_hw: int
    stem: StemSpec
    stages: tuple[tuple[BlockSpec, ...], ...]
    head: HeadSpec = field(default_factory=HeadSpec)
    num_classes: int = 1000
    in_ch: int = 3

    def __post_init__(self) -> None:
        stages = tuple(tuple(s) for s in self.stages)
        object.__setattr__(self, "stages", stages)
        if isinstance(self.input_hw, bool) or not isinstance(self.input_hw, int) or self.input_hw < 8:
            raise ArchError(f"input_hw must be an int >= 8, got {self.input_hw!r}")
        if (
            isinstance(self.num_classes, bool)
            or not isinstance(self.num_classes, int)
            or self.num_classes < 1
        ):
            raise ArchError(f"num_classes must be a positive int, got {self.num_classes!r}")
        if not stages:
            raise ArchError("an architecture needs at least one stage of blocks")
        ch, hw = self.stem.out_ch, _conv_out(self.input_hw, self.stem.stride)
        for si, stage in enumerate(stages):
            if not stage:
                raise ArchError(f"stage {si} is empty; remove it or give it at least one block")
            for bi, b in enumerate(stage):
                if not isinstance(b, BlockSpec):
                    raise ArchError(f"block s{si}.b{bi} is a {type(b).__name__}, expected BlockSpec")
                if b.type is BlockType.SKIP and (b.stride != 1 or b.out_ch != ch):
                    raise ArchError(
                        f"block s{si}.b{bi}: a skip block needs stride 1 and out_ch == in_ch "
                        f"(got stride {b.stride}, in_ch {ch}, out_ch {b.out_ch}); use an 'ir' block instead"
                    )
                if b.stride == 2 and hw < 2:
                    raise ArchError(f"block s{si}.b{bi}: stride 2 on a {hw}x{hw} feature map; raise input_hw")
                ch, hw = b.out_ch, _conv_out(hw, b.stride)

    @property
    def blocks(self) -> tuple[BlockSpec, ...]:
        return tuple(b for stage in self.stages for b in stage)

    def with_input_hw(self, input_hw: int) -> ArchSpec:
        return ArchSpec(input_hw, self.stem, self.stages, self.head, self.num_classes, self.in_ch)

    def with_num_classes(self, num_classes: int) -> ArchSpec:
        return ArchSpec(self.input_hw, self.stem, self.stages, self.head, num_classes, self.in_ch)

    def with_width(self, mult: float) -> ArchSpec:
        """Every width (stem, blocks' outputs and hidden widths, head) times ``mult``, rounded by
        :func:`make_divisible` - MobileNet's width multiplier; skip blocks stay skips."""
        if not isinstance(mult, (int, float)) or not math.isfinite(mult) or mult <= 0:
            raise ArchError(f"width multiplier must be a positive number, got {mult!r}")

        def w(c: int) -> int:
            return make_divisible(c * mult, 8)

        stages = tuple(
            tuple(
                replace(b, out_ch=w(b.out_ch), mid_ch=None if b.mid_ch is None else w(b.mid_ch)) for b in st
            )
            for st in self.stages
        )
        head = replace(
            self.head,
            conv_ch=w(self.head.conv_ch) if self.head.conv_ch else 0,
            hidden_ch=w(self.head.hidden_ch) if self.head.hidden_ch else 0,
        )
        stem = replace(self.stem, out_ch=w(self.stem.out_ch))
        return ArchSpec(self.input_hw, stem, stages, head, self.num_classes, self.in_ch)


def _conv_out(hw: int, stride: int) -> int:
    """Spatial size after a 'same'-padded conv with odd kernel: ceil(hw / stride)."""
    return (hw + stride - 1) // stride


def _coerce(enum_cls, value, what: str):
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(repr(e.value) for e in enum_cls)
        raise ArchError(f"unknown {what} {value!r}; expected one of {allowed}") from None
