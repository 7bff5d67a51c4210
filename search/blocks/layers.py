"""Basic export-friendly layers: conv-bn-act and squeeze-excite with a hard-sigmoid gate."""

from __future__ import annotations

from torch import Tensor, nn

from search.arch import Act


def make_act(act: Act | None) -> nn.Module:
    if act is None:
        return nn.Identity()
    return nn.Hardswish() if act is Act.HSWISH else nn.ReLU()


class ConvBnAct(nn.Module):
    """kxk conv ('same' padding, no bias) -> BatchNorm -> activation (Identity for a linear projection)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: Act | None = Act.RELU,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = make_act(act)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """Global pool -> 1x1 reduce -> ReLU -> 1x1 expand -> hard-sigmoid -> scale (MobileNetV3/FBNetV2)."""

    def __init__(self, ch: int, se_ch: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(ch, se_ch, 1)
        self.relu = nn.ReLU()
        self.expand = nn.Conv2d(se_ch, ch, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gate(self.expand(self.relu(self.reduce(self.pool(x)))))
