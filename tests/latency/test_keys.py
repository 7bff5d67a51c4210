from dataclasses import replace

import pytest

from latency.keys import BlockKey, Context, keys_from_archs, keys_from_layers
from search.arch import Act, ArchSpec, BlockSpec, HeadSpec, LayerKind, StemSpec, profile_arch


def _arch(c2: int = 24) -> ArchSpec:
    return ArchSpec(
        32,
        StemSpec(16),
        ((BlockSpec("ir", 16), BlockSpec("skip", 16)), (BlockSpec("ir", c2, 2, 5, 4.0, se=True, act="hs"),)),
        HeadSpec(32),
        10,
    )


def test_key_roundtrips_layer_and_is_hashable():
    for layer in profile_arch(_arch()).layers:
        k = BlockKey.from_layer(layer)
        back = k.to_layer(layer.name)
        assert back == layer
        assert hash(k) == hash(BlockKey.from_layer(layer))


def test_keys_dedup_and_skip_dropped():
    a, b = _arch(24), _arch(32)
    keys = keys_from_archs([a, a, b])
    assert len(keys) == len(set(keys))
    # stem, ir16 shared; ir->24 / ir->32 and two heads differ
    assert len(keys) == 6
    assert all(k.kind is not LayerKind.SKIP for k in keys)
    assert len(keys_from_archs([a], include_skip=True)) == 5


def test_key_distinguishes_every_field():
    base = BlockKey(LayerKind.IR, 3, 16, 48, 24, 16, 2, False, Act.RELU)
    variants = [
        replace(base, kernel=5),
        replace(base, in_ch=24),
        replace(base, mid_ch=64),
        replace(base, out_ch=32),
        replace(base, in_hw=8),
        replace(base, stride=1),
        replace(base, se=True),
        replace(base, act=Act.HSWISH),
    ]
    assert len({base, *variants}) == 1 + len(variants)
    assert len({v.digest() for v in [base, *variants]}) == 1 + len(variants)
    assert base.digest("et-1.0") != base.digest("et-1.1")


def test_key_coerces_strings_and_rejects_bad_ints():
    k = BlockKey("ir", 3, 16, 48, 24, 16, 2, 0, "hs")
    assert k.kind is LayerKind.IR and k.act is Act.HSWISH and k.se is False
    with pytest.raises(ValueError, match="in_ch"):
        BlockKey("ir", 3, -1, 48, 24, 16, 2, False, "hs")


def test_context_validation_and_digest():
    c = Context("host", "executorch", "1.5.1", "int8", 1, "0")
    assert c.runtime.value == "executorch" and c.dtype.value == "int8"
    assert c.digest() != replace(c, threads=2).digest()
    with pytest.raises(ValueError):
        Context("host", "tflite-gpu", "1", "int8", 1)
    with pytest.raises(ValueError):
        Context("host", "executorch", "1", "int8", 0)


def test_keys_from_space_candidates_are_unique():
    from search.space import get_space

    layers = list(get_space("digits").candidate_layers())
    keys = keys_from_layers(layers)
    assert len(keys) == len(set(keys)) > 50
