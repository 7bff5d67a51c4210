"""What a LUT store holds, per context: entry counts, median range, call overhead, correction; and
the slowest entries of a context. Plain data for ``phonenas lut show`` and scripts."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from latency.correction import Correction
from latency.keys import BLOCK_FIELDS, BlockKey, Context
from latency.selection import ContextFilter
from latency.store import ENTRY_LAYER, ENTRY_OVERHEAD, ENTRY_PREDICTED, LUTStore


@dataclass(frozen=True)
class ContextSummary:
    context: Context
    entries: int  # measured layers
    median_min_ms: float | None
    median_max_ms: float | None
    call_ms: float | None  # the measured call-overhead probe
    correction: Correction | None  # fitted by `phonenas lut validate`, if any
    predicted: int = 0  # layers estimated by the block-latency model (not measured)


@dataclass(frozen=True)
class EntrySummary:
    key: BlockKey
    median_ms: float
    p10_ms: float
    p90_ms: float
    n: int


def context_rows(frame: pd.DataFrame, context: Context) -> pd.DataFrame:
    """The rows of ``frame`` (a store frame) that belong to ``context``."""
    sub = frame
    for f, v in context.as_row().items():
        sub = sub[sub[f] == v]
    return sub


def summarize_store(store: LUTStore, flt: ContextFilter | None = None) -> list[ContextSummary]:
    """One summary per stored context that ``flt`` matches (all by default), in context order."""
    flt = flt or ContextFilter()
    frame = store.frame()
    out = []
    for ctx in flt.select(store.contexts()):
        sub = context_rows(frame, ctx)
        if sub.empty:
            continue
        layers, over = sub[sub["entry"] == ENTRY_LAYER], sub[sub["entry"] == ENTRY_OVERHEAD]
        out.append(
            ContextSummary(
                ctx,
                len(layers),
                float(layers["median_ms"].min()) if len(layers) else None,
                float(layers["median_ms"].max()) if len(layers) else None,
                float(over["median_ms"].iloc[0]) if len(over) else None,
                Correction.load(store.root, ctx),
                int((sub["entry"] == ENTRY_PREDICTED).sum()),
            )
        )
    return out


def slowest_entries(store: LUTStore, context: Context, n: int) -> list[EntrySummary]:
    """The ``n`` layer entries of ``context`` with the highest median."""
    sub = context_rows(store.frame(), context)
    layers = sub[sub["entry"] == ENTRY_LAYER].sort_values("median_ms", ascending=False).head(n)
    return [
        EntrySummary(
            BlockKey(**{f: _py(r[f]) for f in BLOCK_FIELDS}),  # type: ignore[arg-type]
            float(r["median_ms"]),
            float(r["p10_ms"]),
            float(r["p90_ms"]),
            int(r["n"]),
        )
        for r in layers.to_dict("records")
    ]


def _py(v: object) -> object:
    return v.item() if hasattr(v, "item") else v
