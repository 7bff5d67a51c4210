"""Reference architectures as :class:`ArchSpec`: the FBNetV2 paper models and MobileNetV3.

The numbers (widths, kernels, strides, expansion ratios, resolutions) are facts transcribed from
the public definitions; the code is ours:

* FBNetV2 F1-F4, L1, L2: ``mobile_cv/arch/fbnet_v2/fbnet_modeldef_cls_fbnetv2.py`` in
  facebookresearch/mobile-vision (``MODEL_ARCH_FBNETV2_PAPER``). Hidden widths follow mobile_cv's
  rounding (``round(c * e / 8) * 8``, bumped by 8 when that loses more than 5%), which differs from
  our ``make_divisible`` rule, so blocks where the two disagree pin the published width with ``mid_ch``.
  The ``ir_pool_hs`` head (1x1 conv-BN-hswish to ``6 * 224`` channels, global pool, 1x1 conv to
  1600/1984 + hswish, 1x1 conv classifier) is our ``HeadSpec(conv_ch=1344, hidden_ch=..., act=hs)``.
* MobileNetV3-Small/Large: torchvision's ``_mobilenet_v3_conf`` (Howard et al., ICCV 2019, Table 1/2)
  with the paper's explicit expansion sizes as ``mid_ch``.

How our counts relate to the published ones (each model's ``Published.residual`` gives the numbers):

* Our MACs/params are exact for the module :func:`search.build.build_model` builds (checked against
  ``torch.utils.flop_counter.FlopCounterMode`` and ``numel`` in the tests).
* MobileNetV3: MACs and params equal torchvision's models exactly (56.51M / 2.542856M Small,
  216.59M / 5.483032M Large, also for other width multipliers); the paper rounds to 56M / 219M.
* FBNetV2: the header comments were produced by mobile_cv's counter, which adds the input elements
  of every average pool (SE and head pools) to the conv MACs and counts params as conv weights
  only. :func:`fbnet_counter_convention` recounts our specs that way and reproduces the published
  flops and params of F1, F2, F3, F4 and L2 to the last digit, which checks the transcription.
  Our own MAC count is 0.3% lower than the published one for that reason (L1 has no header count;
  the paper's 325M is within 0.01% of ours).
* FBNetV2 ``skip`` blocks that change the width (e.g. 56 -> 80) are, in mobile_cv, a 1x1
  conv-BN-ReLU projection: our ``proj`` block type (``proj_c80_relu``), so the structure is exact.
* FBNetV2's ``ir_pool`` hidden 1x1 conv has no bias; our head's hidden ``nn.Linear`` has one
  (``+hidden_ch`` params, no MAC change).
* Activation-only difference (no MAC/param change): mobile_cv's SE reduce layer uses the block's
  activation (hswish in ``_hs`` blocks); our :class:`search.blocks.SqueezeExcite` always uses ReLU
  (MobileNetV3's choice).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from search.arch import (
    Act,
    ArchError,
    ArchSpec,
    BlockSpec,
    BlockType,
    HeadSpec,
    LayerKind,
    StemSpec,
    arch_from_json,
    decode_arch,
    decode_block,
    fb_divisible,
    make_divisible,
    profile_arch,
)


@dataclass(frozen=True)
class Published:
    """What the authors report for a model (``None`` = not reported)."""

    macs_m: float
    params_m: float | None
    top1: float | None
    input_hw: int
    source: str
    residual: str = ""


# --------------------------------------------------------------------------------------------------
# FBNetV2 (Wan et al., CVPR 2020). Blocks in our grammar with the published fractional expansion;
# ``skip_c<N>`` with a width change is the mobile_cv 1x1 projection (see module docstring).

_FB_SMALL_TAIL = (
    ("ir_k5_e5.4566_c24_s2", "ir_k5_e4.7912_c24"),
    ("ir_k5_e5.3501_c32_s2_se", "ir_k5_e4.5379_c24_se"),
    (
        "ir_k5_e5.7133_c56_s2_hs",
        "ir_k3_e4.1212_c56_hs",
        "ir_k3_e5.1246_c56_se_hs",
        "skip_c80",
        "ir_k5_e4.507_c80_se_hs",
        "ir_k5_e1.7712_c80_se_hs",
    ),
    ("ir_k3_e4.5685_c144_s2_se_hs", "ir_k5_e5.84_c144_se_hs", "ir_k5_e6.8754_c144_se_hs", "skip_c224"),
)

_FBNETV2: dict[str, tuple[int, int, tuple[tuple[str, ...], ...], int]] = {
    # name: (input_hw, stem ch, stages, ir_pool head width)
    "fbnetv2_f1": (128, 8, (("ir_k5_e1_c8",), *_FB_SMALL_TAIL), 1600),
    "fbnetv2_f2": (160, 8, (("ir_k5_e1_c8",), *_FB_SMALL_TAIL), 1600),
    "fbnetv2_f3": (192, 8, (("ir_k5_e1_c8",), *_FB_SMALL_TAIL), 1984),
    "fbnetv2_f4": (
        224,
        16,
        (
            ("ir_k3_e1_c16_hs",),
            ("ir_k5_e5.4566_c24_s2_hs", "ir_k5_e1.7912_c24_hs", "ir_k5_e1.7912_c24_hs"),
            (
                "ir_k5_e5.3501_c32_s2_se",
                "ir_k5_e3.5379_c32_se",
                "ir_k5_e4.5379_c32_se",
                "ir_k5_e4.5379_c32_se",
            ),
            (
                "ir_k5_e5.7133_c64_s2_hs",
                "ir_k3_e2.1212_c64_hs",
                "skip_c64",
                "ir_k3_e5.0333_c104_hs",
                "ir_k5_e2.507_c104_se_hs",
                "ir_k5_e1.7712_c104_se_hs",
                "ir_k5_e3.7712_c112_se_hs",
            ),
            (
                "ir_k3_e5.5685_c184_s2_se_hs",
                "ir_k5_e2.84_c184_se_hs",
                "ir_k5_e4.8754_c184_se_hs",
                "skip_c224",
            ),
        ),
        1984,
    ),
}

_FB_LARGE = (
    ("ir_k3_e1_c16_hs",),
    ("ir_k5_e5.4566_c24_s2_hs", "ir_k5_e1.7912_c24_hs", "ir_k3_e1.7912_c24_hs", "ir_k5_e1.7912_c24_hs"),
    (
        "ir_k5_e5.3501_c40_s2_se_hs",
        "ir_k5_e3.5379_c32_se_hs",
        "ir_k5_e4.5379_c32_se_hs",
        "ir_k5_e4.5379_c32_se_hs",
    ),
    (
        "ir_k5_e5.7133_c64_s2_hs",
        "ir_k3_e2.1212_c64_hs",
        "skip_c64",
        "ir_k3_e3.1246_c64_hs",
        "ir_k3_e5.0333_c112_hs",
        "ir_k5_e2.507_c112_se_hs",
        "ir_k5_e1.7712_c112_se_hs",
        "ir_k5_e2.7712_c112_se_hs",
        "ir_k5_e3.7712_c112_se_hs",
        "ir_k5_e3.7712_c112_se_hs",
    ),
    (
        "ir_k3_e5.5685_c184_s2_se_hs",
        "ir_k5_e2.84_c184_se_hs",
        "ir_k5_e2.84_c184_se_hs",
        "ir_k5_e4.8754_c184_se_hs",
        "ir_k5_e4.8754_c184_se_hs",
        "skip_c224",
    ),
)
_FBNETV2["fbnetv2_l1"] = (224, 16, _FB_LARGE, 1984)
_FBNETV2["fbnetv2_l2"] = (256, 16, _FB_LARGE, 1984)


def _fbnet_block(text: str, in_ch: int) -> BlockSpec:
    b = decode_block(text)
    if b.type is BlockType.SKIP and b.out_ch != in_ch:
        # mobile_cv's width-changing skip: a 1x1 conv-BN-ReLU projection
        return BlockSpec(BlockType.PROJ, out_ch=b.out_ch, stride=b.stride, act=Act.RELU)
    if b.type is BlockType.SKIP or b.expand == 1.0:
        return b
    mid = fb_divisible(in_ch * b.expand)
    if mid == make_divisible(in_ch * b.expand, 8):
        return b
    return BlockSpec(BlockType.IR, b.out_ch, b.stride, b.kernel, b.expand, b.se, b.act, mid_ch=mid)


def fbnetv2(name: str, num_classes: int = 1000) -> ArchSpec:
    """One of the FBNetV2 paper models (``fbnetv2_f1`` ... ``fbnetv2_l2``) as published."""
    input_hw, stem_ch, stage_texts, head_hidden = _FBNETV2[name]
    ch = stem_ch
    stages = []
    for texts in stage_texts:
        stage = []
        for text in texts:
            stage.append(_fbnet_block(text, ch))
            ch = stage[-1].out_ch
        stages.append(tuple(stage))
    return ArchSpec(
        input_hw=input_hw,
        stem=StemSpec(out_ch=stem_ch, kernel=3, stride=2, act=Act.HSWISH),
        stages=tuple(stages),
        head=HeadSpec(conv_ch=fb_divisible(ch * 6), hidden_ch=head_hidden, act=Act.HSWISH),
        num_classes=num_classes,
    )


# --------------------------------------------------------------------------------------------------
# MobileNetV3 (Howard et al., ICCV 2019): (kernel, expanded width, out, SE, act, stride) per block,
# stages split at the stride-2 blocks; the head conv is 6x the last width.

_MNV3_SMALL = (
    ((3, 16, 16, True, "relu", 2),),
    ((3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1)),
    (
        (5, 96, 40, True, "hs", 2),
        (5, 240, 40, True, "hs", 1),
        (5, 240, 40, True, "hs", 1),
        (5, 120, 48, True, "hs", 1),
        (5, 144, 48, True, "hs", 1),
    ),
    ((5, 288, 96, True, "hs", 2), (5, 576, 96, True, "hs", 1), (5, 576, 96, True, "hs", 1)),
)
_MNV3_LARGE = (
    ((3, 16, 16, False, "relu", 1),),
    ((3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1)),
    ((5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1)),
    (
        (3, 240, 80, False, "hs", 2),
        (3, 200, 80, False, "hs", 1),
        (3, 184, 80, False, "hs", 1),
        (3, 184, 80, False, "hs", 1),
        (3, 480, 112, True, "hs", 1),
        (3, 672, 112, True, "hs", 1),
    ),
    ((5, 672, 160, True, "hs", 2), (5, 960, 160, True, "hs", 1), (5, 960, 160, True, "hs", 1)),
)


def _mobilenet_v3(table, last_ch: int, width: float, input_hw: int, num_classes: int, in_ch: int) -> ArchSpec:
    if not (isinstance(width, (int, float)) and math.isfinite(width) and width > 0):
        raise ArchError(f"width multiplier must be a positive number, got {width!r}")

    def scale(c: int) -> int:
        return make_divisible(c * width, 8)

    stem_ch = scale(16)
    ch = stem_ch
    stages = []
    for rows in table:
        stage = []
        for kernel, exp, out, se, act, stride in rows:
            mid, out_ch = scale(exp), scale(out)
            stage.append(
                BlockSpec(
                    BlockType.IR, out_ch, stride, kernel, max(1.0, round(mid / ch, 2)), se, act, mid_ch=mid
                )
            )
            ch = out_ch
        stages.append(tuple(stage))
    return ArchSpec(
        input_hw=input_hw,
        stem=StemSpec(out_ch=stem_ch, kernel=3, stride=2, act=Act.HSWISH),
        stages=tuple(stages),
        head=HeadSpec(conv_ch=6 * ch, hidden_ch=scale(last_ch), act=Act.HSWISH),
        num_classes=num_classes,
        in_ch=in_ch,
    )


def mobilenet_v3_small(
    width: float = 1.0, input_hw: int = 224, num_classes: int = 1000, in_ch: int = 3
) -> ArchSpec:
    """MobileNetV3-Small with every width (stem, hidden, out, head) scaled by
    ``make_divisible(c * width, 8)``.

    Same scaling as torchvision's ``mobilenet_v3_small(width_mult=width)``; the width-scaled baseline of
    the search Pareto benchmark.
    """
    return _mobilenet_v3(_MNV3_SMALL, 1024, width, input_hw, num_classes, in_ch)


def mobilenet_v3_large(
    width: float = 1.0, input_hw: int = 224, num_classes: int = 1000, in_ch: int = 3
) -> ArchSpec:
    """MobileNetV3-Large, widths scaled like :func:`mobilenet_v3_small`."""
    return _mobilenet_v3(_MNV3_LARGE, 1280, width, input_hw, num_classes, in_ch)


# --------------------------------------------------------------------------------------------------

_FB_SRC = "mobile-vision fbnet_modeldef_cls_fbnetv2.py header comments (authors' counter, MFLOPs = MMACs)"


def fbnet_counter_convention(arch: ArchSpec) -> tuple[int, int]:
    """``(flops, params)`` of an FBNetV2 zoo spec counted the way mobile_cv counts its models.

    mobile_cv's counter reports conv MACs plus the input elements of every average pool (the SE
    pools and the head's two global pools) as "flops", and conv weights without biases or BatchNorm
    as "params" (a ``proj`` block: its 1x1 conv). Used to reconcile our MACs with the published header
    comments exactly.
    """
    flops = params = 0
    for s in profile_arch(arch).layers:
        hw = s.out_hw * s.out_hw
        if s.kind is LayerKind.STEM:
            flops += s.macs
            params += s.kernel * s.kernel * s.in_ch * s.out_ch
        elif s.kind is LayerKind.HEAD:
            flops += s.macs + s.mid_ch * s.in_hw * s.in_hw + s.hidden_ch
            params += s.in_ch * s.mid_ch + s.mid_ch * s.hidden_ch + s.hidden_ch * s.out_ch
        elif s.kind is LayerKind.PROJ:
            flops += s.in_ch * s.out_ch * hw
            params += s.in_ch * s.out_ch
        elif s.kind is LayerKind.IR:
            flops += s.macs + (s.mid_ch * hw if s.se else 0)
            params += (s.in_ch * s.mid_ch if s.has_expand else 0) + s.kernel * s.kernel * s.mid_ch
            params += 2 * s.mid_ch * s.se_ch + s.mid_ch * s.out_ch
    return flops, params


def _fb_residual(name: str) -> str:
    """Why our MAC count differs from the published FBNetV2 one (computed, not typed in)."""
    arch = ZOO[name]
    profile = profile_arch(arch)
    pools = fbnet_counter_convention(arch)[0] - profile.macs
    return (
        f"published flops also count avg-pool inputs (+{pools:,}); "
        f"our hidden head layer has a bias (+{arch.head.hidden_ch:,} params)"
    )


ZOO: dict[str, ArchSpec] = {name: fbnetv2(name) for name in _FBNETV2}
ZOO["mobilenetv3_small"] = mobilenet_v3_small()
ZOO["mobilenetv3_large"] = mobilenet_v3_large()

PUBLISHED: dict[str, Published] = {
    "fbnetv2_f1": Published(56.41056, 5.999408, 68.3, 128, _FB_SRC, _fb_residual("fbnetv2_f1")),
    "fbnetv2_f2": Published(85.441392, 5.999408, 71.1, 160, _FB_SRC, _fb_residual("fbnetv2_f2")),
    "fbnetv2_f3": Published(
        121.824, 6.899504, 73.1, 192, _FB_SRC + "; paper table: 126M", _fb_residual("fbnetv2_f3")
    ),
    "fbnetv2_f4": Published(238.351984, 6.994824, 75.8, 224, _FB_SRC, _fb_residual("fbnetv2_f4")),
    "fbnetv2_l1": Published(
        325.0,
        None,
        77.2,
        224,
        "FBNetV2 paper (Wan et al. 2020); the modeldef header has no count for L1",
        _fb_residual("fbnetv2_l1"),
    ),
    "fbnetv2_l2": Published(423.912768, 8.49652, 78.2, 256, _FB_SRC, _fb_residual("fbnetv2_l2")),
    "mobilenetv3_small": Published(
        56.0,
        2.5,
        67.4,
        224,
        "Howard et al. 2019 Table 3",
        "paper rounds; equals torchvision mobilenet_v3_small exactly (56,510,400 MACs, 2,542,856 params)",
    ),
    "mobilenetv3_large": Published(
        219.0,
        5.4,
        75.2,
        224,
        "Howard et al. 2019 Table 3",
        "paper rounds; equals torchvision mobilenet_v3_large exactly (216,589,760 MACs, 5,483,032 params)",
    ),
}


def get_arch(name: str, input_hw: int | None = None, num_classes: int | None = None) -> ArchSpec:
    """A zoo model, optionally at another resolution or number of classes."""
    if name not in ZOO:
        raise ArchError(f"unknown zoo model {name!r}; choose one of: {', '.join(ZOO)}")
    arch = ZOO[name]
    if input_hw is not None:
        arch = arch.with_input_hw(input_hw)
    if num_classes is not None:
        arch = arch.with_num_classes(num_classes)
    return arch


def resolve_arch(text: str) -> ArchSpec:
    """A zoo name, a compact arch string (:func:`search.arch.decode_arch`) or a path to an arch JSON file."""
    text = text.strip()
    if text in ZOO:
        return ZOO[text]
    path = Path(text)
    if text.endswith(".json") or (":" not in text and path.is_file()):
        try:
            content = path.read_text()
        except OSError as e:
            raise ArchError(f"cannot read arch file {text!r}: {e.strerror}") from None
        try:
            return arch_from_json(content)
        except ArchError as e:
            raise ArchError(f"{text}: {_json_block_location(content, e)}{e}") from None
    if ":" in text:
        return _decode_located(text)
    raise ArchError(
        f"{text!r} is not a zoo model ({', '.join(ZOO)}), an arch string (r224:stem_...:...:head_...:n1000) "
        "or an existing arch JSON file"
    )


def _decode_located(text: str) -> ArchSpec:
    """:func:`decode_arch`, but a block-level error names the block (``s<stage>.b<block>``) it came from."""
    try:
        return decode_arch(text)
    except ArchError as e:
        parts = text.split(":")
        if len(parts) == 5 and "block s" not in str(e):
            for si, stage in enumerate(parts[2].split("|")):
                for bi, block in enumerate(b for b in stage.split(",") if b.strip()):
                    try:
                        decode_block(block)
                    except ArchError as be:
                        where = "" if repr(block.strip()) in str(be) else f" {block.strip()!r}"
                        raise ArchError(f"block s{si}.b{bi}{where}: {be}") from None
        raise


def _json_block_location(content: str, error: ArchError) -> str:
    """``'block s<i>.b<j>: '`` for the first JSON block that is invalid on its own, else ``''``."""
    if "block s" in str(error):
        return ""
    try:
        stages = json.loads(content)["stages"]
        for si, stage in enumerate(stages):
            for bi, b in enumerate(stage):
                try:
                    BlockSpec(**b)
                except ArchError:
                    return f"block s{si}.b{bi}: "
                except TypeError:
                    continue
    except (ValueError, KeyError, TypeError):
        pass
    return ""
