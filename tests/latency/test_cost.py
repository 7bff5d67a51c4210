"""The supernet's cost under a LUT equals ``lut predict`` for the derived child, spill and SE terms
included."""

from __future__ import annotations

import pytest
import torch

from latency.correction import Correction
from latency.cost import LUTCost
from latency.keys import BlockKey, keys_from_layers
from latency.lut import LUT
from search.arch import Act, HeadSpec
from search.cost import arch_cost
from search.space import SearchSpace, StageChoices, StemChoices
from search.supernet import Supernet


def _space() -> SearchSpace:
    return SearchSpace(
        "cost-tiny",
        (12, 16),
        StemChoices((8, 12)),
        (
            StageChoices((8, 16), 1, 2, (2.0, 3.0), (3, 5)),
            StageChoices((16, 24), 2, 1, (2.0, 4.0), (3,), (False, True), (Act.HSWISH,), skip=True),
        ),
        HeadSpec(conv_ch=16),
        num_classes=10,
    )


def _lut(ctx, space: SearchSpace, free_mparams: float, cap: float = 0.0) -> LUT:
    entries = {k: 0.01 + 1e-7 * k.to_layer().macs for k in keys_from_layers(space.candidate_layers())}
    corr = Correction(
        0.002,
        0.05,
        "test",
        weight_ms_per_mparam=3.0,
        free_mparams=free_mparams,
        spill_cap_mparams=cap,
        se_ms=0.003,  # the per-SE-layer boundary term too
    )
    return LUT(ctx, entries, 0.002, corr)


@pytest.mark.parametrize("capped", [False, True])
def test_search_predicted_equals_lut_predict_for_children_with_and_without_spill(ctx, capped):
    space = _space()
    gen = torch.Generator().manual_seed(0)
    # a knot in the middle of the space's model sizes: some children spill, some do not
    archs = [space.sample_arch(gen) for _ in range(40)]
    from search.arch import LayerKind, profile_arch

    cap = 0.0
    if capped:  # the spill counts only layers up to the median layer size: some layers of each child not
        sizes = sorted(la.params / 1e6 for a in archs for la in profile_arch(a).layers if la.params)
        cap = sizes[len(sizes) // 2]
    spill_w = [
        sum(la.params / 1e6 for la in profile_arch(a).layers if la.kind is not LayerKind.SKIP)
        if not capped
        else sum(la.params / 1e6 for la in profile_arch(a).layers if 0 < la.params / 1e6 <= cap)
        for a in archs
    ]
    mparams = sorted(spill_w)
    lut = _lut(ctx, space, free_mparams=mparams[len(mparams) // 2], cap=cap)
    if capped:  # the weights the spill prices are those of the layers under the cap, not all of them
        big = [a for a, w in zip(archs, spill_w, strict=True) if w < profile_arch(a).params / 1e6]
        assert big and lut.predict(big[0]).mparams == pytest.approx(spill_w[archs.index(big[0])], rel=1e-9)
    cost = LUTCost(lut)
    net = Supernet(space, cost)
    spilled = with_se = 0
    for seed in range(12):
        choices = net.sample_choices(torch.Generator().manual_seed(seed))
        arch = net.arch(choices)
        with_se += any(la.se for la in profile_arch(arch).layers if la.kind is LayerKind.IR)
        predicted = lut.predict(arch).latency_ms
        spilled += lut.predict(arch).spill_ms > 0
        assert net.child_cost(choices) == pytest.approx(predicted, rel=1e-5)
        assert arch_cost(cost, arch) == pytest.approx(predicted, rel=1e-9)
        onehot = {
            n: torch.nn.functional.one_hot(torch.tensor(c), len(net.alphas[n])).float()
            for n, c in choices.items()
        }
        assert float(net.expected_cost(onehot)) == pytest.approx(predicted, rel=1e-5)
    assert 0 < spilled < 12, "the knot should split the sampled children"
    assert 0 < with_se < 12, "some sampled children should have SE layers, some none"


def test_expected_spill_is_differentiable_in_the_architecture_weights(ctx):
    space = _space()
    lut = _lut(ctx, space, free_mparams=0.0)  # every model spills: the term has a gradient everywhere
    net = Supernet(space, LUTCost(lut))
    probs = {n: torch.softmax(net.alphas[n], -1) for n in net.alphas.names}
    with_spill = net.expected_cost(probs)
    with_spill.backward()
    grads = [net.alphas[n].grad for n in net.alphas.names]
    assert any(g is not None and float(g.abs().sum()) > 0 for g in grads)
    no_spill = Supernet(space, LUTCost(LUT(ctx, lut.entries, 0.002, Correction(0.002, 0.05, "no spill"))))
    probs2 = {n: torch.softmax(no_spill.alphas[n], -1) for n in no_spill.alphas.names}
    assert float(with_spill.detach()) > float(no_spill.expected_cost(probs2).detach())


def test_lutcost_counts_measured_and_predicted_layers(ctx):
    space = _space()
    lut = _lut(ctx, space, free_mparams=1.0)
    keys = list(lut.entries)
    half = dict(list(lut.entries.items())[: len(keys) // 2])
    rest = {k: v for k, v in lut.entries.items() if k not in half}
    mixed = LUT(ctx, half, 0.002, lut.correction, predicted=rest)
    cost = LUTCost(mixed)
    layers = [BlockKey.to_layer(k) for k in keys]
    assert cost.layer_costs(layers) == pytest.approx(LUTCost(lut).layer_costs(layers))
    assert cost.sources == {"lut": len(half), "predicted": len(rest)}
