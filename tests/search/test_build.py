"""Built modules agree with the spec: per-layer shapes, MACs (FlopCounterMode) and params (numel).

Parametrized over the zoo registry (every new zoo model is tested for free) and over random specs.
"""

import pytest
import torch
from hypothesis import given, settings
from torch.utils.flop_counter import FlopCounterMode

from search.arch import LayerKind, profile_arch
from search.blocks import build_layer
from search.build import build_model
from search.zoo import ZOO
from tests.support.arch_strategies import archs


def _run_and_check(arch):
    """One forward under the FLOP counter with hooks on every layer; returns (flop MACs, params, outputs)."""
    model = build_model(arch).eval()
    shapes = profile_arch(arch).layers
    seen: list[tuple[str, tuple[int, ...]]] = []
    hooks = [
        layer.register_forward_hook(lambda mod, inp, out, name=s.name: seen.append((name, tuple(out.shape))))
        for layer, s in zip(model.layers, shapes, strict=True)
    ]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(model.example_input())
    for h in hooks:
        h.remove()
    assert out.shape == (1, arch.num_classes)
    assert torch.isfinite(out).all()
    expected = [
        (s.name, (1, s.out_ch) if s.kind is LayerKind.HEAD else (1, s.out_ch, s.out_hw, s.out_hw))
        for s in shapes
    ]
    assert seen == expected
    return counter.get_total_flops() // 2, sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_model_builds_runs_and_matches_its_profile(name):
    arch = ZOO[name]
    profile = profile_arch(arch)
    macs, params = _run_and_check(arch)
    assert macs == profile.macs
    assert params == profile.params


@settings(max_examples=10, deadline=None)
@given(archs(max_hw=48))
def test_random_arch_matches_its_profile(arch):
    profile = profile_arch(arch)
    macs, params = _run_and_check(arch)
    assert macs == profile.macs
    assert params == profile.params


def test_build_layer_matches_each_layer_alone():
    arch = ZOO["fbnetv2_f1"].with_input_hw(64)
    for s in profile_arch(arch).layers:
        module = build_layer(s).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = module(torch.randn(1, s.in_ch, s.in_hw, s.in_hw))
        assert out.shape[1] == s.out_ch, s.name
        if s.kind is not LayerKind.HEAD:
            assert out.shape[2:] == (s.out_hw, s.out_hw), s.name
        assert counter.get_total_flops() // 2 == s.macs, s.name
        assert sum(p.numel() for p in module.parameters()) == s.params, s.name


def test_residual_only_where_shapes_allow():
    for s in profile_arch(ZOO["mobilenetv3_large"]).blocks:
        module = build_layer(s)
        assert module.has_skip == (s.stride == 1 and s.in_ch == s.out_ch), s.name
