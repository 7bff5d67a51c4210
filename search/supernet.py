"""DMaskingNAS / FBNetV2 masked supernet: one widest conv per op, channel masks, resolution mixing.

Channel search (Wan et al. 2020, Sec. 3.1): each conv is built once at its widest width; its output is
multiplied by ``M = sum_i g_i 1_i`` where ``g`` are the Gumbel-softmax weights over the width choices and
``1_i`` keeps the first ``c_i`` channels. Memory and time therefore stay those of the largest child
however many width choices there are. The mask is applied to the BN output by folding it into BN's
affine parameters, so it adds no activation tensor of its own. The hidden (expansion) width ``make_divisible(e * c_in)`` depends
on two variables, so its mask is ``sum_{i,e} g_in(i) g_e(e) 1_{mid(i,e)}`` (and likewise the SE width).

Op search (kernel, SE, activation, skip) keeps one branch per op, weighted by the op's Gumbel weights,
as in FBNet; each branch is itself width-masked.

Resolution search (Sec. 3.2): the input is nearest-neighbour subsampled to every resolution choice,
passed through the shared trunk (stem, blocks, head conv), and the output is padded back to the
full-resolution map with zeros interspersed; the Gumbel-weighted sum is pooled. The padded map is scaled
by the area ratio, so the global pool equals each resolution's own mean exactly as in the child.

A child is read back with :meth:`Supernet.derive` (argmax) or :meth:`Supernet.sample_choices`, turned
into a plain :class:`ArchSpec` by the space, and :meth:`Supernet.dense_state_dict` slices the shared
weights into a dense model built by :func:`search.build.build_model` (no masks in the exported graph).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from search.arch import ArchSpec, BlockSpec, BlockType, make_divisible
from search.blocks import make_act
from search.build import init_weights
from search.cost import CostModel, MacsCost
from search.expected_cost import ExpectedCost, ParamsCost
from search.gumbel import ArchLogits
from search.space import OpChoice, SearchSpace


def prefix_masks(widths: tuple[int, ...] | list[int], max_ch: int) -> Tensor:
    """``[len(widths), max_ch]`` 0/1 rows; row ``i`` keeps the first ``widths[i]`` channels."""
    return (torch.arange(max_ch)[None, :] < torch.tensor(list(widths))[:, None]).float()


def _mid(c_in: int, e: float) -> int:
    return BlockSpec(BlockType.IR, 8, expand=e).mid_channels(c_in)


def _se(mid: int) -> int:
    return make_divisible(mid / 4, 8)


class _ConvBn(nn.Module):
    """conv -> BN -> act, named like :class:`search.blocks.ConvBnAct` so weights slice into dense models.

    A channel mask ``m`` is folded into BN's affine (``gamma * m``, ``beta * m``): the BN output is
    multiplied by the mask without materialising another activation tensor, and since ReLU and
    hard-swish map 0 to 0 a one-hot mask zeroes exactly the channels the child does not have.
    """

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1, act=None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = make_act(act)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        z = self.conv(x)
        if mask is None:
            return self.act(self.bn(z))
        bn = self.bn
        if bn.training and bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)
        z = nn.functional.batch_norm(
            z,
            bn.running_mean,
            bn.running_var,
            bn.weight * mask,
            bn.bias * mask,
            bn.training,
            bn.momentum if bn.momentum is not None else 0.0,
            bn.eps,
        )
        return self.act(z)


class _MaskedSE(nn.Module):
    def __init__(self, ch: int, se_ch: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(ch, se_ch, 1)
        self.expand = nn.Conv2d(se_ch, ch, 1)

    def forward(self, x: Tensor, se_mask: Tensor) -> Tensor:
        s = torch.relu(self.reduce(x.mean((2, 3), keepdim=True))) * se_mask.view(1, -1, 1, 1)
        return x * nn.functional.hardsigmoid(self.expand(s))


class MaskedIR(nn.Module):
    """One op branch at its widest: [pw expand] -> dw kxk -> [SE] -> pw linear, every output masked."""

    def __init__(
        self, in_max: int, mid_max: int, out_max: int, op: OpChoice, stride: int, expand: bool
    ) -> None:
        super().__init__()
        self.pw = _ConvBn(in_max, mid_max, 1, act=op.act) if expand else None
        self.dw = _ConvBn(mid_max, mid_max, op.kernel, stride, groups=mid_max, act=op.act)
        self.se = _MaskedSE(mid_max, _se(mid_max)) if op.se else None
        self.pwl = _ConvBn(mid_max, out_max, 1)

    def forward(self, x: Tensor, mid_mask: Tensor, se_mask: Tensor, out_mask: Tensor) -> Tensor:
        h = self.pw(x, mid_mask) if self.pw is not None else x
        h = self.dw(h, mid_mask)
        if self.se is not None:
            h = self.se(h, se_mask)
        return self.pwl(h, out_mask)


class SuperBlock(nn.Module):
    """All op branches of one searchable block, their width masks and the (weighted) residual."""

    def __init__(
        self,
        space: SearchSpace,
        name: str,
        in_var: str,
        in_widths: tuple[int, ...],
        out_var: str,
        out_widths: tuple[int, ...],
        expands: tuple[float, ...],
        ops: tuple[OpChoice, ...],
        stride: int,
    ) -> None:
        super().__init__()
        self.name, self.in_var, self.out_var = name, in_var, out_var
        self.e_var, self.op_var = f"{name}.e", f"{name}.op"
        self.in_max, self.out_max = max(in_widths), max(out_widths)
        self.has_expand = expands != (1.0,)
        mids = [[_mid(c, e) for e in expands] for c in in_widths]
        mid_max = max(max(r) for r in mids)
        se_max = _se(mid_max)
        self.register_buffer(
            "mid_masks", torch.stack([prefix_masks(r, mid_max) for r in mids]), persistent=False
        )
        self.register_buffer(
            "se_masks",
            torch.stack([prefix_masks([_se(m) for m in r], se_max) for r in mids]),
            persistent=False,
        )
        # probability that the child has a residual: stride 1 and equal input/output width
        same = torch.tensor([[float(stride == 1 and ci == co) for co in out_widths] for ci in in_widths])
        self.register_buffer("same_width", same, persistent=False)
        self.shared_width = in_var == out_var
        self.can_residual = bool(same.any())
        self.ops_spec = ops
        self.ops = nn.ModuleList(
            nn.Identity()
            if op.skip
            else MaskedIR(self.in_max, mid_max, self.out_max, op, stride, self.has_expand)
            for op in ops
        )

    def forward(self, x: Tensor, w: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        g_in, g_e, g_op = w[self.in_var], w[self.e_var], w[self.op_var]
        mid_mask = torch.einsum("i,e,iem->m", g_in, g_e, self.mid_masks)
        se_mask = torch.einsum("i,e,iem->m", g_in, g_e, self.se_masks)
        out_mask = masks[self.out_var]
        if self.shared_width:
            residual: Tensor | None = x
        else:
            residual = None
            if self.can_residual:
                p_res = torch.einsum("i,j,ij->", g_in, w[self.out_var], self.same_width)
                residual = _match_channels(x, self.out_max) * out_mask.view(1, -1, 1, 1) * p_res
        out: Tensor | float = 0.0
        for k, (op, branch) in enumerate(zip(self.ops_spec, self.ops, strict=True)):
            if op.skip:
                y = x
            else:
                y = branch(x, mid_mask, se_mask, out_mask)
                if residual is not None:
                    y = y + residual
            # a single op has weight exactly 1: skip the multiply (and the activation copy it would keep)
            out = y if len(self.ops) == 1 else out + g_op[k] * y
        return out  # type: ignore[return-value]


def _match_channels(x: Tensor, ch: int) -> Tensor:
    if x.shape[1] == ch:
        return x
    if x.shape[1] > ch:
        return x[:, :ch]
    return nn.functional.pad(x, (0, 0, 0, 0, 0, ch - x.shape[1]))


def nearest_indices(size: int, full: int) -> Tensor:
    """Nearest-neighbour sample positions of a ``size`` grid inside a ``full`` grid (centre-aligned)."""
    return ((torch.arange(size, dtype=torch.float64) + 0.5) * full / size).floor().long().clamp_max(full - 1)


def subsample(x: Tensor, size: int) -> Tensor:
    if x.shape[-1] == size:
        return x
    idx = nearest_indices(size, x.shape[-1]).to(x.device)
    return x.index_select(2, idx).index_select(3, idx)


def intersperse(h: Tensor, full: int) -> Tensor:
    """Place ``h`` on a ``full`` x ``full`` zero map at its nearest-neighbour positions (inverse of subsample)."""
    if h.shape[-1] == full:
        return h
    idx = nearest_indices(h.shape[-1], full).to(h.device)
    b, c, n, _ = h.shape
    rows = h.new_zeros(b, c, n, full).index_copy(3, idx, h)
    return h.new_zeros(b, c, full, full).index_copy(2, idx, rows)


class Supernet(nn.Module):
    """The masked supernet of a :class:`SearchSpace` with its architecture logits and cost tables."""

    def __init__(self, space: SearchSpace, cost_model: CostModel | None = None) -> None:
        super().__init__()
        self.space = space
        self.alphas = ArchLogits(space)
        self.full_res = max(space.resolutions)
        stem = space.stem
        self.stem = _ConvBn(space.in_ch, max(stem.widths), stem.kernel, stem.stride, act=stem.act)
        self.width_vars = {"stem.w": stem.widths} | {f"s{k}.w": s.widths for k, s in enumerate(space.stages)}
        for v, widths in self.width_vars.items():
            self.register_buffer(
                f"wmask_{v.replace('.', '_')}", prefix_masks(widths, max(widths)), persistent=False
            )
        blocks = []
        prev_var, prev_w = "stem.w", stem.widths
        for k, st in enumerate(space.stages):
            for j in range(st.depth):
                first = j == 0
                blocks.append(
                    SuperBlock(
                        space,
                        f"s{k}.b{j}",
                        prev_var if first else f"s{k}.w",
                        prev_w if first else st.widths,
                        f"s{k}.w",
                        st.widths,
                        st.expands,
                        st.ops(first),
                        st.stride if first else 1,
                    )
                )
            prev_var, prev_w = f"s{k}.w", st.widths
        self.blocks = nn.ModuleList(blocks)
        self.last_var, last_max = prev_var, max(prev_w)
        head = space.head
        feat = head.conv_ch or last_max
        self.head_conv = _ConvBn(last_max, head.conv_ch, 1, act=head.act) if head.conv_ch else None
        self.hidden = nn.Linear(feat, head.hidden_ch) if head.hidden_ch else None
        self.hidden_act = make_act(head.act)
        self.classifier = nn.Linear(head.hidden_ch or feat, space.num_classes)
        self.cost = ExpectedCost(space, cost_model or MacsCost())
        self.macs = ExpectedCost(space, MacsCost())
        self.params_cost = ExpectedCost(space, ParamsCost())
        init_weights(self)

    # -- parameters ------------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas.parameters())

    def weight_parameters(self) -> list[nn.Parameter]:
        ids = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in ids]

    # -- forward ---------------------------------------------------------------------------------
    def width_masks(self, w: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {v: w[v] @ getattr(self, f"wmask_{v.replace('.', '_')}") for v in self.width_vars}

    def trunk(self, x: Tensor, w: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        h = self.stem(x, masks["stem.w"])
        for block in self.blocks:
            h = block(h, w, masks)
        return self.head_conv(h) if self.head_conv is not None else h

    def forward(self, x: Tensor, weights: Mapping[str, Tensor]) -> Tensor:
        """Logits of the relaxed architecture ``weights`` (Gumbel-softmax sample, probabilities or one-hot)."""
        if x.shape[-1] != self.full_res:
            x = nn.functional.interpolate(
                x, size=(self.full_res, self.full_res), mode="bilinear", align_corners=False, antialias=True
            )
        masks = self.width_masks(weights)
        g_res = weights["res"]
        full_out = None
        mixed: Tensor | float = 0.0
        if len(self.space.resolutions) == 1:
            mixed = self.trunk(x, weights, masks)
        for r_idx, r in reversed(list(enumerate(self.space.resolutions))):  # full resolution first
            if len(self.space.resolutions) == 1:
                break
            h = self.trunk(subsample(x, r), weights, masks)
            if full_out is None:
                full_out = h.shape[-1]
            scale = (full_out / h.shape[-1]) ** 2
            mixed = mixed + g_res[r_idx] * intersperse(h * scale, full_out)
        feat = mixed.mean((2, 3))  # type: ignore[union-attr]
        if self.hidden is not None:
            feat = self.hidden_act(self.hidden(feat))
        return self.classifier(feat)

    # -- costs -----------------------------------------------------------------------------------
    def expected_cost(self, weights: Mapping[str, Tensor]) -> Tensor:
        return self.cost(weights)

    def effective_widths(self, weights: Mapping[str, Tensor]) -> dict[str, float]:
        """``sum_i g_i c_i`` per width variable (what flows to the next layer)."""
        return {
            v: float(weights[v].detach() @ torch.tensor(ws, dtype=torch.float32))
            for v, ws in self.width_vars.items()
        }

    # -- derivation ------------------------------------------------------------------------------
    def derive(self) -> dict[str, int]:
        return self.alphas.argmax()

    def sample_choices(self, generator: torch.Generator, temperature: float = 1.0) -> dict[str, int]:
        """A child sampled from ``softmax(logits / temperature)`` per variable."""
        out = {}
        for n in self.alphas.names:
            p = torch.softmax(self.alphas[n].detach() / temperature, -1)
            out[n] = int(torch.multinomial(p, 1, generator=generator))
        return out

    def child_cost(self, choices: Mapping[str, int]) -> float:
        """Exact table cost of one child (same as ``arch_cost(cost_model, arch)``)."""
        return self.cost.child_cost(choices)

    def dense_state_dict(self, choices: Mapping[str, int]) -> dict[str, Tensor]:
        """Shared weights sliced to the child ``choices`` with the keys of ``build_model(arch)``."""
        sd: dict[str, Tensor] = {}

        def put(prefix: str, module: nn.Module) -> None:
            for k, t in module.state_dict().items():
                sd[f"{prefix}.{k}"] = t

        put("layers.0", self.stem)
        i = 1
        for block in cast(list[SuperBlock], list(self.blocks)):
            op = block.ops_spec[choices[block.op_var]]
            if not op.skip:
                branch = cast(MaskedIR, block.ops[choices[block.op_var]])
                for name in ("pw", "dw", "pwl"):
                    if getattr(branch, name) is not None:
                        put(f"layers.{i}.{name}", getattr(branch, name))
                if branch.se is not None:
                    put(f"layers.{i}.se", branch.se)
            i += 1
        if self.head_conv is not None:
            put(f"layers.{i}.conv", self.head_conv)
        if self.hidden is not None:
            put(f"layers.{i}.hidden", self.hidden)
        put(f"layers.{i}.classifier", self.classifier)
        return sd

    def load_into(self, model: nn.Module, choices: Mapping[str, int]) -> nn.Module:
        """Copy the sliced supernet weights into a dense model of the child (first channels of every tensor)."""
        shared = self.dense_state_dict(choices)
        target = model.state_dict()
        for k, t in target.items():
            if k not in shared:
                raise KeyError(f"dense parameter {k} has no supernet counterpart")
            src = shared[k]
            if t.dim() == 0:
                target[k] = src.clone()
            else:
                target[k] = src[tuple(slice(0, n) for n in t.shape)].clone()
        model.load_state_dict(target)
        return model

    def arch(self, choices: Mapping[str, int]) -> ArchSpec:
        return self.space.arch_from_choices(choices)
