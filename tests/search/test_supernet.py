import itertools
import math
import zlib

import pytest
import torch

from search.arch import LayerShape
from search.build import build_model
from search.cost import MacsCost, arch_cost
from search.gumbel import ArchLogits, TemperatureSchedule, gumbel_softmax
from search.supernet import MaskedIR, Supernet, intersperse, prefix_masks, subsample


class HashCost:
    """A deliberately non-bilinear 'LUT': an arbitrary positive number per distinct layer."""

    unit = "ms"

    def layer_costs(self, layers):
        out = []
        for x in layers:
            key = repr(
                (
                    x.kind.value,
                    x.in_ch,
                    x.mid_ch,
                    x.out_ch,
                    x.in_hw,
                    x.kernel,
                    x.stride,
                    x.se,
                    x.act.value,
                    x.hidden_ch,
                )
            )
            g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
            out.append(float(torch.rand(1, generator=g)) + 0.1)
        return out

    def model_overhead(self):
        return 0.25


def _children(space):
    names = [v.name for v in space.variables()]
    sizes = [len(v.values) for v in space.variables()]
    for idx in itertools.product(*(range(n) for n in sizes)):
        yield dict(zip(names, idx, strict=True))


def test_prefix_masks_keep_first_channels():
    m = prefix_masks((2, 4), 5)
    assert m.tolist() == [[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]]


def test_width_mask_is_gumbel_weighted_sum_of_prefix_masks(tiny_space):
    net = Supernet(tiny_space)
    w = net.alphas.sample(1.0, torch.Generator().manual_seed(0))
    masks = net.width_masks(w)
    g = w["s1.w"]
    expected = g[0] * torch.tensor([1.0] * 16 + [0.0] * 8) + g[1] * torch.ones(24)
    assert torch.allclose(masks["s1.w"], expected)
    # with a one-hot choice, the stem output keeps exactly the first c_i channels
    oh = net.alphas.one_hot(dict.fromkeys(net.alphas.names, 0))
    h = net.stem(torch.randn(2, 3, 16, 16), net.width_masks(oh)["stem.w"])
    assert h[:, 8:].abs().sum() == 0 and h[:, :8].abs().sum() > 0


def test_temperature_schedule_matches_paper_default():
    s = TemperatureSchedule()
    assert s.at(0) == 5.0
    assert math.isclose(s.at(10), 5.0 * 0.956**10)
    assert all(s.at(e + 1) < s.at(e) for e in range(50))
    with pytest.raises(ValueError):
        TemperatureSchedule(decay=1.5)


def test_gumbel_softmax_is_seeded_and_follows_the_softmax():
    logits = torch.tensor([0.0, 1.0, 2.0])
    a = gumbel_softmax(logits, 1.0, torch.Generator().manual_seed(3))
    b = gumbel_softmax(logits, 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and math.isclose(float(a.sum()), 1.0, rel_tol=1e-6)
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(3)
    for _ in range(4000):
        counts[int(gumbel_softmax(logits, 0.5, gen).argmax())] += 1
    assert torch.allclose(counts / 4000, torch.softmax(logits, 0), atol=0.03)  # Gumbel-max property
    cold = gumbel_softmax(logits, 0.01, gen)
    assert float(cold.max()) > 0.99


@pytest.mark.parametrize("cost_model", [MacsCost(), HashCost()], ids=["macs", "nonbilinear-lut"])
def test_expected_cost_equals_brute_force_enumeration(tiny_space, cost_model):
    net = Supernet(tiny_space, cost_model)
    w = net.alphas.sample(2.0, torch.Generator().manual_seed(1))
    brute = 0.0
    for ch in _children(tiny_space):
        p = math.prod(float(w[n][i].detach()) for n, i in ch.items())
        brute += p * arch_cost(cost_model, tiny_space.arch_from_choices(ch))
    assert math.isclose(float(net.expected_cost(w)), brute, rel_tol=1e-5)


def test_child_cost_matches_arch_cost_and_macs_of_the_dense_model(tiny_space):
    net = Supernet(tiny_space, HashCost())
    for seed in range(5):
        ch = tiny_space.sample_choices(torch.Generator().manual_seed(seed))
        arch = tiny_space.arch_from_choices(ch)
        assert math.isclose(net.child_cost(ch), arch_cost(HashCost(), arch), rel_tol=1e-5)
        assert math.isclose(
            float(net.macs(net.alphas.one_hot(ch))), arch_cost(MacsCost(), arch), rel_tol=1e-5
        )


def test_gradients_reach_every_arch_logit(tiny_space):
    net = Supernet(tiny_space, HashCost())
    w = net.alphas.sample(1.0, torch.Generator().manual_seed(0))
    x = torch.randn(4, 3, 16, 16)
    loss = torch.nn.functional.cross_entropy(net(x, w), torch.tensor([0, 1, 2, 3])) + net.expected_cost(w)
    loss.backward()
    for name in net.alphas.names:
        g = net.alphas[name].grad
        if len(g) > 1:
            assert g.abs().sum() > 0, name


def test_derived_dense_model_equals_supernet_at_one_hot_and_has_no_masks(tiny_space):
    net = Supernet(tiny_space).eval()
    x = torch.randn(3, 3, 16, 16)
    for seed in range(6):
        ch = tiny_space.sample_choices(torch.Generator().manual_seed(seed))
        arch = tiny_space.arch_from_choices(ch)
        dense = net.load_into(build_model(arch), ch).eval()
        assert not any(isinstance(m, MaskedIR) for m in dense.modules())
        with torch.no_grad():
            ref = net(x, net.alphas.one_hot(ch))
            out = dense(net.child_input(x, arch.input_hw))
        assert out.shape == ref.shape == (3, 10)
        assert torch.allclose(out, ref, atol=1e-5), (seed, (out - ref).abs().max())


def test_subsample_and_intersperse_are_inverse_on_the_sampled_grid():
    x = torch.randn(1, 2, 16, 16)
    s = subsample(x, 12)
    z = intersperse(s, 16)
    assert torch.equal(subsample(z, 12), s)
    assert int((z != 0).sum()) == 2 * 12 * 12


def test_arch_logits_argmax_and_one_hot(tiny_space):
    a = ArchLogits(tiny_space)
    with torch.no_grad():
        a["res"][1] = 3.0
    assert a.argmax()["res"] == 1
    assert a.one_hot(a.argmax())["res"].tolist() == [0.0, 1.0]


def test_a_cost_model_returning_the_wrong_number_of_costs_is_an_error(tiny_space):
    class Broken(HashCost):
        def layer_costs(self, layers: list[LayerShape]):
            return [1.0]

    with pytest.raises(ValueError, match="returned 1 costs"):
        Supernet(tiny_space, Broken())
