"""The cost interface the search asks: what a placed layer costs (ms, MACs, ...).

The search never imports latency. It enumerates, for every searchable layer, all joint candidates
(input width x hidden width x output width x resolution x op choice) as :class:`LayerShape`s, asks a
``CostModel`` for their costs once, and takes the exact expectation under the Gumbel-softmax choice
probabilities. Fractional channels never reach a cost model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from search.arch import ArchSpec, LayerShape, profile_arch


@runtime_checkable
class CostModel(Protocol):
    """A cost per placed layer plus a fixed per-model overhead, in ``unit``."""

    unit: str

    def layer_costs(self, layers: Sequence[LayerShape]) -> list[float]:
        """Cost of each layer, in order. Raise one error naming every layer it cannot cost."""
        ...

    def model_overhead(self) -> float:
        """Fixed cost of running any model once (invocation, I/O copies), added once per model."""
        ...


# Optional: a cost model may also define ``model_cost(mparams)``, a whole-model term as a function of the
# model's weights in millions (e.g. a LUT's cache spill). Called with a float for one architecture (exact)
# and with a 0-d tensor holding the *expected* weights inside the supernet (a differentiable surrogate
# that equals the exact term for a one-hot child). Which weights count is ``term_weights(layers)`` (each
# layer's weights in millions that the term sees) where the model defines it, every weight otherwise.


def term_weights(model: object, layers: Sequence[LayerShape]) -> list[float]:
    """Each layer's weights (millions) that ``model``'s whole-model term sees (see above)."""
    own = getattr(model, "term_weights", None)
    return list(own(layers)) if own is not None else [layer.params / 1e6 for layer in layers]


class MacsCost:
    """MACs (in millions) from shape propagation: the FLOPs cost of FBNet, needs no measurements."""

    unit = "MMAC"

    def layer_costs(self, layers: Sequence[LayerShape]) -> list[float]:
        return [layer.macs / 1e6 for layer in layers]

    def model_overhead(self) -> float:
        return 0.0


def arch_cost(model: CostModel, arch: ArchSpec) -> float:
    """Cost of a whole architecture: sum over its layers plus the model overhead."""
    layers = profile_arch(arch).layers
    total = sum(model.layer_costs(layers)) + model.model_overhead()
    term = getattr(model, "model_cost", None)
    return total + float(term(sum(term_weights(model, layers)))) if term is not None else total
