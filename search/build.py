"""ArchSpec -> dense nn.Module (no masks, no dynamic ops: what deploy exports)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from search.arch import ArchSpec, LayerShape, profile_arch
from search.blocks import build_layer


class DenseNet(nn.Module):
    """A plain static network: stem -> blocks -> head. ``layers`` is keyed by the LayerShape names."""

    def __init__(self, arch: ArchSpec) -> None:
        super().__init__()
        self.arch = arch
        self.layer_shapes: tuple[LayerShape, ...] = profile_arch(arch).layers
        self.layers = nn.Sequential(*(build_layer(s) for s in self.layer_shapes))

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)

    def example_input(self, batch: int = 1) -> Tensor:
        return torch.randn(batch, self.arch.in_ch, self.arch.input_hw, self.arch.input_hw)


def build_model(arch: ArchSpec) -> DenseNet:
    """Build ``arch`` as a dense model (BN in eval mode after ``.eval()``, freshly initialised weights)."""
    model = DenseNet(arch)
    init_weights(model)
    return model


def init_weights(model: nn.Module) -> None:
    """MobileNet-style init: Kaiming-normal convs (fan_out), small-normal linears, unit BN."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
