import pytest
import torch

from search.cost import MacsCost, arch_cost
from search.loop import SearchConfig, run_search, train_dense
from search.loss import LossError, SearchLoss


class Killed(Exception):
    pass


def _cfg(**kw):
    base = dict(
        epochs=3,
        batch_size=32,
        warmup_epochs=1,
        seed=7,
        num_samples=32,
        loss=SearchLoss("target", target=0.05, lam=2.0),
    )
    base.update(kw)
    return SearchConfig(**base)


@pytest.mark.slow
def test_resume_after_kill_gives_the_same_result(tiny_space, tiny_data, tmp_path):
    full = run_search(tiny_space, tiny_data, MacsCost(), _cfg(), checkpoint=tmp_path / "a.pt")

    def kill(step, total):
        if step == 6:  # in the middle of epoch 2 (4 steps per epoch): epoch 1 is checkpointed
            raise Killed

    ckpt = tmp_path / "b.pt"
    with pytest.raises(Killed):
        run_search(tiny_space, tiny_data, MacsCost(), _cfg(), checkpoint=ckpt, on_step=kill)
    assert torch.load(ckpt, weights_only=False)["epoch"] == 1
    resumed = run_search(tiny_space, tiny_data, MacsCost(), _cfg(), checkpoint=ckpt)
    assert resumed.choices == full.choices
    assert resumed.probabilities == full.probabilities
    assert [h.train_loss for h in resumed.history] == [h.train_loss for h in full.history]
    for name in full.supernet.alphas.names:
        assert torch.equal(full.supernet.alphas[name], resumed.supernet.alphas[name])
    # a finished checkpoint re-run does no work and returns the same result
    again = run_search(tiny_space, tiny_data, MacsCost(), _cfg(), checkpoint=ckpt)
    assert again.choices == full.choices


def test_checkpoint_of_another_search_is_refused(tiny_space, tiny_data, tmp_path):
    ckpt = tmp_path / "c.pt"
    run_search(tiny_space, tiny_data, MacsCost(), _cfg(epochs=1), checkpoint=ckpt)
    with pytest.raises(ValueError, match="different search"):
        run_search(tiny_space, tiny_data, MacsCost(), _cfg(epochs=1, seed=8), checkpoint=ckpt)


@pytest.mark.slow
def test_target_search_lands_within_tolerance_and_cost_is_exact(tiny_space, tiny_data):
    lo = min(
        arch_cost(MacsCost(), tiny_space.sample_arch(torch.Generator().manual_seed(s))) for s in range(50)
    )
    target = lo * 1.6
    r = run_search(tiny_space, tiny_data, MacsCost(), _cfg(loss=SearchLoss("target", target=target)))
    assert abs(r.cost / target - 1) <= 0.02
    assert abs(arch_cost(MacsCost(), r.arch) - r.cost) < 1e-6
    assert r.rule in ("argmax", "most-likely-within-tolerance", "refined-to-target")
    assert len(r.history) == 3 and r.history[-1].tau < r.history[0].tau


def test_refine_to_target_reaches_a_tight_band_one_choice_at_a_time(tiny_space):
    """From a child far from the target, single-choice moves reach +-1% when some child lies there, each
    step a child one variable away; a target no child reaches ends at the closest reachable one."""
    from search.loop import _log_prob, refine_to_target
    from search.supernet import Supernet

    net = Supernet(tiny_space, MacsCost())
    gen = torch.Generator().manual_seed(3)
    costs = sorted({net.child_cost(c): c for c in (net.sample_choices(gen) for _ in range(200))}.items())
    (lo, start), (_, far) = costs[0], costs[-1]
    target = costs[len(costs) // 2][0]  # a cost some child has exactly
    choices, cost, lp = refine_to_target(net, start, target, 0.01)
    assert abs(cost / target - 1) <= 0.01 and cost == net.child_cost(choices)
    assert lp == pytest.approx(_log_prob(net, choices))
    assert refine_to_target(net, start, lo, 0.01)[0] == start  # already there: unchanged
    # below every child: it walks down as far as single moves go, never past a closer child
    low, low_cost, _ = refine_to_target(net, far, lo * 0.01, 0.01, max_steps=50)
    assert low_cost <= lo and abs(low_cost / (lo * 0.01) - 1) > 0.01
    assert refine_to_target(net, far, lo, 0.01, max_steps=0)[0] == far  # no step allowed


def test_search_moves_arch_logits_towards_cheaper_children(tiny_space, tiny_data):
    # an unreachable target: the penalty dominates, so expected cost must fall from its uniform start
    r = run_search(
        tiny_space,
        tiny_data,
        MacsCost(),
        _cfg(epochs=2, warmup_epochs=0, arch_lr=0.1, loss=SearchLoss("target", target=1e-3, lam=5.0)),
    )
    uniform = r.supernet.cost(
        {k: torch.full_like(v, 1 / len(v)) for k, v in r.supernet.alphas.probabilities().items()}
    )
    assert r.history[-1].expected_cost < float(uniform)


def test_losses():
    ce, lo, hi = torch.tensor(1.0), torch.tensor(4.0), torch.tensor(6.0)
    t = SearchLoss("target", target=5.0, lam=2.0)
    assert float(t(ce, lo)) == 1.0
    assert abs(float(t(ce, hi)) - (1.0 + 2.0 * 0.2)) < 1e-6
    f = SearchLoss("fbnet", alpha=0.2, beta=0.6)
    assert abs(float(f(ce, torch.tensor(20.0))) - 0.2 * torch.log(torch.tensor(20.0)) ** 0.6) < 1e-6
    cost = torch.tensor(3.0, requires_grad=True)
    f(ce, cost).backward()
    assert cost.grad > 0
    with pytest.raises(LossError):
        SearchLoss("target")
    with pytest.raises(LossError):
        SearchLoss("nope")


@pytest.mark.slow
def test_train_dense_learns_and_fine_tune_from_supernet(tiny_space, tiny_data):
    arch = tiny_space.max_arch()
    r = train_dense(arch, tiny_data, epochs=30, seed=0)
    assert r.val_acc > 0.5 and len(r.train_loss) == 30
    assert r.train_loss[-1] < r.train_loss[0]
    s = run_search(tiny_space, tiny_data, MacsCost(), _cfg(epochs=1))
    ft = train_dense(s.arch, tiny_data, epochs=30, seed=0, init=s.supernet, init_choices=s.choices)
    assert ft.test_acc > 0.5  # 10 classes: chance is 0.1; measured 0.83-0.86 (seeds 0, 1)


def test_fbnet_loss_with_auto_ref_trains_towards_cheaper_archs(tiny_space, tiny_data):
    r = run_search(
        tiny_space,
        tiny_data,
        MacsCost(),
        _cfg(epochs=2, warmup_epochs=0, arch_lr=0.1, loss=SearchLoss("fbnet", ref=None, beta=2.0)),
    )
    probs = r.supernet.alphas.probabilities()
    uniform = {k: torch.full_like(v, 1 / len(v)) for k, v in probs.items()}
    assert r.history[-1].expected_cost < float(r.supernet.cost(uniform))
