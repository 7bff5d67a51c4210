"""The arch codec round-trips every valid spec (property test) and rejects malformed ones clearly."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.arch import (
    SCHEMA_VERSION,
    ArchError,
    ArchSpec,
    BlockSpec,
    HeadSpec,
    StemSpec,
    arch_from_dict,
    arch_from_json,
    arch_to_dict,
    arch_to_json,
    decode_arch,
    decode_block,
    encode_arch,
    encode_block,
)
from search.zoo import ZOO, resolve_arch
from tests.support.arch_strategies import archs, blocks


@settings(max_examples=150, deadline=None)
@given(archs())
def test_string_codec_round_trips(arch):
    text = encode_arch(arch)
    assert decode_arch(text) == arch
    assert encode_arch(decode_arch(text)) == text


@settings(max_examples=100, deadline=None)
@given(archs())
def test_json_codec_round_trips(arch):
    text = arch_to_json(arch)
    assert arch_from_json(text) == arch
    d = json.loads(text)
    assert d["schema_version"] == SCHEMA_VERSION
    assert decode_arch(d["arch"]) == arch  # the embedded compact string agrees with the structured fields


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_block_codec_round_trips(data):
    b = data.draw(blocks(16, 32))
    assert decode_block(encode_block(b)) == b


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_round_trips(name):
    arch = ZOO[name]
    assert decode_arch(encode_arch(arch)) == arch
    assert arch_from_json(arch_to_json(arch)) == arch


# ---------------------------------------------------------------------------------------------- errors

GOOD = (
    "r224:stem_k3_c16_s2_hs:ir_k3_e1_c16_s2_se_relu|ir_k3_e4_c24_s2,ir_k3_e3_c24_s1:head_c576_h1024_hs:n1000"
)


def _arch_error(fn, *args) -> str:
    with pytest.raises(ArchError) as info:
        fn(*args)
    msg = str(info.value)
    assert "\n" not in msg  # one line for the CLI
    return msg


def test_good_string_decodes():
    assert decode_arch(GOOD).blocks[1].out_ch == 24


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ir_k3_e4_c24_s3", ["stride", "(1, 2)", "3"]),
        ("ir_k3_e4_c0_s1", ["out_ch", "positive", "0"]),
        ("conv_k3_c16", ["unknown block type", "'conv'", "'ir', 'proj' or 'skip'"]),
        ("ir_k3_x5_c16", ["unknown token", "'x5'"]),
        ("ir_k4_c16", ["kernel", "4"]),
        ("ir_k3_e0.5_c16", ["expand", ">= 1"]),
        ("ir_k3_c16_relu_hs", ["one activation"]),
        ("ir_k3_k5_c16", ["'k'", "twice"]),
        ("ir_k3_e4", ["missing", "'c<int>'"]),
        ("ir_k3_c16.5", ["integer", "16.5"]),
    ],
)
def test_malformed_block_names_the_problem(text, expected):
    msg = _arch_error(decode_block, text)
    for part in expected:
        assert part in msg, (part, msg)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("ir_k3_e3_c24_s1", "ir_k3_e3_c24_s3"), ["block s1.b1", "ir_k3_e3_c24_s3", "stride"]),
        (GOOD.replace("ir_k3_e4_c24_s2", "ir_k3_e4_c0_s2"), ["block s1.b0", "out_ch", "0"]),
        (GOOD.replace("ir_k3_e4_c24_s2", "dw_k3_c24"), ["block s1.b0", "unknown block type 'dw'"]),
        (GOOD.replace("ir_k3_e3_c24_s1", "skip_c32"), ["block s1.b1", "skip", "in_ch 24", "out_ch 32"]),
        (GOOD.replace("_se_relu", "_se_relu_q7"), ["block s0.b0", "unknown token 'q7'"]),
        (GOOD.replace(":n1000", ""), ["5 ':'-separated sections", "got 4"]),
        (GOOD.replace("r224", "224"), ["resolution section", "'224'"]),
        (GOOD.replace("stem_k3", "stm_k3"), ["stem section", "'stem_'"]),
        (GOOD.replace("head_c576", "hd_c576"), ["head section"]),
        (GOOD.replace("n1000", "n0"), ["num_classes", "positive"]),
        (GOOD.replace("|ir_k3_e4_c24_s2,ir_k3_e3_c24_s1", "||"), ["stage 1 is empty"]),
        (GOOD.replace("r224", "r4"), ["input_hw", ">= 8"]),
        (GOOD.replace("stem_k3_c16", "stem_k3_c0"), ["stem", "out_ch"]),
    ],
)
def test_malformed_arch_string_names_the_problem(text, expected):
    msg = _arch_error(resolve_arch, text)
    for part in expected:
        assert part in msg, (part, msg)


def test_stride_two_on_a_1x1_map_is_rejected():
    text = "r8:stem_k3_c8_s2_hs:ir_k3_e1_c8_s2,ir_k3_e1_c8_s2,ir_k3_e1_c8_s2:head_hs:n10"
    msg = _arch_error(decode_arch, text)
    assert "block s0.b2" in msg and "1x1" in msg and "raise input_hw" in msg


def test_truncated_json_is_reported_as_such():
    text = arch_to_json(ZOO["fbnetv2_f1"])
    msg = _arch_error(arch_from_json, text[: len(text) // 2])
    assert "not valid JSON" in msg and "truncated" in msg


def test_wrong_schema_version():
    d = arch_to_dict(ZOO["fbnetv2_f1"])
    d["schema_version"] = 99
    msg = _arch_error(arch_from_dict, d)
    assert "schema_version 99" in msg and f"reads {SCHEMA_VERSION}" in msg


@pytest.mark.parametrize("section", ["stem", "stages", "input_hw"])
def test_missing_json_section(section):
    d = arch_to_dict(ZOO["mobilenetv3_small"])
    del d[section]
    msg = _arch_error(arch_from_dict, d)
    assert f"missing the field '{section}'" in msg


def test_json_block_with_unknown_type_and_bad_act():
    d = arch_to_dict(ZOO["mobilenetv3_small"])
    d["stages"][1][0]["type"] = "fused"
    assert "unknown block type 'fused'" in _arch_error(arch_from_dict, d)
    d = arch_to_dict(ZOO["mobilenetv3_small"])
    d["stages"][1][0]["act"] = "gelu"
    assert "unknown activation 'gelu'" in _arch_error(arch_from_dict, d)


def test_json_that_is_not_an_object():
    assert "must be an object" in _arch_error(arch_from_json, "[1, 2]")


def test_direct_construction_errors():
    assert "skip block" in _arch_error(ArchSpec, 32, StemSpec(16), ((BlockSpec("skip", 24),),))
    assert "at least one stage" in _arch_error(ArchSpec, 32, StemSpec(16), ())
    assert "mid_ch" in _arch_error(BlockSpec, "ir", 16, 1, 3, 1.0, False, "relu", 0)
    assert "head: conv_ch" in _arch_error(HeadSpec, -1)


def test_proj_block_roundtrips_and_costs_a_1x1_conv():
    from search.arch import (
        BlockType,
        LayerKind,
        arch_from_json,
        arch_to_json,
        decode_arch,
        decode_block,
        profile_arch,
    )

    b = decode_block("proj_c80_relu")
    assert b.type is BlockType.PROJ and b.out_ch == 80 and b.stride == 1 and b.kernel == 1
    assert encode_block(decode_block("proj_c40_s2_hs")) == "proj_c40_s2_hs"
    arch = decode_arch("r32:stem_k3_c16_s2_hs:ir_k3_e4_c24_s2,proj_c40_relu|proj_c48_s2_hs:head_c64_hs:n10")
    assert decode_arch(encode_arch(arch)) == arch and arch_from_json(arch_to_json(arch)) == arch
    layers = [s for s in profile_arch(arch).blocks if s.kind is LayerKind.PROJ]
    assert [(s.in_ch, s.out_ch, s.in_hw, s.out_hw) for s in layers] == [(24, 40, 8, 8), (40, 48, 8, 4)]
    assert layers[1].macs == 40 * 48 * 4 * 4 and layers[1].params == 40 * 48 + 2 * 48


def test_with_width_scales_every_width_and_keeps_skips():
    from search.arch import profile_arch
    from search.zoo import ZOO

    arch = ZOO["fbnetv2_f1"]
    half = arch.with_width(0.5)
    assert half.stem.out_ch == 8 and half.input_hw == arch.input_hw and half.num_classes == arch.num_classes
    assert [b.type for b in half.blocks] == [b.type for b in arch.blocks]
    assert all(h.out_ch <= b.out_ch for h, b in zip(half.blocks, arch.blocks, strict=True))
    assert half.head.conv_ch < arch.head.conv_ch
    params = lambda a: sum(la.params for la in profile_arch(a).layers)  # noqa: E731
    assert params(half) < 0.5 * params(arch)
    assert arch.with_width(1.0) == arch
    with pytest.raises(ArchError, match="width multiplier"):
        arch.with_width(0)
