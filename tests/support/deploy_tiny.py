"""Helpers for deploy tests: a tiny 1x16x16 arch (fast exports) with well-spread logits, and digits inputs."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from search.arch import decode_arch
from search.build import build_model

TINY = (
    "r16c1:stem_k3_c8_s1_hs:ir_k3_e1_c8_s1_se_relu|ir_k3_e3_c16_s2_hs,ir_k5_e3_c16_s1_se_hs:head_c32_hs:n10"
)


def tiny_model(seed: int = 0) -> nn.Module:
    """Seeded tiny model; the classifier gets PyTorch's default (fan-in) init so logits are well spread."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(decode_arch(TINY))
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5))
                nn.init.uniform_(m.bias, -0.1, 0.1)
    return model.eval()


def reference(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([model(xi.unsqueeze(0)) for xi in x]).numpy()


def count_modules(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())
