"""Active collection: measure a designed sample, fit the block model, measure where it is least sure,
stop when held-out error stops improving or the time budget is spent, store predictions for the rest.

See :mod:`latency.block_model` for the model; measurements go through :func:`latency.collect.collect`
(drift reference, resumable), predictions are appended as ``predicted`` entries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

from latency.block_model import MODELS, BlockModel, design_sample, fit_block_model, most_uncertain
from latency.collect import CollectReport, ExportWorkers, ReferenceSettings, collect
from latency.export import ArtifactCache
from latency.keys import BlockKey, Context, DType, Runtime, resolve_lut
from latency.lut import LUT
from latency.meters import Meter
from latency.progress import BlockProgress
from latency.stats import summarize
from latency.store import ENTRY_PREDICTED, LUTStore, Provenance, make_row

log = logging.getLogger(__name__)


@dataclass
class ActiveReport:
    context: Context | None = None
    candidates: int = 0
    measured: int = 0  # candidates with a measured entry at the end
    predicted: int = 0  # candidates given a predicted entry
    model: str = ""
    model_version: str = ""
    heldout_rmspe_pct: list[float] = field(default_factory=list)  # after each fit
    scores: dict[str, float] = field(default_factory=dict)  # every candidate model, last fit
    stop: str = ""  # "converged" | "budget" | "exhausted"
    elapsed_s: float = 0.0
    collects: list[CollectReport] = field(default_factory=list)


def learn_block_latency(
    store: LUTStore,
    keys: Sequence[BlockKey],
    runtime: Runtime | str,
    dtype: DType | str,
    meter: Meter,
    cache: ArtifactCache,
    budget_s: float = 1800.0,
    initial: int = 200,
    batch: int = 50,
    patience: int = 2,
    min_gain: float = 0.05,
    models: Sequence[str] = MODELS,
    export_workers: int = 0,
    seed: int = 0,
    on_progress: Callable[[BlockProgress], None] | None = None,
    reference: ReferenceSettings | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> ActiveReport:
    """Measure a designed sample of ``keys``, then ``batch`` most-uncertain keys at a time until the
    held-out RMSPE has not improved by ``min_gain`` (relative) for ``patience`` fits, the next batch
    would end past ``budget_s`` (checked between batches, expecting it to take as long as the last one)
    or every key is measured; then store a prediction for every key still unmeasured. Keys measured
    before (resumed runs) count as measured."""
    t0 = clock()
    runtime, dtype = resolve_lut(runtime, dtype)  # a target name: keeps the delegate
    keys = list(dict.fromkeys(keys))
    rep = ActiveReport(candidates=len(keys))

    # one set of export workers for every batch: a pool per batch paid the workers' start-up each time
    with ExportWorkers(export_workers) if export_workers > 0 else nullcontext() as shared:
        workers: int | ExportWorkers = shared or 0

        last_batch_s = 0.0  # how long the latest active batch took: the next one is expected to take as long

        def measure(batch_keys: Sequence[BlockKey]) -> Context:
            r = collect(store, batch_keys, runtime, dtype, meter, cache, workers, on_progress, reference)
            rep.collects.append(r)
            assert r.context is not None
            return r.context

        context = measure(design_sample(keys, initial, seed))
        rep.context = context
        best_err, stale = float("inf"), 0
        model: BlockModel | None = None
        while True:
            measured = _measured(store, context, keys)
            todo = [k for k in keys if k not in measured]
            if not todo:
                rep.stop = "exhausted"
                break
            model = fit_block_model(measured, context, models, seed=seed)
            rep.heldout_rmspe_pct.append(model.heldout_rmspe_pct)
            if model.heldout_rmspe_pct < best_err * (1 - min_gain):
                best_err, stale = model.heldout_rmspe_pct, 0
            else:
                stale += 1
            if stale >= patience:
                rep.stop = "converged"
                break
            if clock() - t0 + last_batch_s >= budget_s:  # the next batch would end past the budget
                rep.stop = "budget"
                break
            t_batch = clock()
            measure(most_uncertain(model, todo, batch, seed))
            last_batch_s = clock() - t_batch
        measured = _measured(store, context, keys)
        todo = [k for k in keys if k not in measured]
        rep.measured = len(measured)
        if todo:
            if model is None or model.n_train != len(measured):
                model = fit_block_model(measured, context, models, seed=seed)
            store_predictions(store, context, model, todo, meter.provenance())
            rep.predicted = len(todo)
        if model is not None:
            rep.model, rep.model_version, rep.scores = model.name, model.version, dict(model.scores)
        rep.elapsed_s = clock() - t0
        log.info(
            "%s: %d measured, %d predicted by %s (held-out RMSPE %s), stop: %s",
            context.label(),
            rep.measured,
            rep.predicted,
            rep.model,
            rep.heldout_rmspe_pct,
            rep.stop,
        )
        return rep


def _measured(store: LUTStore, context: Context, keys: Sequence[BlockKey]) -> dict[BlockKey, float]:
    lut = LUT.from_store(store, context, corrected=False, predicted=False)
    return {k: lut.entries[k] for k in keys if k in lut.entries}


def store_predictions(
    store: LUTStore, context: Context, model: BlockModel, keys: Sequence[BlockKey], provenance: Provenance
) -> int:
    """Append one ``predicted`` entry per key (nominal ms, model version, relative uncertainty) in one part;
    keys the model cannot predict (interpolation without neighbours) are left out and logged."""
    ms, spread = model.predict(keys)
    rows = []
    for k, v, u in zip(keys, ms, spread, strict=True):
        if not (v > 0):
            log.warning("block model %s cannot predict %s; collect it", model.version, k.label())
            continue
        rows.append(
            make_row(
                context,
                k,
                summarize([float(v)]),
                [float(v)],
                provenance,
                ENTRY_PREDICTED,
                model_version=model.version,
                uncertainty=float(u),
            )
        )
    store.append(rows)
    return len(rows)
