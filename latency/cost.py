"""``LUTCost``: the search's :class:`search.cost.CostModel` answered from a measured LUT."""

from __future__ import annotations

from collections.abc import Sequence

from latency.keys import Context
from latency.lut import LUT
from latency.store import LUTStore
from search.arch import LayerShape


class LUTCost:
    """Per-layer latency (ms) from a LUT of one context, boundary-corrected, plus the call overhead.

    ``layer_costs`` raises one :class:`latency.lut.MissingEntriesError` naming every missing key, or
    with ``interpolate=True`` estimates them from measured neighbours (``interpolated_keys`` lists them).
    Layers are costed one by one (the supernet asks for every candidate at once), so a correction's
    model-level cache-spill hinge enters only through its per-layer part (none below the knot).
    """

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
        self.interpolated_keys: set = set()

    def layer_costs(self, layers: Sequence[LayerShape]) -> list[float]:
        costs = self.lut.layer_costs(layers, interpolate=self.interpolate, whole_model=False)
        self.interpolated_keys |= {c.key for c in costs if c.source == "interpolated"}
        return [c.cost_ms for c in costs]

    def model_overhead(self) -> float:
        return self.lut.model_overhead_ms()
