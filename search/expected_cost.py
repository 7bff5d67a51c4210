"""Exact, differentiable expected cost of the supernet from per-layer cost tables.

For every placed layer of a :class:`SearchSpace` (stem, blocks, head) the space lists the choice
variables its shape depends on (resolution, input width, expansion, op, output width). We enumerate
every joint choice, ask a :class:`CostModel` once for all distinct :class:`LayerShape`s, and keep one
constant table per layer with one axis per variable. With independent categorical weights ``w_v`` per
variable, the expected cost of a layer is the full contraction

    E[cost_l] = sum_{a,b,...} w_res[a] w_in[b] w_e[c] w_op[d] w_out[e] T_l[a,b,c,d,e]

which is exact (a width shared by a layer's input and output, as inside a stage, is ONE axis, not two)
and differentiable in the weights. No fractional channel count ever reaches the cost model. With one-hot
weights it is the exact cost of that child, the same number ``arch_cost(model, arch)`` gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from search.arch import LayerShape
from search.cost import CostModel, term_weights
from search.space import SearchSpace


class ParamsCost:
    """Parameters (in millions) from shape propagation; with ``of``, the weights ``of``'s whole-model
    term sees (``search.cost.term_weights``: e.g. only the layers under a LUT's spill cap)."""

    unit = "Mparam"

    def __init__(self, of: object | None = None) -> None:
        self.of = of

    def layer_costs(self, layers: Sequence[LayerShape]) -> list[float]:
        return term_weights(self.of, layers)

    def model_overhead(self) -> float:
        return 0.0


class ExpectedCost(nn.Module):
    """Constant cost tables for ``space`` under ``model``; ``forward(weights)`` is the expected total cost."""

    def __init__(self, space: SearchSpace, model: CostModel) -> None:
        super().__init__()
        self.unit = model.unit
        self.overhead = float(model.model_overhead())
        templates = space.layer_templates()
        # one call for every distinct shape: a LUT-backed model names every missing layer at once
        shapes, index = space.cost_index()
        costs = model.layer_costs(list(shapes))
        if len(costs) != len(shapes):
            raise ValueError(f"cost model returned {len(costs)} costs for {len(shapes)} layers")
        flat = torch.tensor(costs, dtype=torch.float64)
        self.layer_names = tuple(t.name for t in templates)
        self.layer_variables = tuple(t.variables for t in templates)
        for i, (t, idx) in enumerate(zip(templates, index, strict=True)):
            sizes = [len(space.variable(v).values) for v in t.variables]
            table = flat[idx].reshape(sizes)
            self.register_buffer(f"table_{i}", table.float(), persistent=False)
        # optional whole-model term of the weights (see search.cost): exact for a child, E[weights] inside
        self.model_term = getattr(model, "model_cost", None)
        self.weights_m = ExpectedCost(space, ParamsCost(model)) if self.model_term is not None else None

    def tables(self) -> list[Tensor]:
        return [getattr(self, f"table_{i}") for i in range(len(self.layer_names))]

    def layer_costs(self, weights: Mapping[str, Tensor]) -> Tensor:
        """Expected cost of every layer (1-D tensor in template order)."""
        out = []
        for table, variables in zip(self.tables(), self.layer_variables, strict=True):
            t = table
            for v in reversed(variables):  # contract the last axis with its weights, one variable at a time
                t = t @ weights[v].to(table.dtype)
            out.append(t)
        return torch.stack(out)

    def child_layer_costs(self, choices: Mapping[str, int]) -> list[float]:
        """Exact per-layer costs of one child: a table lookup per layer."""
        return [
            float(t[tuple(choices[v] for v in vs)])
            for t, vs in zip(self.tables(), self.layer_variables, strict=True)
        ]

    def child_cost(self, choices: Mapping[str, int]) -> float:
        cost = sum(self.child_layer_costs(choices)) + self.overhead
        if self.model_term is not None and self.weights_m is not None:
            cost += float(self.model_term(self.weights_m.child_cost(choices)))
        return cost

    def forward(self, weights: Mapping[str, Tensor]) -> Tensor:
        cost = self.layer_costs(weights).sum() + self.overhead
        if self.model_term is not None and self.weights_m is not None:
            cost = cost + self.model_term(self.weights_m(weights))
        return cost
