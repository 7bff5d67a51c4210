"""FBNetV2 inverted residual, stem, skip and head as straight-line modules built from a LayerShape."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from search.arch import LayerKind, LayerShape
from search.blocks.layers import ConvBnAct, SqueezeExcite, make_act


class InvertedResidual(nn.Module):
    """[1x1 expand] -> kxk depthwise -> [SE] -> 1x1 linear projection (+ identity residual)."""

    def __init__(self, s: LayerShape) -> None:
        super().__init__()
        if s.kind is not LayerKind.IR:
            raise ValueError(f"InvertedResidual needs an 'ir' layer, got {s.kind.value!r} ({s.name})")
        self.pw = ConvBnAct(s.in_ch, s.mid_ch, 1, act=s.act) if s.has_expand else nn.Identity()
        self.dw = ConvBnAct(s.mid_ch, s.mid_ch, s.kernel, s.stride, groups=s.mid_ch, act=s.act)
        self.se = SqueezeExcite(s.mid_ch, s.se_ch) if s.se else nn.Identity()
        self.pwl = ConvBnAct(s.mid_ch, s.out_ch, 1, act=None)
        self.has_skip = s.has_residual

    def forward(self, x: Tensor) -> Tensor:
        out = self.pwl(self.se(self.dw(self.pw(x))))
        if self.has_skip:
            out = out + x
        return out


class Projection(ConvBnAct):
    """1x1 conv -> BN -> act to another width (mobile-vision's width-changing ``skip``)."""

    def __init__(self, s: LayerShape) -> None:
        if s.kind is not LayerKind.PROJ:
            raise ValueError(f"Projection needs a 'proj' layer, got {s.kind.value!r} ({s.name})")
        super().__init__(s.in_ch, s.out_ch, 1, s.stride, act=s.act)


class Stem(ConvBnAct):
    def __init__(self, s: LayerShape) -> None:
        super().__init__(s.in_ch, s.out_ch, s.kernel, s.stride, act=s.act)


class Head(nn.Module):
    """[1x1 conv-bn-act] -> global average pool -> [linear hidden + act] -> linear classifier."""

    def __init__(self, s: LayerShape) -> None:
        super().__init__()
        feat = s.mid_ch or s.in_ch
        self.conv = ConvBnAct(s.in_ch, s.mid_ch, 1, act=s.act) if s.mid_ch else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.hidden = nn.Linear(feat, s.hidden_ch) if s.hidden_ch else nn.Identity()
        self.hidden_act = make_act(s.act) if s.hidden_ch else nn.Identity()
        self.classifier = nn.Linear(s.hidden_ch or feat, s.out_ch)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.flatten(self.pool(self.conv(x)), 1)
        return self.classifier(self.hidden_act(self.hidden(x)))


def build_layer(s: LayerShape) -> nn.Module:
    """One placed layer as a module: what the latency LUT exports and times on its own."""
    if s.kind is LayerKind.STEM:
        return Stem(s)
    if s.kind is LayerKind.HEAD:
        return Head(s)
    if s.kind is LayerKind.SKIP:
        return nn.Identity()
    if s.kind is LayerKind.PROJ:
        return Projection(s)
    return InvertedResidual(s)
