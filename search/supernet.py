"""DMaskingNAS / FBNetV2 masked supernet: one widest conv per op, channel masks, resolution mixing.

Channel search (Wan et al. 2020, Sec. 3.1): each conv is built once at its widest width; its output is
multiplied by ``M = sum_i g_i 1_i`` where ``g`` are the Gumbel-softmax weights over the width choices and
``1_i`` keeps the first ``c_i`` channels. Memory and time therefore stay those of the largest child
however many width choices there are. The mask is applied to the BN output by folding it into BN's
affine parameters, so it adds no activation tensor of its own. The hidden (expansion) width
``space.mid(c_in, e)`` depends on two variables, so its mask is
``sum_{i,e} g_in(i) g_e(e) 1_{mid(i,e)}`` (and likewise the SE width).

Op search (kernel, SE, activation) shares ONE set of weights per block: the depthwise kernel is the
largest one with every smaller kernel its centre (mixed by a Gumbel-weighted kernel mask, a single
conv), the SE gate is applied with probability ``p_se`` (``x * (1 + p_se (gate - 1))``) and the
activation is the ``relu`` / ``hard-swish`` mixture computed by one fused op that saves a single tensor.
The marginals of the joint op variable drive them; at one-hot weights each is exactly the child's op.
A ``skip`` op is the identity, or a 1x1 conv-BN-ReLU projection when the block changes the width.
Memory therefore stays about that of the largest child whatever the number of op choices.

Resolution search (Sec. 3.2), ``resolution="mix"``: the input is nearest-neighbour subsampled to every
resolution choice, passed through the shared trunk, and the output is padded back to the
full-resolution map with zeros interspersed; the Gumbel-weighted sum is pooled (the padded map is scaled
by the area ratio, so the global pool equals each resolution's own mean). That costs one trunk per
resolution; the default ``resolution="sample"`` runs only the resolution of the Gumbel sample (its
argmax) with a straight-through gradient to the resolution logits (GDAS-style), so a step costs one child.

A child is read back with :meth:`Supernet.derive` (argmax) or :meth:`Supernet.sample_choices`, turned
into a plain :class:`ArchSpec` by the space, and :meth:`Supernet.dense_state_dict` slices the shared
weights into a dense model built by :func:`search.build.build_model` (no masks in the exported graph).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, cast

import torch
from torch import Tensor, nn

from search.arch import Act, ArchSpec, make_divisible
from search.blocks import make_act
from search.build import init_weights
from search.cost import CostModel, MacsCost
from search.expected_cost import ExpectedCost, ParamsCost
from search.gumbel import ArchLogits
from search.space import OpChoice, SearchSpace


def prefix_masks(widths: tuple[int, ...] | list[int], max_ch: int) -> Tensor:
    """``[len(widths), max_ch]`` 0/1 rows; row ``i`` keeps the first ``widths[i]`` channels."""
    return (torch.arange(max_ch)[None, :] < torch.tensor(list(widths))[:, None]).float()


def kernel_masks(kernels: tuple[int, ...] | list[int], k_max: int) -> Tensor:
    """``[len(kernels), k_max, k_max]`` 0/1 masks; mask ``i`` keeps the centred ``kernels[i]`` square."""
    pos = (torch.arange(k_max) - k_max // 2).abs()
    return torch.stack([((pos[:, None] <= k // 2) & (pos[None, :] <= k // 2)).float() for k in kernels])


def _se(mid: int) -> int:
    return make_divisible(mid / 4, 8)


class _MixedAct(torch.autograd.Function):
    """``w[0] * relu(z) + w[1] * hardswish(z)`` saving only ``z`` (one tensor, like a single hard-swish)."""

    @staticmethod
    def forward(ctx, z: Tensor, w: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(z, w)
        return torch.relu(z).mul_(w[0]).add_(nn.functional.hardswish(z) * w[1])

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor, Tensor | None]:  # type: ignore[override]
        z, w = ctx.saved_tensors
        g_relu = torch.ops.aten.threshold_backward(g, z, 0)  # g * (z > 0)
        g_hs = torch.ops.aten.hardswish_backward(g, z)  # g * hardswish'(z)
        gw = None
        if ctx.needs_input_grad[1]:
            # d/dw0 = sum(g * relu(z)) = sum(g_relu * z); d/dw1 = sum(g * hardswish(z))
            hs = nn.functional.hardswish(z)
            gw = torch.stack([torch.dot(g_relu.flatten(), z.flatten()), torch.dot(g.flatten(), hs.flatten())])
            gw = gw.to(w.dtype)
        return g_relu.mul_(w[0]).add_(g_hs.mul_(w[1])), gw


def mixed_act(z: Tensor, w: Tensor) -> Tensor:
    """Relu / hard-swish mixture with weights ``w`` (exactly one of them when ``w`` is one-hot)."""
    return cast(Tensor, _MixedAct.apply(z, w))


class _ConvBn(nn.Module):
    """conv -> BN -> act, named like :class:`search.blocks.ConvBnAct` so weights slice into dense models.

    A channel mask ``m`` is folded into BN's affine (``gamma * m``, ``beta * m``): the BN output is
    multiplied by the mask without materialising another activation tensor, and since ReLU and
    hard-swish map 0 to 0 a one-hot mask zeroes exactly the channels the child does not have. The mask
    is applied before the activation: ``act(m * BN(z))`` equals the paper's ``m * act(BN(z))`` for a
    0/1 mask (every one-hot child, so the derived child is exact) and for ReLU at any mask; for
    hard-swish at a soft mask value ``0 < m < 1`` it differs (``hswish(m a) != m hswish(a)``), a
    deliberate choice that saves one activation-sized tensor per conv (documented deviation).
    ``kernel_mask`` (a ``[k, k]`` weight mask) mixes centred sub-kernels of a depthwise conv;
    ``act_w`` mixes relu / hard-swish (see :func:`mixed_act`).
    """

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1, act=None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = make_act(act)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        kernel_mask: Tensor | None = None,
        act_w: Tensor | None = None,
    ) -> Tensor:
        if kernel_mask is None:
            z = self.conv(x)
        else:
            c = self.conv
            z = nn.functional.conv2d(
                x, c.weight * kernel_mask, None, c.stride, c.padding, c.dilation, c.groups
            )
        if mask is None:
            z = self.bn(z)
        else:
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
        return mixed_act(z, act_w) if act_w is not None else self.act(z)


class _MaskedSE(nn.Module):
    def __init__(self, ch: int, se_ch: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(ch, se_ch, 1)
        self.expand = nn.Conv2d(se_ch, ch, 1)

    def forward(self, x: Tensor, se_mask: Tensor, p_se: Tensor | None = None) -> Tensor:
        """SE with probability ``p_se`` (``None`` = always): ``x * (1 + p_se * (gate - 1))``."""
        s = torch.relu(self.reduce(x.mean((2, 3), keepdim=True))) * se_mask.view(1, -1, 1, 1)
        gate = nn.functional.hardsigmoid(self.expand(s))
        if p_se is not None:
            gate = 1 + p_se * (gate - 1)
        return x * gate


class MaskedIR(nn.Module):
    """The shared inverted residual of a block at its widest: [pw expand] -> dw k_max -> [SE] -> pw linear.

    Every op variant of the block uses these same weights (FBNetV2-style weight sharing, as in
    Single-Path NAS for the kernel): a smaller kernel is the centre of the largest one, SE and the
    activation are switched by their probabilities over the same convs.
    """

    def __init__(
        self,
        in_max: int,
        mid_max: int,
        out_max: int,
        k_max: int,
        stride: int,
        expand: bool,
        se: bool,
        act=None,
    ) -> None:
        super().__init__()
        self.pw = _ConvBn(in_max, mid_max, 1, act=act) if expand else None
        self.dw = _ConvBn(mid_max, mid_max, k_max, stride, groups=mid_max, act=act)
        self.se = _MaskedSE(mid_max, _se(mid_max)) if se else None
        self.pwl = _ConvBn(mid_max, out_max, 1)

    def forward(
        self,
        x: Tensor,
        mid_mask: Tensor,
        se_mask: Tensor,
        out_mask: Tensor,
        kernel_mask: Tensor | None = None,
        act_w: Tensor | None = None,
        p_se: Tensor | None = None,
    ) -> Tensor:
        h = self.pw(x, mid_mask, act_w=act_w) if self.pw is not None else x
        h = self.dw(h, mid_mask, kernel_mask, act_w)
        if self.se is not None:
            h = self.se(h, se_mask, p_se)
        return self.pwl(h, out_mask)


class SuperBlock(nn.Module):
    """One searchable block: the shared inverted residual, its op/width mixtures, skip (or projection)."""

    mid_masks: Tensor
    se_masks: Tensor
    same_width: Tensor
    op_kernel: Tensor
    op_se: Tensor
    op_act: Tensor
    op_skip: Tensor
    kmasks: Tensor

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
        mids = [[space.mid(c, e) for e in expands] for c in in_widths]
        # the expansion conv exists exactly when the child has one (the space forbids mixing the two)
        self.has_expand = any(m != c for c, row in zip(in_widths, mids, strict=True) for m in row)
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
        ir_ops = [o for o in ops if not o.skip]
        self.kernels = tuple(sorted({o.kernel for o in ir_ops}))
        self.acts = tuple(dict.fromkeys(o.act for o in ir_ops))
        self.k_max = max(self.kernels)
        self.has_skip = any(o.skip for o in ops)
        # op -> marginal matrices: kernel, SE, activation, skip
        self.register_buffer(
            "op_kernel",
            torch.tensor([[float(not o.skip and o.kernel == k) for k in self.kernels] for o in ops]),
            persistent=False,
        )
        self.register_buffer(
            "op_se", torch.tensor([float(not o.skip and o.se) for o in ops]), persistent=False
        )
        act_cols = (Act.RELU, Act.HSWISH)
        self.register_buffer(
            "op_act",
            torch.tensor([[float(not o.skip and o.act is a) for a in act_cols] for o in ops]),
            persistent=False,
        )
        self.register_buffer("op_skip", torch.tensor([float(o.skip) for o in ops]), persistent=False)
        self.register_buffer("kmasks", kernel_masks(self.kernels, self.k_max), persistent=False)
        self.any_se, self.all_se = any(o.se for o in ir_ops), all(o.se for o in ir_ops)
        single_act = self.acts[0] if len(self.acts) == 1 else None
        self.ir = MaskedIR(
            self.in_max, mid_max, self.out_max, self.k_max, stride, self.has_expand, self.any_se, single_act
        )
        # a skip that changes the width is a 1x1 conv-BN-ReLU projection (mobile-vision's skip)
        needs_proj = self.has_skip and not self.shared_width and not bool(same.all())
        self.proj = _ConvBn(self.in_max, self.out_max, 1, stride, act=Act.RELU) if needs_proj else None

    def forward(self, x: Tensor, w: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        g_in, g_e, g_op = w[self.in_var], w[self.e_var], w[self.op_var]
        mid_mask = torch.einsum("i,e,iem->m", g_in, g_e, self.mid_masks)
        se_mask = torch.einsum("i,e,iem->m", g_in, g_e, self.se_masks)
        out_mask = masks[self.out_var]
        # the child has a residual with probability p_same (stride 1, equal widths); x is zero beyond its
        # own width, so at one-hot weights p_same * x is exactly the child's residual
        p_same: Tensor | float | None
        if self.shared_width:
            p_same = 1.0
        elif self.can_residual:
            p_same = torch.einsum("i,j,ij->", g_in, w[self.out_var], self.same_width)
        else:
            p_same = None
        # marginals of the joint op variable over kernel / SE / activation, given "not skip"
        p_skip = g_op @ self.op_skip if self.has_skip else None
        norm = (1 - p_skip).clamp_min(1e-6) if p_skip is not None else None
        kmask = None
        if len(self.kernels) > 1 or self.kernels[0] != self.k_max:
            pk = g_op @ self.op_kernel
            kmask = torch.einsum("k,kij->ij", pk / norm if norm is not None else pk, self.kmasks)
        act_w = None
        if len(self.acts) > 1:
            pa = g_op @ self.op_act
            act_w = pa / norm if norm is not None else pa
        p_se = None
        if self.any_se and not self.all_se:
            ps = g_op @ self.op_se
            p_se = ps / norm if norm is not None else ps
        y = self.ir(x, mid_mask, se_mask, out_mask, kmask, act_w, p_se)
        # out = (1 - p_skip) * (ir + p_same x) + p_skip * (p_same x + (1 - p_same) proj x)
        #     = (1 - p_skip) * ir + p_same * x + p_skip * (1 - p_same) * proj x
        if p_skip is not None:
            y = y * (1 - p_skip)
        if p_same is not None:
            xr = x if self.shared_width else _match_channels(x, self.out_max)
            y = y + xr if isinstance(p_same, float) else y + xr * p_same
        if p_skip is not None and self.proj is not None:
            p_proj = p_skip if p_same is None else p_skip * (1 - p_same)
            y = y + self.proj(x, out_mask) * p_proj
        return y

    def dense_state(
        self, choices: Mapping[str, int], in_widths: tuple[int, ...], out_widths: tuple[int, ...]
    ):
        """``(prefix -> module-or-tensors)`` of the child's block: what
        :func:`search.build.build_layer` has."""
        op = self.ops_spec[choices[self.op_var]]
        out: dict[str, Tensor] = {}
        if op.skip:
            if self.proj is not None and in_widths[choices[self.in_var]] != out_widths[choices[self.out_var]]:
                out |= {k: t for k, t in self.proj.state_dict().items()}
            return out
        for name in ("pw", "dw", "pwl"):
            mod = getattr(self.ir, name)
            if mod is None:
                continue
            for k, t in mod.state_dict().items():
                if name == "dw" and k == "conv.weight" and op.kernel < self.k_max:
                    lo = (self.k_max - op.kernel) // 2
                    t = t[:, :, lo : lo + op.kernel, lo : lo + op.kernel]
                out[f"{name}.{k}"] = t
        if op.se and self.ir.se is not None:
            out |= {f"se.{k}": t for k, t in self.ir.se.state_dict().items()}
        return out


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
    """Place ``h`` on a ``full`` x ``full`` zero map at its nearest-neighbour positions (inverse of
    subsample)."""
    if h.shape[-1] == full:
        return h
    idx = nearest_indices(h.shape[-1], full).to(h.device)
    b, c, n, _ = h.shape
    rows = h.new_zeros(b, c, n, full).index_copy(3, idx, h)
    return h.new_zeros(b, c, full, full).index_copy(2, idx, rows)


ResolutionMode = Literal["sample", "mix"]


class Supernet(nn.Module):
    """The masked supernet of a :class:`SearchSpace` with its architecture logits and cost tables.

    ``resolution="sample"`` (default) runs ONE trunk per step at the resolution the Gumbel sample
    picks (its argmax: a sample of the categorical), with a straight-through gradient to the
    resolution logits, so memory and time are those of one child at that resolution;
    ``resolution="mix"`` is the paper's mixture of every resolution's trunk (zero-interspersed and
    summed), which costs ``sum (r/R)^2`` trunks. Both are exact at one-hot weights.
    """

    def __init__(
        self, space: SearchSpace, cost_model: CostModel | None = None, resolution: ResolutionMode = "sample"
    ) -> None:
        super().__init__()
        if resolution not in ("sample", "mix"):
            raise ValueError(f"resolution mode must be 'sample' or 'mix', got {resolution!r}")
        self.space = space
        self.resolution_mode = resolution
        self.alphas = ArchLogits(space)
        self.full_res = max(space.resolutions)
        stem = space.stem
        self.stem = _ConvBn(space.in_ch, max(stem.widths), stem.kernel, stem.stride, act=stem.act)
        self.width_vars = space.width_vars()
        if space.head_hidden:
            self.width_vars = self.width_vars | {"head.h": space.head_hidden}
        for v, widths in self.width_vars.items():
            self.register_buffer(f"wmask_{_buf(v)}", prefix_masks(widths, max(widths)), persistent=False)
        blocks = []
        for name, in_var, out_var, k, j in space.block_vars():
            st = space.stages[k]
            blocks.append(
                SuperBlock(
                    space,
                    name,
                    in_var,
                    self.width_vars[in_var],
                    out_var,
                    st.widths,
                    st.expands,
                    st.ops(j == 0),
                    st.stride if j == 0 else 1,
                )
            )
        self.blocks = nn.ModuleList(blocks)
        self.last_var = space.last_width_var
        last_max = max(self.width_vars[self.last_var])
        head = space.head
        feat = head.conv_ch or last_max
        hidden = max(space.head_hidden) if space.head_hidden else head.hidden_ch
        self.head_conv = _ConvBn(last_max, head.conv_ch, 1, act=head.act) if head.conv_ch else None
        self.hidden = nn.Linear(feat, hidden) if hidden else None
        self.hidden_act = make_act(head.act)
        self.classifier = nn.Linear(hidden or feat, space.num_classes)
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
        return {v: w[v] @ getattr(self, f"wmask_{_buf(v)}") for v in self.width_vars}

    def trunk(self, x: Tensor, w: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        h = self.stem(x, masks["stem.w"])
        for block in self.blocks:
            h = block(h, w, masks)
        return self.head_conv(h) if self.head_conv is not None else h

    def child_input(self, x: Tensor, input_hw: int) -> Tensor:
        """What a dense child at ``input_hw`` must be fed to see what the supernet sees for input ``x``."""
        if self.resolution_mode == "mix":
            return subsample(_resize(x, self.full_res), input_hw)
        return _resize(x, input_hw)

    def forward(self, x: Tensor, weights: Mapping[str, Tensor]) -> Tensor:
        """Logits of the relaxed architecture ``weights`` (Gumbel-softmax sample, probabilities or
        one-hot)."""
        masks = self.width_masks(weights)
        g_res = weights["res"]
        if self.resolution_mode == "sample" or len(self.space.resolutions) == 1:
            r_idx = int(torch.argmax(g_res))
            h = self.trunk(_resize(x, self.space.resolutions[r_idx]), weights, masks)
            feat = h.mean((2, 3))
            if len(self.space.resolutions) > 1:  # value x1, gradient d/dg_res[r] = feat (straight-through)
                feat = feat * (1 + g_res[r_idx] - g_res[r_idx].detach())
        else:
            x = _resize(x, self.full_res)
            full_out = None
            mixed: Tensor | float = 0.0
            for r_idx, r in reversed(list(enumerate(self.space.resolutions))):  # full resolution first
                h = self.trunk(subsample(x, r), weights, masks)
                if full_out is None:
                    full_out = h.shape[-1]
                scale = (full_out / h.shape[-1]) ** 2
                mixed = mixed + g_res[r_idx] * intersperse(h * scale, full_out)
            feat = mixed.mean((2, 3))  # type: ignore[union-attr]
        if self.hidden is not None:
            feat = self.hidden_act(self.hidden(feat))
            if "head.h" in masks:
                feat = feat * masks["head.h"]
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
        """Shared weights sliced to the child ``choices`` with the keys of ``build_model(arch)``.

        Channels are sliced by :meth:`load_into`; kernels are centre-cropped here.
        """
        sd: dict[str, Tensor] = {}

        def put(prefix: str, module: nn.Module) -> None:
            for k, t in module.state_dict().items():
                sd[f"{prefix}.{k}"] = t

        put("layers.0", self.stem)
        i = 1
        for block in cast(list[SuperBlock], list(self.blocks)):
            st = self.width_vars
            for k, t in block.dense_state(choices, st[block.in_var], st[block.out_var]).items():
                sd[f"layers.{i}.{k}"] = t
            i += 1
        if self.head_conv is not None:
            put(f"layers.{i}.conv", self.head_conv)
        if self.hidden is not None:
            put(f"layers.{i}.hidden", self.hidden)
        put(f"layers.{i}.classifier", self.classifier)
        return sd

    def load_into(self, model: nn.Module, choices: Mapping[str, int]) -> nn.Module:
        """Copy the sliced supernet weights into a dense model of the child (first channels of every
        tensor)."""
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


def _buf(var: str) -> str:
    return var.replace(".", "_")


def _resize(x: Tensor, hw: int) -> Tensor:
    """The loop's input resize (antialiased bilinear), the same the dense child's data gets."""
    if x.shape[-1] == hw:
        return x
    return nn.functional.interpolate(x, size=(hw, hw), mode="bilinear", align_corners=False, antialias=True)
