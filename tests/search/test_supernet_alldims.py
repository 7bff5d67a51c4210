"""The supernet with EVERY choice dimension on: per-block widths (with width-changing skips = proj),
expansion (mobile_cv rounding), kernel, SE, activation, resolution and the head's hidden width."""

import copy
import math

import pytest
import torch

from search.arch import Act, BlockType, HeadSpec
from search.build import build_model
from search.cost import MacsCost, arch_cost
from search.space import SearchSpace, SpaceError, StageChoices, StemChoices
from search.supernet import Supernet


def all_dims_space(num_classes: int = 5) -> SearchSpace:
    R, H = Act.RELU, Act.HSWISH
    return SearchSpace(
        "all-dims",
        (12, 16),
        StemChoices((8, 16)),
        (
            StageChoices((8, 16), 1, 1, (1.0,), (3, 5), (False,), (R, H), shared_width=False),
            StageChoices(
                (16, 24), 3, 2, (1.7712, 4.5), (3, 5), (False, True), (R, H), skip=True, shared_width=False
            ),
        ),
        HeadSpec(conv_ch=32, hidden_ch=24, act=H),
        num_classes=num_classes,
        mid_rule="mobile_cv",
        head_hidden=(16, 24),
    )


def _choices(space, seed):
    """Random children; every third one has a width-changing skip (proj), every third an identity skip."""
    ch = space.sample_choices(torch.Generator().manual_seed(seed))
    if "s1.b1.op" in ch and seed % 3 < 2:
        ch["s1.b1.op"] = len(space.variable("s1.b1.op").values) - 1  # skip
        ch["s1.b1.w"] = ch["s1.b0.w"] if seed % 3 == 1 else 1 - ch["s1.b0.w"]
    return ch


@pytest.mark.parametrize("mode", ["sample", "mix"])
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_derived_child_equals_supernet_at_one_hot_with_every_dimension_on(mode, train):
    space = all_dims_space()
    torch.manual_seed(0)
    net = Supernet(space, resolution=mode)
    # non-trivial BN statistics and affine parameters, so eval mode checks the copied running stats
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    x = torch.randn(4, 3, 16, 16)
    kinds = set()
    seen_kernels, seen_acts = set(), set()
    for seed in range(12):
        ch = _choices(space, seed)
        arch = space.arch_from_choices(ch)
        kinds |= {b.type for b in arch.blocks}
        seen_kernels |= {b.kernel for b in arch.blocks if b.type is BlockType.IR}
        seen_acts |= {b.act for b in arch.blocks if b.type is BlockType.IR}
        sn = copy.deepcopy(net).train(train)
        dense = sn.load_into(build_model(arch), ch).train(train)
        with torch.no_grad():
            ref = sn(x, sn.alphas.one_hot(ch))
            out = dense(sn.child_input(x, arch.input_hw))
        assert torch.allclose(out, ref, atol=1e-4), (seed, mode, train, (out - ref).abs().max())
    assert {BlockType.IR, BlockType.SKIP, BlockType.PROJ} <= kinds
    assert seen_kernels == {3, 5} and seen_acts == {Act.RELU, Act.HSWISH}


def test_all_dims_weights_are_shared_across_op_variants():
    """Supernet weights stay close to the largest child's however many op variants there are."""
    space = all_dims_space()
    net = Supernet(space)
    n_super = sum(p.numel() for p in net.weight_parameters())
    n_child = sum(p.numel() for p in build_model(space.max_arch()).parameters())
    assert n_super < 1.3 * n_child, (n_super, n_child)


def test_all_dims_expected_cost_is_exact_at_one_hot_and_gradients_reach_every_logit():
    space = all_dims_space()
    net = Supernet(space, MacsCost())
    for seed in range(5):
        ch = _choices(space, seed)
        assert math.isclose(
            net.child_cost(ch), arch_cost(MacsCost(), space.arch_from_choices(ch)), rel_tol=1e-5
        )
    for mode in ("sample", "mix"):
        net = Supernet(space, MacsCost(), resolution=mode)
        w = net.alphas.sample(1.0, torch.Generator().manual_seed(0))
        loss = torch.nn.functional.cross_entropy(
            net(torch.randn(4, 3, 16, 16), w), torch.tensor([0, 1, 2, 3])
        )
        (loss + net.expected_cost(w) * 1e-3).backward()
        for name in net.alphas.names:
            g = net.alphas[name].grad
            if len(g) > 1:
                assert g.abs().sum() > 0, (mode, name)


def test_a_single_small_expansion_makes_a_supernet_equal_to_its_child():
    """e=1.1 rounds every hidden width back to the input width: no expansion conv in child or supernet."""
    space = SearchSpace(
        "e1.1", (16,), StemChoices((16,)), (StageChoices((16, 24), 2, 2, (1.1,), (3,)),), HeadSpec(), 4
    )
    net = Supernet(space).eval()
    x = torch.randn(2, 3, 16, 16)
    for seed in range(4):
        ch = _choices(space, seed)
        arch = space.arch_from_choices(ch)
        dense = net.load_into(build_model(arch), ch).eval()
        with torch.no_grad():
            assert torch.allclose(dense(x), net(x, net.alphas.one_hot(ch)), atol=1e-5)
    with pytest.raises(SpaceError, match="keeps an input width"):
        SearchSpace(
            "mixed", (16,), StemChoices((16,)), (StageChoices((16, 48), 1, 2, (1.1,), (3,)),), HeadSpec(), 4
        )


def test_mixed_activation_gradients_are_exact():
    from search.supernet import mixed_act

    z = torch.randn(2, 3, 4, 4, dtype=torch.float64) * 4
    w = torch.tensor([0.3, 0.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mixed_act, (z.requires_grad_(), w))
    ref = 0.3 * torch.relu(z) + 0.7 * torch.nn.functional.hardswish(z)
    assert torch.allclose(mixed_act(z, w), ref)


def test_channel_mask_before_the_activation_is_exact_for_binary_masks_only_for_hswish():
    """Documented deviation: the mask is folded into BN, i.e. applied BEFORE the activation. For 0/1
    masks (every one-hot child) and for ReLU that equals the paper's act(BN(z)) * M; hard-swish at a soft
    mask value differs (hswish(m a) != m hswish(a))."""
    from search.supernet import _ConvBn

    conv = _ConvBn(4, 4, 1, act=Act.HSWISH).eval()
    relu = _ConvBn(4, 4, 1, act=Act.RELU).eval()
    relu.load_state_dict(conv.state_dict())
    x = torch.randn(2, 4, 5, 5) * 3
    with torch.no_grad():
        for mask in (torch.tensor([1.0, 1.0, 0.0, 0.0]), torch.tensor([0.3, 0.7, 1.0, 0.0])):
            paper_relu = torch.relu(conv.bn(conv.conv(x))) * mask.view(1, -1, 1, 1)
            assert torch.allclose(relu(x, mask), paper_relu, atol=1e-6)
        binary = torch.tensor([1.0, 1.0, 0.0, 0.0])
        paper = torch.nn.functional.hardswish(conv.bn(conv.conv(x))) * binary.view(1, -1, 1, 1)
        assert torch.allclose(conv(x, binary), paper, atol=1e-6)
        soft = torch.tensor([0.5, 0.5, 0.5, 0.5])
        paper = torch.nn.functional.hardswish(conv.bn(conv.conv(x))) * soft.view(1, -1, 1, 1)
        assert not torch.allclose(conv(x, soft), paper, atol=1e-3)
