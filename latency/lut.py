"""A LUT for one context: block entries (+ call overhead and boundary correction) -> arch latency.

``latency(arch) = sum_i cost(layer_i) + model_overhead`` with a per-layer breakdown, where a
layer's cost is its measured median minus the boundary cost it paid only because it was timed alone
(see :class:`Correction`); with no correction the plain sum of medians is returned. Skip layers
cost 0 unless measured. Missing entries raise one :class:`MissingEntriesError` listing all of them,
or, with ``interpolate=True``, are estimated from measured neighbours and flagged as such.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from latency.correction import Correction
from latency.interpolate import interpolate_ms
from latency.keys import BLOCK_FIELDS, BlockKey, Context
from latency.store import ENTRY_LAYER, ENTRY_OVERHEAD, LUTStore
from search.arch import ArchSpec, LayerKind, LayerShape, profile_arch

STATISTICS = ("median_ms", "trimmed_mean_ms", "p10_ms", "min_ms")


class MissingEntriesError(KeyError):
    """Some layers have no LUT entry for the context; ``.keys`` lists every one of them."""

    def __init__(self, context: Context, keys: Sequence[BlockKey]) -> None:
        self.context = context
        self.keys = tuple(keys)
        shown = ", ".join(k.label() for k in self.keys[:20]) + (" ..." if len(self.keys) > 20 else "")
        super().__init__(
            f"{len(self.keys)} layer(s) missing from the LUT for {context.label()}: {shown}; "
            "collect them with `phonenas lut collect` (or predict with interpolation)"
        )

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class LayerCost:
    name: str
    key: BlockKey
    measured_ms: float  # LUT entry (or interpolated estimate); 0 for an unmeasured skip
    cost_ms: float  # contribution to the model: measured minus boundary correction
    source: str  # "lut" | "interpolated" | "identity"


@dataclass(frozen=True)
class Prediction:
    arch: ArchSpec
    context: Context
    layers: tuple[LayerCost, ...]
    overhead_ms: float
    correction: Correction

    @property
    def latency_ms(self) -> float:
        return sum(c.cost_ms for c in self.layers) + self.overhead_ms

    @property
    def plain_sum_ms(self) -> float:
        """The uncorrected sum of block entries (what a naive LUT reports)."""
        return sum(c.measured_ms for c in self.layers)

    @property
    def interpolated(self) -> bool:
        return any(c.source == "interpolated" for c in self.layers)

    def to_dict(self) -> dict[str, object]:
        """Plain data (JSON-ready): context, totals, correction method and the per-layer breakdown."""
        return {
            "context": self.context.as_row(),
            "latency_ms": self.latency_ms,
            "plain_sum_ms": self.plain_sum_ms,
            "overhead_ms": self.overhead_ms,
            "correction": self.correction.method,
            "interpolated": self.interpolated,
            "layers": [
                {
                    "name": c.name,
                    "key": c.key.label(),
                    "measured_ms": c.measured_ms,
                    "cost_ms": c.cost_ms,
                    "source": c.source,
                }
                for c in self.layers
            ],
        }


class LUT:
    """Entries of one context, indexed by key. Build with :meth:`from_store`."""

    def __init__(
        self,
        context: Context,
        entries: dict[BlockKey, float],
        call_overhead_ms: float | None = None,
        correction: Correction | None = None,
        statistic: str = "median_ms",
    ) -> None:
        self.context = context
        self.entries = dict(entries)
        self.call_overhead_ms = call_overhead_ms
        self.correction = correction or Correction.none()
        self.statistic = statistic

    @classmethod
    def from_store(
        cls, store: LUTStore, context: Context, statistic: str = "median_ms", corrected: bool = True
    ) -> LUT:
        """Entries of ``context``; ``corrected`` applies the stored fitted correction, else the measured
        call overhead (each separately-timed layer paid one invocation the whole model pays once)."""
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
        df = store.frame()
        for f, v in context.as_row().items():
            df = df[df[f] == v]
        entries = {
            BlockKey(**{f: _py(r[f]) for f in BLOCK_FIELDS}): float(r[statistic])  # type: ignore[arg-type]
            for r in df[df["entry"] == ENTRY_LAYER].to_dict("records")
        }
        over = df[df["entry"] == ENTRY_OVERHEAD]
        call_ms = float(over[statistic].iloc[0]) if len(over) else None
        correction = Correction.load(store.root, context) if corrected else None
        if corrected and correction is None and call_ms is not None:
            correction = Correction(call_ms, 0.0, "measured call overhead")
        return cls(context, entries, call_ms, correction, statistic)

    def __len__(self) -> int:
        return len(self.entries)

    def missing(self, layers: Iterable[LayerShape]) -> list[BlockKey]:
        out: dict[BlockKey, None] = {}
        for layer in layers:
            k = BlockKey.from_layer(layer)
            if layer.kind is not LayerKind.SKIP and k not in self.entries:
                out.setdefault(k, None)
        return list(out)

    def layer_costs(
        self, layers: Sequence[LayerShape], interpolate: bool = False, whole_model: bool = True
    ) -> list[LayerCost]:
        """Per-layer costs; raises one MissingEntriesError naming every missing key unless interpolating.

        ``whole_model``: ``layers`` form one model, whose weights set the correction's cache spill;
        ``False`` costs each layer as if alone (the search's per-candidate tables)."""
        missing = self.missing(layers)
        estimates: dict[BlockKey, float] = {}
        if missing:
            if not interpolate:
                raise MissingEntriesError(self.context, missing)
            estimates = {k: interpolate_ms(k, self.entries, self.context) for k in missing}
        model_mparams = (
            sum(la.params for la in layers if la.kind is not LayerKind.SKIP) / 1e6 if whole_model else None
        )
        out = []
        for layer in layers:
            k = BlockKey.from_layer(layer)
            if k in self.entries:
                ms, source = self.entries[k], "lut"
            elif layer.kind is LayerKind.SKIP:
                ms, source = 0.0, "identity"
            else:
                ms, source = estimates[k], "interpolated"
            cost = self.correction.layer_cost_ms(layer, ms, model_mparams) if source != "identity" else ms
            out.append(LayerCost(layer.name, k, ms, cost, source))
        return out

    def model_overhead_ms(self) -> float:
        return self.correction.model_overhead_ms()

    def predict(self, arch: ArchSpec, interpolate: bool = False) -> Prediction:
        layers = profile_arch(arch).layers
        costs = self.layer_costs(layers, interpolate)
        return Prediction(arch, self.context, tuple(costs), self.model_overhead_ms(), self.correction)


def _py(v: object) -> object:
    return v.item() if hasattr(v, "item") else v
