"""Pure shape, MAC and parameter propagation through an :class:`ArchSpec` (no torch).

MACs count multiply-accumulates of convolutions and linear layers (what torch's FLOP counter
reports, divided by two); params count every weight, bias and BatchNorm affine parameter of the
module :func:`search.build.build_model` creates, so both can be checked against the built network.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from search.arch.spec import Act, ArchSpec, BlockSpec, BlockType, _conv_out, make_divisible


class LayerKind(str, Enum):  # noqa: UP042 - str mixin keeps str()/format() of stored keys unchanged
    STEM = "stem"
    IR = "ir"
    SKIP = "skip"
    PROJ = "proj"  # 1x1 conv-BN-act (mid_ch == in_ch, kernel 1, no SE)
    HEAD = "head"


@dataclass(frozen=True)
class LayerShape:
    """A layer of an arch placed at its input shape: everything needed to build, time or cost it.

    For the head, ``mid_ch`` is the 1x1 conv width (0 = none), ``hidden_ch`` the hidden linear width
    (0 = none) and ``out_ch`` the number of classes.
    """

    name: str
    kind: LayerKind
    in_ch: int
    mid_ch: int
    out_ch: int
    in_hw: int
    out_hw: int
    kernel: int
    stride: int
    se: bool
    act: Act
    hidden_ch: int = 0

    @property
    def se_ch(self) -> int:
        return make_divisible(self.mid_ch / 4, 8) if self.se else 0

    @property
    def has_expand(self) -> bool:
        return self.kind is LayerKind.IR and self.mid_ch != self.in_ch

    @property
    def has_residual(self) -> bool:
        return self.kind is LayerKind.IR and self.stride == 1 and self.in_ch == self.out_ch

    @property
    def macs(self) -> int:
        return layer_macs(self)

    @property
    def params(self) -> int:
        return layer_params(self)


def layer_macs(s: LayerShape) -> int:
    hw_out = s.out_hw * s.out_hw
    if s.kind is LayerKind.STEM:
        return s.kernel * s.kernel * s.in_ch * s.out_ch * hw_out
    if s.kind is LayerKind.SKIP:
        return 0
    if s.kind is LayerKind.PROJ:
        return s.in_ch * s.out_ch * hw_out
    if s.kind is LayerKind.HEAD:
        feat = s.mid_ch or s.in_ch
        macs = s.in_ch * s.mid_ch * s.in_hw * s.in_hw
        if s.hidden_ch:
            macs += feat * s.hidden_ch
            feat = s.hidden_ch
        return macs + feat * s.out_ch
    macs = s.in_ch * s.mid_ch * s.in_hw * s.in_hw if s.has_expand else 0
    macs += s.kernel * s.kernel * s.mid_ch * hw_out
    macs += 2 * s.mid_ch * s.se_ch
    macs += s.mid_ch * s.out_ch * hw_out
    return macs


def layer_params(s: LayerShape) -> int:
    if s.kind is LayerKind.STEM:
        return s.kernel * s.kernel * s.in_ch * s.out_ch + 2 * s.out_ch
    if s.kind is LayerKind.SKIP:
        return 0
    if s.kind is LayerKind.PROJ:
        return s.in_ch * s.out_ch + 2 * s.out_ch
    if s.kind is LayerKind.HEAD:
        feat = s.mid_ch or s.in_ch
        params = s.in_ch * s.mid_ch + 2 * s.mid_ch
        if s.hidden_ch:
            params += feat * s.hidden_ch + s.hidden_ch
            feat = s.hidden_ch
        return params + feat * s.out_ch + s.out_ch
    params = s.in_ch * s.mid_ch + 2 * s.mid_ch if s.has_expand else 0
    params += s.kernel * s.kernel * s.mid_ch + 2 * s.mid_ch
    if s.se:
        params += s.mid_ch * s.se_ch + s.se_ch + s.se_ch * s.mid_ch + s.mid_ch
    params += s.mid_ch * s.out_ch + 2 * s.out_ch
    return params


def place_block(name: str, b: BlockSpec, in_ch: int, in_hw: int) -> LayerShape:
    """The LayerShape of block ``b`` fed an ``in_ch`` x ``in_hw`` x ``in_hw`` input."""
    kind = {BlockType.SKIP: LayerKind.SKIP, BlockType.PROJ: LayerKind.PROJ}.get(b.type, LayerKind.IR)
    return LayerShape(
        name=name,
        kind=kind,
        in_ch=in_ch,
        mid_ch=b.mid_channels(in_ch),
        out_ch=b.out_ch,
        in_hw=in_hw,
        out_hw=_conv_out(in_hw, b.stride),
        kernel=b.kernel if kind is LayerKind.IR else 1,
        stride=b.stride,
        se=b.se and kind is LayerKind.IR,
        act=b.act,
    )


@dataclass(frozen=True)
class ArchProfile:
    arch: ArchSpec
    layers: tuple[LayerShape, ...]

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def blocks(self) -> tuple[LayerShape, ...]:
        return tuple(
            layer for layer in self.layers if layer.kind in (LayerKind.IR, LayerKind.SKIP, LayerKind.PROJ)
        )


def profile_arch(arch: ArchSpec) -> ArchProfile:
    """Every layer of ``arch`` (stem, blocks named ``s<stage>.b<block>``, head) with its input shape."""
    hw = _conv_out(arch.input_hw, arch.stem.stride)
    layers = [
        LayerShape(
            "stem",
            LayerKind.STEM,
            arch.in_ch,
            arch.stem.out_ch,
            arch.stem.out_ch,
            arch.input_hw,
            hw,
            arch.stem.kernel,
            arch.stem.stride,
            False,
            arch.stem.act,
        )
    ]
    ch = arch.stem.out_ch
    for si, stage in enumerate(arch.stages):
        for bi, b in enumerate(stage):
            layer = place_block(f"s{si}.b{bi}", b, ch, hw)
            layers.append(layer)
            ch, hw = layer.out_ch, layer.out_hw
    layers.append(
        LayerShape(
            "head",
            LayerKind.HEAD,
            ch,
            arch.head.conv_ch,
            arch.num_classes,
            hw,
            1,
            1,
            1,
            False,
            arch.head.act,
            hidden_ch=arch.head.hidden_ch,
        )
    )
    return ArchProfile(arch, tuple(layers))
