import itertools

import pytest
import torch

from search.arch import LayerKind, profile_arch
from search.build import build_model
from search.space import PRESETS, SearchSpace, SpaceError, StageChoices, StemChoices, get_space


def _key(layer):
    return (
        layer.kind,
        layer.in_ch,
        layer.mid_ch,
        layer.out_ch,
        layer.in_hw,
        layer.kernel,
        layer.stride,
        layer.se,
        layer.act,
        layer.hidden_ch,
    )


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_are_valid_and_sized(name):
    space = get_space(name)
    assert space.num_archs > 1
    assert space.max_arch().input_hw == max(space.resolutions)


def test_digits_candidate_layers_are_modest_and_unique():
    layers = list(get_space("digits").candidate_layers())
    assert len(layers) <= 150
    assert len({_key(x) for x in layers}) == len(layers)


def test_every_sampled_child_layer_is_a_candidate():
    space = get_space("digits")
    cands = {_key(x) for x in space.candidate_layers()}
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        for layer in profile_arch(space.sample_arch(gen)).layers:
            assert _key(layer) in cands, layer


def test_num_archs_counts_distinct_children_on_a_tiny_space():
    space = SearchSpace(
        "tiny",
        (16, 24),
        StemChoices((8,)),
        (StageChoices((8, 16), 2, 2, (2.0, 4.0), (3, 5), skip=True),),
        num_classes=3,
    )
    names = [v.name for v in space.variables()]
    sizes = [len(v.values) for v in space.variables()]
    archs = {
        space.arch_from_choices(dict(zip(names, idx, strict=True)))
        for idx in itertools.product(*(range(n) for n in sizes))
    }
    assert len(archs) == space.num_archs


def test_sample_arch_is_seeded_and_builds():
    space = get_space("digits")
    a = space.sample_arch(torch.Generator().manual_seed(5))
    assert a == space.sample_arch(torch.Generator().manual_seed(5))
    out = build_model(a)(torch.randn(2, 3, a.input_hw, a.input_hw))
    assert out.shape == (2, 10)


def test_bad_space_errors():
    with pytest.raises(SpaceError, match="unknown search space"):
        get_space("nope")
    with pytest.raises(SpaceError, match="expansion"):
        SearchSpace("bad", (32,), StemChoices((8,)), (StageChoices((8,), 1, 1, (1.0, 2.0)),))


def test_templates_cover_stem_blocks_head():
    t = get_space("digits").layer_templates()
    assert t[0].kind is LayerKind.STEM and t[-1].kind is LayerKind.HEAD
    assert [x.name for x in t[1:-1]] == ["s0.b0", "s1.b0", "s1.b1", "s2.b0", "s2.b1"]
