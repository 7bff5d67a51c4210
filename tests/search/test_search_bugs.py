"""Regression tests for the issue-12 bugs (each failed on the code before its fix)."""

from dataclasses import replace

import pytest
import torch

from search.arch import Act, HeadSpec
from search.cost import MacsCost
from search.gumbel import TemperatureSchedule
from search.loop import SearchConfig, run_search
from search.loss import SearchLoss
from search.space import SearchSpace, StageChoices, StemChoices
from search.supernet import Supernet


def test_default_config_loss_has_a_latency_gradient_below_one_unit():
    """SearchConfig() used the fbnet loss with ref=1.0: any cost < 1 clamped to a zero gradient."""
    loss = SearchConfig().loss
    if loss.ref is None:  # what run_search does: ref from the uniform supernet's expected cost
        loss = replace(loss, ref=SearchLoss.fbnet_ref_for(0.3))
    cost = torch.tensor(0.3, requires_grad=True)
    loss(torch.tensor(1.0), cost).backward()
    assert cost.grad is not None and float(cost.grad) > 0


@pytest.mark.parametrize("epochs", [3, 8, 20, 120])
def test_temperature_ends_near_one_hot_whatever_the_number_of_epochs(epochs):
    tau = SearchConfig(epochs=epochs).tau
    assert tau.at(0) == 5.0
    assert 0.1 <= tau.at(epochs - 1) <= 0.5
    assert all(tau.at(e + 1) < tau.at(e) for e in range(epochs - 1))
    end = TemperatureSchedule.ending_at(0.3, epochs)  # type: ignore[attr-defined]
    assert abs(end.at(epochs - 1) - 0.3) < 1e-9


def _skip_space():
    return SearchSpace(
        "skippy",
        (16,),
        StemChoices((8,)),
        (StageChoices((8, 16), 2, 2, (2.0, 4.0), (3,), (False,), (Act.RELU,), skip=True),),
        HeadSpec(),
        3,
    )


def test_ranking_ignores_the_expansion_of_skipped_blocks_and_dedups_children():
    from search.loop import rank_candidates

    net = Supernet(_skip_space())
    with torch.no_grad():
        net.alphas["s0.b1.e"][:] = torch.tensor([5.0, -5.0])  # strongly prefers e=2 for block 1
    base = {"res": 0, "stem.w": 0, "s0.w": 1, "s0.b0.e": 0, "s0.b0.op": 0, "s0.b1.op": 1}
    a, b = base | {"s0.b1.e": 0}, base | {"s0.b1.e": 1}  # block 1 skipped: e does not matter
    assert net.arch(a) == net.arch(b)
    ranked = rank_candidates(net, [a, b, a])
    assert len(ranked) == 1
    scores_b = rank_candidates(net, [b])[0][2]
    assert ranked[0][2] == pytest.approx(scores_b)


@pytest.mark.parametrize(("train", "arch"), [(30, 8), (15, 4), (7, 2), (10, 4), (5, 5), (4, 9)])
def test_one_pass_over_the_arch_split_per_epoch(train, arch):
    from search.loop import arch_step_positions

    pos = arch_step_positions(train, arch)
    assert len(pos) == min(train, arch) and max(pos) == train - 1 and min(pos) >= 0


def test_search_makes_one_arch_pass_per_epoch(tiny_space, tiny_data):
    cfg = SearchConfig(
        epochs=2, batch_size=32, warmup_epochs=1, seed=1, loss=SearchLoss("target", target=0.05)
    )
    res = run_search(tiny_space, tiny_data, MacsCost(), cfg)
    n_arch_batches = len(tiny_data.split("arch")) // 32  # 64 // 32
    assert [h.arch_steps for h in res.history] == [0, n_arch_batches]


def test_bn_is_recalibrated_on_the_child_not_copied_from_the_supernet(tiny_space):
    from search.build import build_model
    from search.loop import recalibrate_bn

    net = Supernet(tiny_space)
    with torch.no_grad():  # statistics from a "mixed" supernet: far from the child's
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.fill_(3.0)
                m.running_var.fill_(9.0)
    ch = tiny_space.sample_choices(torch.Generator().manual_seed(0))
    arch = tiny_space.arch_from_choices(ch)
    x = torch.randn(64, 3, arch.input_hw, arch.input_hw)
    model = recalibrate_bn(net.load_into(build_model(arch), ch), [x])
    with torch.no_grad():
        eval_out = model.eval()(x)
        train_out = model.train()(x)  # normalised with the batch's own statistics
    assert torch.allclose(eval_out, train_out, atol=2e-2), (eval_out - train_out).abs().max()


def test_lut_collect_space_uses_the_users_number_of_classes():
    """`lut collect --space` measured the preset's head (1000 classes for fbnetv2-f): a search on 10-class
    data then missed every head entry. --num-classes collects the head the search will ask for."""
    from typer.testing import CliRunner

    from phonenas.cli.lut import _keys_for
    from phonenas.cli.main import app
    from search.arch import LayerKind

    heads = [k for k in _keys_for("digits", [], 3) if k.kind is LayerKind.HEAD]
    assert heads and all(k.out_ch == 3 for k in heads)
    result = CliRunner().invoke(app, ["lut", "collect", "--help"], terminal_width=200)
    assert "--num-classes" in result.output
