"""A LUT for one context: block entries (+ call overhead and boundary correction) -> arch latency.

``latency(arch) = sum_i cost(layer_i) + model_overhead`` with a per-layer breakdown, where a
layer's cost is its measured median minus the boundary cost it paid only because it was timed alone
(see :class:`Correction`); with no correction the plain sum of medians is returned. Skip layers
cost 0 unless measured. Missing entries raise one :class:`MissingEntriesError` listing all of them,
or, with ``interpolate=True``, are estimated from measured neighbours and flagged as such.

Entries are in *nominal units*: each measured median divided by the drift reference's ratio at the
time it was measured (:mod:`latency.reference`), i.e. milliseconds at the context's nominal speed - the
ratio as :func:`latency.reference.device_scale` reads it (relative to the collection's usual level,
``LUT.ratio_center``; a level within the reference's noise band of it reads 1). A prediction is scaled
by ``ref_ratio``, the device's speed of the moment it is compared with (1: the nominal speed); a drift
reference's ratio becomes that speed through :meth:`LUT.scale`. Entries the block-latency model
predicted (:mod:`latency.block_model`) are used where no measurement exists and counted separately
(``Prediction.counts``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from latency.correction import Correction
from latency.interpolate import interpolate_ms
from latency.keys import BLOCK_FIELDS, BlockKey, Context
from latency.reference import SPEED_BAND, device_scale
from latency.reference import ratio_center as usual_level
from latency.store import ENTRY_LAYER, ENTRY_OVERHEAD, ENTRY_PREDICTED, ENTRY_REFERENCE, LUTStore
from search.arch import ArchSpec, LayerKind, LayerShape, profile_arch

log = logging.getLogger(__name__)

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
    source: str  # "lut" (measured) | "predicted" (block model) | "interpolated" | "identity"


@dataclass(frozen=True)
class Prediction:
    arch: ArchSpec
    context: Context
    layers: tuple[LayerCost, ...]
    overhead_ms: float
    correction: Correction
    ref_ratio: float = 1.0  # device speed now relative to nominal (drift reference); scales the total
    spill_ms: float = 0.0  # the correction's model-level cache-spill term (nominal units)
    mparams: float | None = None  # the model's weights (millions) that term was priced on (under its cap)

    @property
    def latency_ms(self) -> float:
        return (sum(c.cost_ms for c in self.layers) + self.spill_ms + self.overhead_ms) * self.ref_ratio

    @property
    def plain_sum_ms(self) -> float:
        """The uncorrected sum of block entries (what a naive LUT reports)."""
        return sum(c.measured_ms for c in self.layers) * self.ref_ratio

    @property
    def interpolated(self) -> bool:
        return any(c.source == "interpolated" for c in self.layers)

    @property
    def extrapolated(self) -> str | None:
        """Why the correction is applied outside the range it was fitted on (None: inside it)."""
        measured = [c for c in self.layers if c.source != "identity"]
        return self.correction.outside_range(
            len(measured),
            sum(c.measured_ms for c in measured),
            mparams=self.mparams,
        )

    @property
    def on_cliff(self) -> str | None:
        """Why this model's cache spill is interpolated, not measured (None: it is not on the cliff)."""
        return None if self.mparams is None else self.correction.on_cliff(self.mparams)

    def to_dict(self) -> dict[str, object]:
        """Plain data (JSON-ready): context, totals, correction method and the per-layer breakdown."""
        return {
            "context": self.context.as_row(),
            "latency_ms": self.latency_ms,
            "plain_sum_ms": self.plain_sum_ms,
            "overhead_ms": self.overhead_ms,
            "correction": self.correction.method,
            "interpolated": self.interpolated,
            "extrapolated": self.extrapolated,
            "on_cliff": self.on_cliff,
            "counts": self.counts,
            "spill_ms": self.spill_ms,
            "ref_ratio": self.ref_ratio,
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

    @property
    def counts(self) -> dict[str, int]:
        """How many layers came from each source (measured "lut", "predicted", "interpolated", "identity")."""
        out: dict[str, int] = {}
        for c in self.layers:
            out[c.source] = out.get(c.source, 0) + 1
        return out


class LUT:
    """Entries of one context, indexed by key. Build with :meth:`from_store`."""

    def __init__(
        self,
        context: Context,
        entries: dict[BlockKey, float],
        call_overhead_ms: float | None = None,
        correction: Correction | None = None,
        statistic: str = "median_ms",
        predicted: dict[BlockKey, float] | None = None,
        uncertainty: dict[BlockKey, float] | None = None,
        reference_ms: float | None = None,
        ratio_center: float = 1.0,
        ratio_band: float = SPEED_BAND,
    ) -> None:
        self.context = context
        self.entries = dict(entries)  # measured (nominal units)
        self.predicted = {k: v for k, v in (predicted or {}).items() if k not in self.entries}
        self.uncertainty = dict(uncertainty or {})  # relative std of predicted entries
        self.call_overhead_ms = call_overhead_ms
        self.correction = correction or Correction.none()
        self.statistic = statistic
        self.reference_ms = reference_ms  # the drift reference's nominal reading (None: not recorded)
        self.ratio_center = ratio_center  # the collection's typical reference level (device_scale)
        self.ratio_band = ratio_band

    def with_correction(self, correction: Correction) -> LUT:
        """The same entries (measured and predicted), units and reference, another correction."""
        return LUT(
            self.context,
            self.entries,
            self.call_overhead_ms,
            correction,
            self.statistic,
            self.predicted,
            self.uncertainty,
            self.reference_ms,
            self.ratio_center,
            self.ratio_band,
        )

    def scale(self, ref_ratio: float) -> float:
        """The device speed (relative to the entries' nominal units) a drift-reference ratio measured
        against this LUT's nominal reading stands for: what ``predict(..., ref_ratio=)`` takes."""
        return device_scale(ref_ratio, self.ratio_center, self.ratio_band)

    @classmethod
    def from_store(
        cls,
        store: LUTStore,
        context: Context,
        statistic: str = "median_ms",
        corrected: bool = True,
        normalized: bool = True,
        predicted: bool = True,
        ratio_center: float | None = None,
        ratio_band: float = SPEED_BAND,
    ) -> LUT:
        """Entries of ``context``; ``corrected`` applies the stored fitted correction, else the measured
        call overhead (each separately-timed layer paid one invocation the whole model pays once).
        ``normalized``: divide each entry by the speed its drift-reference ratio stands for (nominal
        units, :meth:`scale`; the ratios' centre is the one the stored correction was fitted with, else
        :func:`latency.reference.ratio_center` of the context's measured blocks, or ``ratio_center``
        when given; ``ratio_band``:
        the reference's noise band, 0 to take every ratio as it is); ``predicted``: fill unmeasured
        layers with the block model's stored predictions."""
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
        df = store.frame()
        for f, v in context.as_row().items():
            df = df[df[f] == v]

        layer_rows = df[df["entry"] == ENTRY_LAYER].to_dict("records")
        correction = Correction.load(store.root, context) if corrected else None
        center, band = 1.0, 0.0  # not normalized: the raw medians (and a ratio taken as it is)
        if normalized:
            band = ratio_band
            center = usual_level([float(r["ref_ratio"]) for r in layer_rows])
            if correction is not None and correction.ratio_center > 0:
                center = correction.ratio_center  # the units the correction was fitted in
            elif correction is not None and correction.models:
                log.warning(
                    "the correction of %s was fitted before drift ratios were read through the "
                    "reference's noise band (its units may be off by up to 10%%); re-fit it with "
                    "`phonenas lut validate`",
                    context.label(),
                )
            if ratio_center is not None:
                center = ratio_center

        def value(r: dict) -> float:
            ratio = float(r["ref_ratio"])
            if not normalized or ratio <= 0:
                return float(r[statistic])
            return float(r[statistic]) / device_scale(ratio, center, band)

        def key(r: dict) -> BlockKey:
            return BlockKey(**{f: _py(r[f]) for f in BLOCK_FIELDS})  # type: ignore[arg-type]

        entries = {key(r): value(r) for r in layer_rows}
        pred_rows = df[df["entry"] == ENTRY_PREDICTED].to_dict("records") if predicted else []
        preds = {key(r): float(r["median_ms"]) for r in pred_rows}
        unc = {key(r): float(r["uncertainty"]) for r in pred_rows}
        over = df[df["entry"] == ENTRY_OVERHEAD]
        call_ms = value(over.to_dict("records")[0]) if len(over) else None
        ref = df[df["entry"] == ENTRY_REFERENCE]
        reference_ms = float(ref["median_ms"].iloc[0]) if len(ref) else None
        if corrected and correction is None and call_ms is not None:
            correction = Correction(call_ms, 0.0, "measured call overhead")
        return cls(context, entries, call_ms, correction, statistic, preds, unc, reference_ms, center, band)

    def __len__(self) -> int:
        return len(self.entries)

    def has(self, key: BlockKey) -> bool:
        return key in self.entries or key in self.predicted

    def value_ms(self, key: BlockKey) -> tuple[float, str]:
        """(entry, source) of a stored key: measured first, else the block model's prediction."""
        if key in self.entries:
            return self.entries[key], "lut"
        return self.predicted[key], "predicted"

    def missing(self, layers: Iterable[LayerShape]) -> list[BlockKey]:
        out: dict[BlockKey, None] = {}
        for layer in layers:
            k = BlockKey.from_layer(layer)
            if layer.kind is not LayerKind.SKIP and not self.has(k):
                out.setdefault(k, None)
        return list(out)

    def layer_costs(
        self,
        layers: Sequence[LayerShape],
        interpolate: bool = False,
        whole_model: bool = True,
        spill: bool = True,
    ) -> list[LayerCost]:
        """Per-layer costs; raises one MissingEntriesError naming every missing key unless interpolating.

        ``whole_model``: ``layers`` form one model, whose weights set the correction's cache spill;
        ``False`` costs each layer as if alone. ``spill=False`` leaves the cache-spill term out (the
        caller adds it once per model: :meth:`predict`, the search's :class:`latency.cost.LUTCost`)."""
        missing = self.missing(layers)
        estimates: dict[BlockKey, float] = {}
        if missing:
            if not interpolate:
                raise MissingEntriesError(self.context, missing)
            estimates = {k: interpolate_ms(k, self.entries, self.context) for k in missing}
        model_mparams = self.correction.model_spill_mparams(layers) if whole_model else None
        out = []
        for layer in layers:
            k = BlockKey.from_layer(layer)
            if self.has(k):
                ms, source = self.value_ms(k)
            elif layer.kind is LayerKind.SKIP:
                ms, source = 0.0, "identity"
            else:
                ms, source = estimates[k], "interpolated"
            if source == "identity":
                cost = ms
            elif spill:
                cost = self.correction.layer_cost_ms(layer, ms, model_mparams)
            else:
                cost = self.correction.base_cost_ms(layer, ms)
            out.append(LayerCost(layer.name, k, ms, cost, source))
        return out

    def model_overhead_ms(self) -> float:
        return self.correction.model_overhead_ms()

    def predict(self, arch: ArchSpec, interpolate: bool = False, ref_ratio: float = 1.0) -> Prediction:
        """Whole-model latency at the nominal speed times ``ref_ratio`` (the device's speed of the
        moment; 1 = nominal; from a drift reference's ratio: ``lut.scale(ratio)``)."""
        layers = profile_arch(arch).layers
        costs = self.layer_costs(layers, interpolate, spill=False)
        mparams = self.correction.model_spill_mparams(layers)
        return Prediction(
            arch,
            self.context,
            tuple(costs),
            self.model_overhead_ms(),
            self.correction,
            ref_ratio,
            self.correction.spill_ms(mparams),
            mparams,
        )


def model_mparams(layers: Iterable[LayerShape]) -> float:
    """Weights (millions) of a model's measured (non-skip) layers: what the cache-spill term sees."""
    return sum(la.params for la in layers if la.kind is not LayerKind.SKIP) / 1e6


def arch_mparams(arch: ArchSpec) -> float:
    """:func:`model_mparams` of ``arch``'s layers."""
    return model_mparams(profile_arch(arch).layers)


def _py(v: object) -> object:
    return v.item() if hasattr(v, "item") else v
