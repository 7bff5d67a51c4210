"""The reference zoo: published numbers, exact reconciliation with the authors' counters, lookups."""

import json
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from search.arch import ArchError, arch_to_dict, arch_to_json, encode_arch, profile_arch
from search.zoo import (
    PUBLISHED,
    ZOO,
    fb_divisible,
    fbnet_counter_convention,
    get_arch,
    mobilenet_v3_large,
    mobilenet_v3_small,
    resolve_arch,
)

NAMES = [
    "fbnetv2_f1",
    "fbnetv2_f2",
    "fbnetv2_f3",
    "fbnetv2_f4",
    "fbnetv2_l1",
    "fbnetv2_l2",
    "mobilenetv3_small",
    "mobilenetv3_large",
]


def test_registry_names():
    assert list(ZOO) == NAMES
    assert set(PUBLISHED) == set(ZOO)


@pytest.mark.parametrize("name", NAMES)
def test_macs_within_3_percent_of_published(name):
    arch, pub = ZOO[name], PUBLISHED[name]
    assert arch.input_hw == pub.input_hw
    macs_m = profile_arch(arch).macs / 1e6
    assert abs(macs_m - pub.macs_m) / pub.macs_m < 0.03, (macs_m, pub.macs_m)
    assert pub.source


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("fbnetv2") and PUBLISHED[n].params_m])
def test_fbnetv2_reproduces_the_authors_counts_exactly(name):
    # mobile_cv's counter: conv MACs + avg-pool inputs, params = conv weights. Reproducing its
    # 6-9 significant digits checks every width, kernel, expansion and stride we transcribed.
    flops, params = fbnet_counter_convention(ZOO[name])
    assert flops == round(PUBLISHED[name].macs_m * 1e6)
    assert params == round(PUBLISHED[name].params_m * 1e6)


def test_fbnetv2_published_resolutions_and_top1():
    assert [PUBLISHED[n].input_hw for n in NAMES[:6]] == [128, 160, 192, 224, 224, 256]
    assert [PUBLISHED[n].top1 for n in NAMES[:6]] == sorted(PUBLISHED[n].top1 for n in NAMES[:6])


def test_fb_divisible_is_mobile_cv_rounding():
    assert fb_divisible(8 * 5.4566) == 48  # make_divisible would give 40
    assert fb_divisible(224 * 6) == 1344
    assert fb_divisible(3) == 8
    assert fb_divisible(36) == 40  # halves round up
    assert fb_divisible(140) == 144


def _flop_macs(model, hw):
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, hw, hw))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize(
    ("factory", "tv_name", "width"),
    [
        (mobilenet_v3_small, "mobilenet_v3_small", 1.0),
        (mobilenet_v3_small, "mobilenet_v3_small", 0.5),
        (mobilenet_v3_large, "mobilenet_v3_large", 1.0),
    ],
)
def test_mobilenet_v3_equals_torchvision(factory, tv_name, width):
    torchvision = pytest.importorskip("torchvision")
    tv = getattr(torchvision.models, tv_name)(width_mult=width).eval()
    arch = factory(width, input_hw=64)
    profile = profile_arch(arch)
    assert profile.params == sum(p.numel() for p in tv.parameters())
    assert profile.macs == _flop_macs(tv, 64)


def test_mobilenet_v3_small_factory():
    assert mobilenet_v3_small() == ZOO["mobilenetv3_small"]
    small = mobilenet_v3_small(0.5, input_hw=32, num_classes=10, in_ch=1)
    assert (small.input_hw, small.num_classes, small.in_ch) == (32, 10, 1)
    assert small.stem.out_ch == 8 and small.head.hidden_ch == 512
    assert profile_arch(small).macs < profile_arch(mobilenet_v3_small(1.0, 32, 10, 1)).macs
    for bad in (0, -1.0, math.nan):
        with pytest.raises(ArchError, match="width multiplier"):
            mobilenet_v3_small(bad)


def test_get_arch():
    assert get_arch("fbnetv2_f1") is ZOO["fbnetv2_f1"]
    a = get_arch("fbnetv2_f1", input_hw=96, num_classes=10)
    assert (a.input_hw, a.num_classes, a.stages) == (96, 10, ZOO["fbnetv2_f1"].stages)
    with pytest.raises(ArchError, match="unknown zoo model 'fbnetv2_f9'.*fbnetv2_f1"):
        get_arch("fbnetv2_f9")


def test_resolve_arch_accepts_name_string_and_file(tmp_path):
    arch = ZOO["mobilenetv3_small"]
    assert resolve_arch("mobilenetv3_small") is arch
    assert resolve_arch(encode_arch(arch)) == arch
    path = tmp_path / "arch.json"
    path.write_text(arch_to_json(arch))
    assert resolve_arch(str(path)) == arch
    other = tmp_path / "noext"
    other.write_text(arch_to_json(arch))
    assert resolve_arch(str(other)) == arch


def test_resolve_arch_errors(tmp_path):
    with pytest.raises(ArchError, match="is not a zoo model .* an arch string .* arch JSON file"):
        resolve_arch("resnet50")
    with pytest.raises(ArchError, match="cannot read arch file .*missing.json"):
        resolve_arch(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(arch_to_json(ZOO["fbnetv2_f1"])[:100])
    with pytest.raises(ArchError, match="bad.json: arch JSON is not valid JSON.*truncated"):
        resolve_arch(str(bad))


def test_published_residuals_are_stated():
    for name in NAMES:
        assert PUBLISHED[name].residual, name
    assert (
        "avg-pool" in PUBLISHED["fbnetv2_f1"].residual and "ir_k1_e1" not in PUBLISHED["fbnetv2_f1"].residual
    )


def test_fbnetv2_width_changing_skips_are_exact_projections():
    """mobile_cv's skip_c80 after 56 channels is a 1x1 conv-BN-ReLU: our proj block, not an ir stand-in."""
    from search.arch import BlockType, encode_arch
    from search.build import build_model

    f1 = ZOO["fbnetv2_f1"]
    projs = [b for b in f1.blocks if b.type is BlockType.PROJ]
    assert [b.out_ch for b in projs] == [80, 224]
    assert "proj_c80_relu" in encode_arch(f1) and "ir_k1" not in encode_arch(f1)
    layer = next(s for s in profile_arch(f1).blocks if s.kind.value == "proj")
    assert (layer.in_ch, layer.out_ch, layer.macs, layer.params) == (56, 80, 56 * 80 * 8 * 8, 56 * 80 + 160)
    model = build_model(f1)
    assert sum(p.numel() for p in model.parameters()) == profile_arch(f1).params


def test_resolve_arch_json_error_names_the_block(tmp_path):
    d = arch_to_dict(ZOO["mobilenetv3_small"])
    d["stages"][2][1]["stride"] = 3
    path = tmp_path / "a.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ArchError, match=r"a.json: block s2.b1: stride must be one of \(1, 2\), got 3"):
        resolve_arch(str(path))
