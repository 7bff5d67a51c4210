"""``LUTCost``: the search's :class:`search.cost.CostModel` answered from a measured LUT."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from latency.keys import BlockKey, Context
from latency.lut import LUT
from latency.store import LUTStore
from search.arch import LayerShape

log = logging.getLogger(__name__)


class LUTCost:
    """Every term of ``LUT.predict`` for the search: per-layer boundary-corrected entries, the call
    overhead, and the correction's cache-spill term as a whole-model term of the weights (those of the
    layers under its spill cap, ``term_weights``).

    ``layer_costs`` (measured entries first, the block model's predictions otherwise) raises one
    :class:`latency.lut.MissingEntriesError` naming every missing key, or with ``interpolate=True``
    estimates them from measured neighbours. ``model_cost(mparams)`` is the correction's spill term
    (a hinge ``k * max(0, mparams - knot)`` or a cliff, :mod:`latency.correction`): exact for one
    architecture (so ``search.cost.arch_cost`` and the supernet's ``child_cost`` equal
    ``LUT.predict(arch).latency_ms``) and, given the supernet's expected weights (a tensor), the same
    term at E[weights] - differentiable (a cliff's step becomes a ramp over 5% of its knot), equal to
    the exact term for a one-hot child away from that step.
    ``sources`` counts the distinct layers costed from each source ("lut" = measured, "predicted",
    "interpolated")."""

    unit = "ms"

    def __init__(
        self, lut: LUT | LUTStore, context: Context | None = None, interpolate: bool = False
    ) -> None:
        if isinstance(lut, LUTStore):
            if context is None:
                raise ValueError("LUTCost(store, context): a context is needed to read a store")
            lut = LUT.from_store(lut, context)
        elif context is not None and context != lut.context:
            raise ValueError(f"LUT is for {lut.context.label()}, not {context.label()}")
        self.lut = lut
        self.context = lut.context
        self.interpolate = interpolate
        self.interpolated_keys: set[BlockKey] = set()
        self._source: dict[BlockKey, str] = {}

    def layer_costs(self, layers: Sequence[LayerShape]) -> list[float]:
        costs = self.lut.layer_costs(layers, interpolate=self.interpolate, whole_model=False, spill=False)
        self.interpolated_keys |= {c.key for c in costs if c.source == "interpolated"}
        self._source.update({c.key: c.source for c in costs if c.source != "identity"})
        counts = self.sources
        log.info(
            "LUT cost of %d layers: %d measured, %d predicted by the block model, %d interpolated",
            len(self._source),
            counts.get("lut", 0),
            counts.get("predicted", 0),
            counts.get("interpolated", 0),
        )
        return [c.cost_ms for c in costs]

    @property
    def sources(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self._source.values():
            out[s] = out.get(s, 0) + 1
        return out

    def model_overhead(self) -> float:
        return self.lut.model_overhead_ms()

    def term_weights(self, layers: Sequence[LayerShape]) -> list[float]:
        """Each layer's weights (millions) the spill term prices: none for a layer above the
        correction's spill cap, none for a skip."""
        return self.lut.correction.layer_spill_mparams(layers)

    def model_cost(self, mparams: Any) -> Any:
        """Cache spill of a model with ``mparams`` million weights (float: exact; tensor: differentiable)."""
        c = self.lut.correction
        if hasattr(mparams, "requires_grad"):  # a torch tensor: the supernet's expected weights
            return c.spill_ms_smooth(mparams)
        return c.spill_ms(float(mparams))
