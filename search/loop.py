"""The search loop (plain PyTorch, DDP-compatible, seeded, resumable) and dense training of children.

Per step: one weight update on a ``train`` batch (Gumbel-sampled architecture, cross-entropy), then,
after ``warmup_epochs``, one architecture update on a held-out ``arch`` batch with its own Adam
optimizer and the cost-aware loss. The Gumbel temperature anneals per epoch. A checkpoint is written
atomically after every epoch; a killed search re-run with the same checkpoint path continues from the
last finished epoch and ends with the same result as an uninterrupted run.

Under ``torchrun`` (``torch.distributed`` initialised) the supernet is wrapped in DDP, every rank sees a
``DistributedSampler`` shard, every rank draws the same Gumbel sample (same seed), and rank 0 writes the
checkpoint. Nothing here touches global state: the global RNG is only used inside ``fork_rng``.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from search.arch import ArchSpec, arch_to_dict, encode_arch
from search.build import build_model
from search.cost import CostModel
from search.data import DataBundle, make_loader
from search.gumbel import TemperatureSchedule
from search.loss import SearchLoss
from search.space import SearchSpace
from search.supernet import Supernet

log = logging.getLogger(__name__)
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class SearchConfig:
    epochs: int = 20
    batch_size: int = 64
    weight_lr: float = 0.05
    weight_decay: float = 4e-5
    arch_lr: float = 0.01
    warmup_epochs: int = 2
    tau_initial: float = 5.0  # the paper's start
    tau_final: float = 0.2  # reached at the last epoch whatever the number of epochs
    tau_decay: float | None = (
        None  # a fixed per-epoch decay instead (FBNetV2's 0.956 never gets near one-hot)
    )
    # ref=None: resolved from the uniform supernet's expected cost (ref=1 zeroes the gradient of costs < 1)
    loss: SearchLoss = field(default_factory=lambda: SearchLoss("fbnet", ref=None))
    seed: int = 0
    num_samples: int = 256  # children sampled from the learned distribution when deriving for a target
    # the derived child's table cost must land within +-tolerance of the target: the measured latency adds
    # the LUT's own error (RMSPE 1-4% at real scale), so 0.05 left fresh-clone demo children +9% over a
    # target they were predicted +4% over; 0.02 leaves the rest of a +-5% budget to the LUT
    tolerance: float = 0.02
    resolution: str = "sample"  # supernet resolution mode: "sample" (one trunk a step) or "mix" (paper)
    bn_batches: int = 8  # batches to recalibrate the derived child's BatchNorm statistics on

    @property
    def tau(self) -> TemperatureSchedule:
        if self.tau_decay is not None:
            return TemperatureSchedule(self.tau_initial, self.tau_decay)
        return TemperatureSchedule.ending_at(self.tau_final, self.epochs, self.tau_initial)


@dataclass
class EpochStats:
    epoch: int
    tau: float
    train_loss: float
    train_acc: float
    arch_loss: float
    expected_cost: float
    argmax_cost: float
    argmax_arch: str
    arch_steps: int = 0  # architecture updates this epoch (one pass over the arch split once searching)


@dataclass
class SearchResult:
    arch: ArchSpec
    choices: dict[str, int]
    cost: float  # table cost of ``arch`` in ``unit``
    unit: str
    rule: str  # argmax / most-likely-within-tolerance / refined-to-target / closest-to-target
    argmax_choices: dict[str, int]
    argmax_cost: float
    probabilities: dict[str, list[float]]
    history: list[EpochStats]
    target: float | None = None
    supernet: Supernet | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {
            "arch": encode_arch(self.arch),
            "arch_spec": arch_to_dict(self.arch),
            "choices": self.choices,
            "cost": self.cost,
            "unit": self.unit,
            "target": self.target,
            "rule": self.rule,
            "argmax_arch": encode_arch(self.supernet.arch(self.argmax_choices)) if self.supernet else None,
            "argmax_cost": self.argmax_cost,
            "probabilities": self.probabilities,
            "history": [asdict(h) for h in self.history],
        }


def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _loader(ds: Dataset, batch_size: int, seed: int) -> DataLoader:
    """Shuffled, seeded; drops the last partial batch unless the split is smaller than one batch."""
    rank, world = _dist()
    drop_last = len(ds) >= batch_size * world  # type: ignore[arg-type]
    if len(ds) < world:  # type: ignore[arg-type]
        raise ValueError(f"a data split has {len(ds)} samples, fewer than the {world} ranks")  # type: ignore[arg-type]
    if world > 1:
        from torch.utils.data.distributed import DistributedSampler

        sampler: DistributedSampler = DistributedSampler(
            ds, world, rank, shuffle=True, seed=seed, drop_last=True
        )
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, drop_last=drop_last)
    return make_loader(ds, batch_size, shuffle=True, seed=seed, drop_last=drop_last)


def _cycle(make: Callable[[int], DataLoader], seed: int) -> Iterator:
    k = 0
    while True:
        loader = make(seed + 7919 * k)
        if len(loader) == 0:
            raise ValueError("the arch split is empty; use more data")
        yield from loader
        k += 1


def _fit_input(x: Tensor, hw: int) -> Tensor:
    if x.shape[-1] == hw:
        return x
    return nn.functional.interpolate(x, size=(hw, hw), mode="bilinear", align_corners=False, antialias=True)


def build_supernet(
    space: SearchSpace, cost_model: CostModel | None, seed: int, resolution: str = "sample"
) -> Supernet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Supernet(space, cost_model, resolution=resolution)  # type: ignore[arg-type]


def arch_step_positions(train_steps: int, arch_steps: int) -> set[int]:
    """Which of ``train_steps`` weight steps are followed by an arch step: exactly ``arch_steps`` of them
    (one pass over the arch split), spread evenly, the last one at the end of the epoch."""
    n = min(arch_steps, train_steps)
    return {((i + 1) * train_steps) // n - 1 for i in range(n)} if n > 0 else set()


def run_search(
    space: SearchSpace,
    data: DataBundle,
    cost_model: CostModel | None = None,
    config: SearchConfig | None = None,
    checkpoint: str | Path | None = None,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> SearchResult:
    """Search ``space`` on ``data`` under ``cost_model``; resumes from ``checkpoint`` if it exists."""
    cfg = config or SearchConfig()
    if data.num_classes != space.num_classes or data.channels != space.in_ch:
        space = space.with_num_classes(data.num_classes, data.channels)
    net = build_supernet(space, cost_model, cfg.seed, cfg.resolution)
    if cfg.loss.kind == "fbnet" and cfg.loss.ref is None:
        with torch.no_grad():
            uniform = {k: torch.full_like(v, 1 / len(v)) for k, v in net.alphas.probabilities().items()}
            ref = SearchLoss.fbnet_ref_for(float(net.expected_cost(uniform)))
        cfg = replace(cfg, loss=replace(cfg.loss, ref=ref))
    rank, world = _dist()
    model: nn.Module = net
    if world > 1:
        model = nn.parallel.DistributedDataParallel(net)
    w_opt = torch.optim.SGD(
        net.weight_parameters(), lr=cfg.weight_lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay
    )
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=cfg.arch_lr, betas=(0.9, 0.999), weight_decay=0.0)
    steps_per_epoch = len(_loader(data.split("train"), cfg.batch_size, 0))
    if steps_per_epoch == 0:
        raise ValueError(f"the train split of {data.name} is empty; use more data")
    sched = torch.optim.lr_scheduler.LambdaLR(
        w_opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / (cfg.epochs * steps_per_epoch))))
    )
    gumbel = torch.Generator().manual_seed(cfg.seed + 1)
    history: list[EpochStats] = []
    start = 0
    fingerprint = _fingerprint(space, data, net, cfg)
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if state.get("fingerprint") != fingerprint:
            raise ValueError(
                f"checkpoint {ckpt} belongs to a different search (space, data, cost or settings "
                "changed); delete it or pass another --out"
            )
        net.load_state_dict(state["supernet"])
        w_opt.load_state_dict(state["w_opt"])
        a_opt.load_state_dict(state["a_opt"])
        sched.load_state_dict(state["sched"])
        gumbel.set_state(state["gumbel"])
        history = [EpochStats(**h) for h in state["history"]]
        start = state["epoch"]
        log.info("resuming search from %s at epoch %d/%d", ckpt, start, cfg.epochs)
    train_ds, arch_ds = data.split("train"), data.split("arch")
    ce = nn.CrossEntropyLoss()
    res = max(space.resolutions)
    for epoch in range(start, cfg.epochs):
        tau = cfg.tau.at(epoch)
        search_arch = epoch >= cfg.warmup_epochs
        net.train()
        arch_batches = _cycle(
            lambda s: _loader(arch_ds, cfg.batch_size, s), cfg.seed * 1_000_003 + 2 * epoch + 1
        )
        # FBNet: one pass over the held-out arch split per epoch, its steps spread evenly between weight
        # steps (when the arch split has more batches than the train split, one arch step per weight step)
        arch_at = arch_step_positions(steps_per_epoch, len(_loader(arch_ds, cfg.batch_size, 0)))
        tot = {"loss": 0.0, "correct": 0, "n": 0, "arch": 0.0, "cost": 0.0, "k": 0}
        for step, (x, y) in enumerate(_loader(train_ds, cfg.batch_size, cfg.seed * 1_000_003 + 2 * epoch)):
            w = net.alphas.sample(tau, gumbel)
            out = model(_fit_input(x, res), w)
            loss = ce(out, y)
            w_opt.zero_grad(set_to_none=True)
            loss.backward()
            w_opt.step()
            sched.step()
            tot["loss"] += loss.item() * len(y)
            tot["correct"] += int((out.argmax(1) == y).sum())
            tot["n"] += len(y)
            if search_arch and step in arch_at:
                xa, ya = next(arch_batches)
                w = net.alphas.sample(tau, gumbel)
                cost = net.expected_cost(w)
                a_loss = cfg.loss(ce(model(_fit_input(xa, res), w), ya), cost)
                a_opt.zero_grad(set_to_none=True)
                w_opt.zero_grad(set_to_none=True)
                a_loss.backward()
                a_opt.step()
                tot["arch"] += a_loss.item()
                tot["cost"] += cost.item()
                tot["k"] += 1
            if on_step is not None:
                on_step(epoch * steps_per_epoch + step + 1, cfg.epochs * steps_per_epoch)
        with torch.no_grad():
            p = net.alphas.probabilities()
            am = net.derive()
        stats = EpochStats(
            epoch + 1,
            tau,
            tot["loss"] / max(1, tot["n"]),
            tot["correct"] / max(1, tot["n"]),
            tot["arch"] / max(1, tot["k"]),
            float(net.expected_cost(p).detach()),
            net.child_cost(am),
            encode_arch(net.arch(am)),
            int(tot["k"]),
        )
        history.append(stats)
        if on_epoch is not None:
            on_epoch(stats)
        if ckpt is not None and rank == 0:
            _save(
                ckpt,
                {
                    "version": CHECKPOINT_VERSION,
                    "fingerprint": fingerprint,
                    "epoch": epoch + 1,
                    "supernet": net.state_dict(),
                    "w_opt": w_opt.state_dict(),
                    "a_opt": a_opt.state_dict(),
                    "sched": sched.state_dict(),
                    "gumbel": gumbel.get_state(),
                    "history": [asdict(h) for h in history],
                },
            )
    return derive_result(net, cfg, history)


def derive_result(net: Supernet, cfg: SearchConfig, history: list[EpochStats]) -> SearchResult:
    """argmax child; with a target, the most likely sampled child within +-tolerance of it; else the
    most likely child that :func:`refine_to_target` reaches from the argmax or the closest sample;
    else the closest child seen."""
    am = net.derive()
    am_cost = net.child_cost(am)
    choices, cost, rule = am, am_cost, "argmax"
    target = cfg.loss.target if cfg.loss.kind == "target" else None
    if target is not None and abs(am_cost / target - 1) > cfg.tolerance:
        gen = torch.Generator().manual_seed(cfg.seed + 2)
        cands = [am] + [net.sample_choices(gen) for _ in range(cfg.num_samples)]
        scored = rank_candidates(net, cands)
        inside = [s for s in scored if abs(s[1] / target - 1) <= cfg.tolerance]
        if inside:
            choices, cost, _ = max(inside, key=lambda s: s[2])
            rule = "most-likely-within-tolerance"
        else:
            closest = min(scored, key=lambda s: (abs(s[1] / target - 1), -s[2]))
            tried = [refine_to_target(net, start, target, cfg.tolerance) for start in (am, closest[0])]
            reached = [t for t in tried if abs(t[1] / target - 1) <= cfg.tolerance]
            if reached:
                choices, cost, _ = max(reached, key=lambda t: t[2])
                rule = "refined-to-target"
            else:
                choices, cost, _ = min([closest, *tried], key=lambda t: (abs(t[1] / target - 1), -t[2]))
                rule = "closest-to-target"
    with torch.no_grad():
        probs = {k: [round(float(x), 4) for x in v] for k, v in net.alphas.probabilities().items()}
    return SearchResult(
        net.arch(choices), dict(choices), cost, net.cost.unit, rule, am, am_cost, probs, history, target, net
    )


def refine_to_target(
    net: Supernet, start: Mapping[str, int], target: float, tolerance: float, max_steps: int = 12
) -> tuple[dict[str, int], float, float]:
    """``(choices, cost, log-probability)`` of a child within ``tolerance`` of ``target`` one choice at a
    time from ``start``: each step takes, among the children one variable away, the most likely inside
    the band if there is one (and stops), else the one closest to the target (ties: the likelier); it
    stops where no neighbour gets closer or after ``max_steps``. For a learned distribution so peaked
    that its samples are all a few children, none of them within a tight band of the target."""
    cur = dict(start)
    cur_cost, cur_lp = net.child_cost(cur), _log_prob(net, cur)
    for _ in range(max_steps):
        if abs(cur_cost / target - 1) <= tolerance:
            break
        neighbours = []
        for n in net.alphas.names:
            for v in range(len(net.alphas[n])):
                if v != cur[n]:
                    neighbours.append({**cur, n: v})
        scored = rank_candidates(net, neighbours)
        inside = [s for s in scored if abs(s[1] / target - 1) <= tolerance]
        if inside:
            return max(inside, key=lambda s: s[2])
        best = min(scored, key=lambda s: (abs(s[1] / target - 1), -s[2]), default=None)
        if best is None or abs(best[1] / target - 1) >= abs(cur_cost / target - 1):
            break
        cur, cur_cost, cur_lp = best
    return cur, cur_cost, cur_lp


def rank_candidates(net: Supernet, cands: list[dict[str, int]]) -> list[tuple[dict[str, int], float, float]]:
    """``(choices, cost, log-probability of the ARCH)`` per distinct child, in first-seen order.

    Choices that build the same :class:`ArchSpec` (e.g. differing only in the expansion of a skipped
    block) are one candidate, and its probability counts only the variables the arch depends on.
    """
    seen: dict[ArchSpec, None] = {}
    out = []
    for c in cands:
        arch = net.arch(c)
        if arch in seen:
            continue
        seen[arch] = None
        out.append((c, net.child_cost(c), _log_prob(net, c)))
    return out


def _relevant(net: Supernet, choices: Mapping[str, int]) -> list[str]:
    """The variables that change the child: not the expansion of a block whose op is skip."""
    names = []
    for n in net.alphas.names:
        if n.endswith(".e"):
            op = net.space.variable(n[:-2] + ".op").values[choices[n[:-2] + ".op"]]
            if op.skip:
                continue
        names.append(n)
    return names


def _log_prob(net: Supernet, choices: Mapping[str, int]) -> float:
    with torch.no_grad():
        return sum(float(torch.log_softmax(net.alphas[n], -1)[choices[n]]) for n in _relevant(net, choices))


def recalibrate_bn(
    model: nn.Module, batches: Iterator[Tensor] | list[Tensor], input_hw: int | None = None
) -> nn.Module:
    """Reset every BatchNorm's running statistics and re-estimate them (cumulative average) on ``batches``.

    The supernet's statistics were accumulated over soft masks, mixed ops and several resolutions; the
    derived child's own statistics differ, so they are re-estimated before the child is evaluated or
    exported. Returns ``model`` in eval mode.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the calibration batches
    model.train()
    n = 0
    with torch.no_grad():
        for x in batches:
            model(_fit_input(x, input_hw) if input_hw else x)
            n += 1
    for m, mom in zip(bns, saved, strict=True):
        m.momentum = mom
    if bns and n == 0:
        raise ValueError("BatchNorm recalibration needs at least one batch")
    return model.eval()


def derive_model(
    net: Supernet,
    choices: Mapping[str, int],
    data: DataBundle,
    batches: int = 8,
    batch_size: int = 32,
    seed: int = 0,
) -> nn.Module:
    """The dense child ``choices`` with the supernet's weights and BatchNorm recalibrated on ``train``
    data."""
    arch = net.arch(choices)
    model = net.load_into(build_model(arch), choices)
    loader = make_loader(data.split("train"), batch_size, shuffle=True, seed=seed)
    xs = [x for _, (x, _y) in zip(range(batches), loader, strict=False)]
    return recalibrate_bn(model, xs, arch.input_hw)


def _fingerprint(space: SearchSpace, data: DataBundle, net: Supernet, cfg: SearchConfig) -> str:
    tables = [round(float(t.sum()), 6) for t in net.cost.tables()]
    return json.dumps(
        {
            "space": space.name,
            "space_hash": repr(space.summary()),
            "data": data.name,
            "n": len(data.split("train")),  # type: ignore[arg-type]
            "cfg": repr(cfg),
            "tables": tables,
        },
        sort_keys=True,
    )


def _save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


# -- dense training ------------------------------------------------------------------------------
@dataclass
class TrainResult:
    model: nn.Module
    val_acc: float
    test_acc: float
    train_loss: list[float]


def evaluate(model: nn.Module, ds: Dataset, input_hw: int, batch_size: int = 256) -> float:
    model.eval()
    correct = n = 0
    with torch.no_grad():
        for x, y in make_loader(ds, batch_size):
            correct += int((model(_fit_input(x, input_hw)).argmax(1) == y).sum())
            n += len(y)
    return correct / max(1, n)


def train_dense(
    arch: ArchSpec,
    data: DataBundle,
    epochs: int = 30,
    seed: int = 0,
    *,
    lr: float = 0.05,
    batch_size: int = 64,
    weight_decay: float = 5e-5,
    init: Supernet | None = None,
    init_choices: Mapping[str, int] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train ``build_model(arch)`` on ``trainval`` (SGD, cosine), report val and test accuracy.

    With ``init`` (a supernet) and ``init_choices``, start from the supernet's sliced weights (fine-tune)
    instead of a fresh initialisation. Inputs are resized to ``arch.input_hw`` when the data differs.
    """
    if arch.num_classes != data.num_classes or arch.in_ch != data.channels:
        raise ValueError(
            f"arch has {arch.num_classes} classes / {arch.in_ch} input channels but the data has "
            f"{data.num_classes} / {data.channels}; build the arch for this data"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(arch)
    if init is not None:
        if init_choices is None:
            raise ValueError("fine-tuning from a supernet needs the child's choices")
        init.load_into(model, init_choices)
        xs = [
            x
            for _, (x, _y) in zip(
                range(8), make_loader(data.split("train"), batch_size, shuffle=True, seed=seed), strict=False
            )
        ]
        recalibrate_bn(model, xs, arch.input_hw)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    train_ds = data.split("trainval")
    steps = max(1, epochs * (len(train_ds) // batch_size))  # type: ignore[arg-type]
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps)))
    )
    ce = nn.CrossEntropyLoss()
    losses = []
    for epoch in range(epochs):
        model.train()
        total = n = 0.0
        for x, y in make_loader(
            train_ds, batch_size, shuffle=True, seed=seed * 1_000_003 + epoch, drop_last=True
        ):
            loss = ce(model(_fit_input(x, arch.input_hw)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(y)
            n += len(y)
        losses.append(total / max(1, n))
        if on_epoch is not None:
            on_epoch(epoch + 1, losses[-1])
    return TrainResult(
        model.eval(),
        evaluate(model, data.split("val"), arch.input_hw),
        evaluate(model, data.split("test"), arch.input_hw),
        losses,
    )
