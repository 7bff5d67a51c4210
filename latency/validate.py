"""LUT accuracy: predict whole models from their blocks and compare with measuring them whole.

Reports the nn-Meter metrics (RMSE, RMSPE, % of models within +-5/10/15 %) for three predictors:
the plain sum of block entries, the sum corrected by the measured call overhead only, and the sum
with the boundary correction fitted on separate calibration models (:mod:`latency.correction`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from latency.collect import (
    MODEL_READINGS,
    CollectReport,
    ReferenceSettings,
    collect,
    die_with_parent,
    meter_rounds,
)
from latency.correction import CalibrationModel, Correction, calibration_model, select_correction
from latency.export import ArtifactCache, model_artifact
from latency.keys import BlockKey, Context, DType, Runtime, keys_from_archs, resolve_lut
from latency.lut import LUT, arch_mparams
from latency.meters import Meter
from latency.progress import BlockProgress
from latency.reference import REFERENCE_KEY, REMEASURE_STATUSES, reference_measure, time_with_reference
from latency.stats import summarize
from latency.store import Drift, LUTStore
from search.arch import ArchSpec, LayerKind, encode_arch, profile_arch

log = logging.getLogger(__name__)

PREDICTORS = ("plain_sum", "call_overhead", "fitted")
SPILL = "fitted_spill"  # boundary + cache-spill correction (``fit_weights=True``)
# bytes per stored weight by LUT dtype: turns the correction's spill caps (MB per layer) into weights
WEIGHT_BYTES = {"fp32": 4, "fp16": 2, "int8": 1, "int8w": 1}
# calibration models timed with a suspect one to read the speed of its second session (Reread)
REREAD_ANCHORS = 4


@dataclass(frozen=True)
class Metrics:
    n: int
    rmse_ms: float
    rmspe_pct: float
    mape_pct: float
    within_5_pct: float
    within_10_pct: float
    within_15_pct: float


def accuracy_metrics(predicted_ms: Sequence[float], measured_ms: Sequence[float]) -> Metrics:
    """nn-Meter's metrics: RMSE, RMSPE and the share of models within +-5/10/15 % of the measurement."""
    p, t = np.asarray(predicted_ms, dtype=float), np.asarray(measured_ms, dtype=float)
    if p.shape != t.shape or p.size == 0:
        raise ValueError("need as many predictions as measurements, at least one")
    if np.any(t <= 0):
        raise ValueError("measured latencies must be > 0")
    rel = (p - t) / t
    return Metrics(
        n=int(p.size),
        rmse_ms=float(math.sqrt(np.mean((p - t) ** 2))),
        rmspe_pct=float(100 * math.sqrt(np.mean(rel**2))),
        mape_pct=float(100 * np.mean(np.abs(rel))),
        within_5_pct=float(100 * np.mean(np.abs(rel) <= 0.05)),
        within_10_pct=float(100 * np.mean(np.abs(rel) <= 0.10)),
        within_15_pct=float(100 * np.mean(np.abs(rel) <= 0.15)),
    )


@dataclass(frozen=True)
class ModelResult:
    name: str
    arch: str
    role: str  # "calibration" | "validation"
    measured_ms: float
    predicted_ms: dict[str, float]  # at the speed the drift reference read (LUT.scale of ref_ratio)
    ref_ratio: float = 1.0  # device speed while measured, relative to the LUT's nominal reading
    remeasured: int = 0  # re-measured because the reference said the device was unstable
    unstable: bool = False  # still unstable after the re-measure budget
    # why the saved correction (the last predictor) was applied outside the range of the calibration
    # models it was fitted on (:meth:`latency.lut.Prediction.extrapolated`); None: inside it
    extrapolated: str | None = None


@dataclass
class ValidationResult:
    context: Context
    correction: Correction
    models: list[ModelResult] = field(default_factory=list)
    collect_report: CollectReport | None = None
    statistic: str = "median_ms"
    predictors: tuple[str, ...] = PREDICTORS  # the last one is ``correction``, the one saved

    def metrics(
        self, predictor: str, role: str = "validation", names: Callable[[str], bool] | None = None
    ) -> Metrics:
        rows = [m for m in self.models if m.role == role and (names is None or names(m.name))]
        return accuracy_metrics([m.predicted_ms[predictor] for m in rows], [m.measured_ms for m in rows])

    def to_dict(self) -> dict[str, object]:
        return {
            "context": self.context.as_row(),
            "statistic": self.statistic,
            "correction": {
                "call_ms": self.correction.call_ms,
                "io_ms_per_melem": self.correction.io_ms_per_melem,
                "weight_ms_per_mparam": self.correction.weight_ms_per_mparam,
                "free_mparams": self.correction.free_mparams,
                "spill_shape": self.correction.spill_shape,
                "full_mparams": self.correction.full_mparams,
                "se_ms": self.correction.se_ms,
                "method": self.correction.method,
                "ratio_center": self.correction.ratio_center,
            },
            "predictors": list(self.predictors),
            "metrics": {p: asdict(self.metrics(p)) for p in self.predictors},
            "models": [asdict(m) for m in self.models],
        }


class ModelTiming(list[float]):
    """A whole model's samples (ms) with the drift reference's view of them (``.drift``)."""

    drift: Drift

    def __init__(self, samples: list[float], drift: Drift | None = None) -> None:
        super().__init__(samples)
        self.drift = drift or Drift()


def measure_models(
    archs: Sequence[ArchSpec],
    runtime: str,
    dtype: DType,
    meter: Meter,
    cache: ArtifactCache,
    export_workers: int = 0,
    on_progress: Callable[[str, int, int], None] | None = None,
    nominal_ms: float | None = None,
    reference: ReferenceSettings | None = None,
    readings: int = MODEL_READINGS,
) -> list[ModelTiming]:
    """Latency samples (ms) of each whole arch, exported through deploy (cached) and timed by ``meter``,
    bracketed by the drift reference like the LUT's blocks: each result's ``.drift.ref_ratio`` is the
    device's speed relative to ``nominal_ms`` (the LUT's nominal reading, ``LUT.reference_ms``; None:
    the first reading of this session) - compare with ``lut.predict(arch, ref_ratio=lut.scale(...))``. A model
    timed while the reference said the device was unstable is measured again (``.drift.remeasured``).
    Each model is read ``readings`` times per ``meter.rounds`` (interleaved rounds of their own), the
    fastest reading kept (:data:`latency.collect.MODEL_READINGS`)."""
    if readings < 1:
        raise ValueError(f"readings must be >= 1, got {readings}")
    paths = export_models(archs, runtime, dtype, cache, export_workers, on_progress)
    todo = list(range(len(archs)))
    cfg = reference or ReferenceSettings()
    ref_artifact = cache.get(REFERENCE_KEY, runtime, dtype)
    drift = cfg.drift_reference(reference_measure(meter, ref_artifact, runtime), nominal_ms)
    # interleaved rounds, the quietest (lowest raw median) kept, as for blocks; whole models read more
    rounds = meter_rounds(meter) * readings
    done = 0

    def step(i: int, status: str, med: float | None) -> None:
        nonlocal done
        if status not in REMEASURE_STATUSES:
            done = min(done + 1, rounds * len(archs))
        if on_progress:
            on_progress("time models", done, rounds * len(archs))

    def error(i: int, e: BaseException) -> None:
        raise e

    timed = time_with_reference(
        todo,
        lambda i: meter.measure(paths[i], (archs[i].in_ch, archs[i].input_hw, archs[i].input_hw), runtime),
        drift,
        rounds,
        on_error=error,
        on_step=step,
        contention=getattr(meter, "contention", None),
    )
    return [ModelTiming(timed[i].samples_ms, timed[i].drift) for i in todo]


@dataclass(frozen=True)
class ModelSpeed:
    """The device's speed relative to a LUT's nominal, read off whole models timed in one session."""

    ratio: float  # measured now / measured then (median, or interpolated by weights: ``basis``)
    n: int  # models it was read from
    spread: tuple[float, float]  # lowest and highest single-model ratio among them
    basis: str = "median"  # "median" (all models) | "nearest in weights" (the models bracketing one)

    def to_dict(self) -> dict[str, object]:
        return {"ratio": self.ratio, "n": self.n, "spread": list(self.spread), "basis": self.basis}


def model_speed(
    lut: LUT, archs: Sequence[ArchSpec], measured_ms: Sequence[float], like: ArchSpec | None = None
) -> ModelSpeed:
    """How fast the device runs whole models now compared with when ``lut`` was collected: the median
    over ``archs`` of measured now / measured then - or, with ``like``, the speed of models of its
    weight: interpolated (in log weights) between the two of ``archs`` whose weights bracket ``like``'s,
    the nearest one's where none lies on one side.

    Meant for the LUT's calibration models (``lut.correction.models``) timed in the same session as the
    models to be compared with the LUT, never for those models themselves: a drift reference made of
    whole models of the user's scale. "Then" is the calibration model's own whole-model measurement the
    correction was fitted on (nominal units; not its outliers, whose reading is the suspect one), so the
    fit's residuals do not enter the speed; an arch the correction was not fitted on is compared with
    ``lut.predict(arch)`` instead. A later session on a shared VM or a phone can run 10-35% off the
    collection's speed, and the small reference layer does not follow it (on the 2-core VM the demo's
    measure stage read the small reference 26-34% faster than nominal while whole models ran at about
    nominal speed, so predictions scaled by it came out 40-60% low).

    Why ``like``: the speed is not one number for every size. Whole models heavy in weights stream them
    from memory, and a later session can run those slower than the light ones (a 2-core Intel VM,
    2 MiB L2, a demo's ExecuTorch int8 LUT: its heaviest calibration model, MobileNetV3-Small x1.125 at
    2.0 M weights, ran 1.41-1.47x its collection-time reading in the measure stage while the median over
    the twelve was 1.01-1.05, which put MobileNetV3-Small x1 24% low in both of its sessions; re-timed in
    a fresh process, x0.875 ran 1.05x and x1.125 1.25x its reading while the light ones held)."""
    if len(archs) != len(measured_ms) or not archs:
        raise ValueError(
            f"model_speed needs one measurement per arch (got {len(archs)} archs, {len(measured_ms)})"
        )
    then = {m.arch: m for m in lut.correction.models}
    ratios, sizes = [], []
    for arch, ms in zip(archs, measured_ms, strict=True):
        text = encode_arch(arch)
        fitted = then.get(text)
        ref = fitted.whole_ms if fitted else lut.predict(arch).latency_ms
        if not (ref > 0 and ms > 0 and math.isfinite(ms)):
            raise ValueError(f"model_speed: {text} measured {ms} ms now, {ref} ms when calibrated")
        ratios.append(ms / ref)
        sizes.append(fitted.mparams if fitted and fitted.mparams > 0 else arch_mparams(arch))
    if like is None:
        return ModelSpeed(float(np.median(ratios)), len(ratios), (min(ratios), max(ratios)))
    return _speed_by_weight(arch_mparams(like), sizes, ratios)


def _speed_by_weight(mparams: float, sizes: Sequence[float], ratios: Sequence[float]) -> ModelSpeed:
    """The ratio at ``mparams`` million weights: linear in log weights between the nearest model at or
    below and the nearest at or above (models of equal weight averaged), else the nearest one's."""
    by_size: dict[float, list[float]] = {}
    for s, r in zip(sizes, ratios, strict=True):
        by_size.setdefault(s, []).append(r)
    points = sorted((s, float(np.mean(rs))) for s, rs in by_size.items())
    below = [p for p in points if p[0] <= mparams]
    above = [p for p in points if p[0] >= mparams]
    used = below[-1:] + above[:1]
    if len(used) == 2 and used[0][0] < used[1][0]:
        (s0, r0), (s1, r1) = used
        t = math.log(max(mparams, 1e-9) / max(s0, 1e-9)) / math.log(max(s1, 1e-9) / max(s0, 1e-9))
        ratio = r0 + t * (r1 - r0)
    else:
        used = used[:1]
        ratio = used[0][1]
    picked = [r for s, _ in used for r in by_size[s]]
    return ModelSpeed(float(ratio), len(picked), (min(picked), max(picked)), "nearest in weights")


def export_models(
    archs: Sequence[ArchSpec],
    runtime: str,
    dtype: DType,
    cache: ArtifactCache,
    export_workers: int = 0,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[Path]:
    """Each whole arch exported through deploy (cached), in ``export_workers`` processes (0: here)."""
    paths: dict[int, Path] = {}
    if export_workers > 0 and len(archs) > 1:
        with ProcessPoolExecutor(
            min(export_workers, len(archs)), mp_context=get_context("spawn"), initializer=die_with_parent
        ) as pool:
            futs = {
                pool.submit(_model_job, str(cache.root), cache.salt, a, runtime, dtype): i
                for i, a in enumerate(archs)
            }
            for n, f in enumerate(as_completed(futs), 1):
                paths[futs[f]] = Path(f.result())
                if on_progress:
                    on_progress("export models", n, len(archs))
    else:
        for i, a in enumerate(archs):
            paths[i] = model_artifact(cache, a, runtime, dtype)
            if on_progress:
                on_progress("export models", i + 1, len(archs))
    return [paths[i] for i in range(len(archs))]


def _model_job(root: str, salt: tuple[str, ...], arch: ArchSpec, runtime: str, dtype: DType) -> str:
    return str(model_artifact(ArtifactCache(Path(root), salt), arch, runtime, dtype))


def validate(
    store: LUTStore,
    validation: Sequence[tuple[str, ArchSpec]],
    calibration: Sequence[tuple[str, ArchSpec]],
    runtime: Runtime | str,
    dtype: DType | str,
    meter: Meter,
    cache: ArtifactCache,
    export_workers: int = 0,
    on_progress: Callable[[str, int, int], None] | None = None,
    save_correction: bool = True,
    statistic: str = "median_ms",
    fit_weights: bool = False,
    model_readings: int = MODEL_READINGS,
    keys: Sequence[BlockKey] = (),
    reference: ReferenceSettings | None = None,
) -> ValidationResult:
    """Collect missing block entries, measure every model whole, fit the correction on ``calibration``
    and report predicted vs measured for every model (metrics: :meth:`ValidationResult.metrics`).
    ``keys``: more blocks to collect in the same session (a whole LUT: the search space's candidates),
    so that the correction is fitted on blocks and models timed over the same minutes.

    The whole models are timed in the collection's interleaved rounds, among the blocks the collection
    measures; on a store that already holds every block they are timed in rounds of their own. Either
    way with the collection's drift reference, so ``ref_ratio`` is relative to the LUT's nominal reading.

    ``statistic`` (median_ms, trimmed_mean_ms, p10_ms, min_ms) is used for LUT entries and whole models
    alike; ``fit_weights`` also fits the cache-spill hinge (needs calibration models whose weights exceed
    the caches, e.g. zoo models) and reports it as the extra predictor ``fitted_spill``."""
    runtime, dtype = resolve_lut(runtime, dtype)  # a target name: keeps the delegate
    all_models = [*calibration, *validation]
    archs = [a for _, a in all_models]
    keys = list(dict.fromkeys([*keys, *keys_from_archs(archs)]))
    paths = export_models(archs, runtime, dtype, cache, export_workers, on_progress)

    def blocks(p: BlockProgress) -> None:
        if on_progress:
            what = "blocks and models" if p.phase == "measure" else "blocks"
            on_progress(f"{p.phase} {what}", p.done, p.total)

    # the models are timed in the collection's rounds, among the blocks (see latency.collect.collect)
    rep = collect(
        store,
        keys,
        runtime,
        dtype,
        meter,
        cache,
        export_workers,
        on_progress=blocks,
        models=[(p, (a.in_ch, a.input_hw, a.input_hw)) for p, a in zip(paths, archs, strict=True)],
        model_readings=model_readings,
        reference=reference,
    )
    context = rep.context
    assert context is not None
    raw = LUT.from_store(store, context, statistic=statistic, corrected=False)
    samples = [ModelTiming(t.samples_ms, t.drift) for t in rep.models]
    measured = [float(getattr(summarize(s), statistic)) for s in samples]
    # the device's speed while each model ran, as the LUT reads its drift reference (LUT.scale)
    speeds = [raw.scale(s.drift.ref_ratio) for s in samples]
    # the correction is fitted in nominal units, like the entries it corrects
    nominal = [m / r for m, r in zip(measured, speeds, strict=True)]

    calib_models = []
    for (_name, arch), whole in zip(calibration, nominal[: len(calibration)], strict=True):
        layers = [la for la in profile_arch(arch).layers if la.kind is not LayerKind.SKIP]
        entries = [c.measured_ms for c in raw.layer_costs(layers)]
        calib_models.append(calibration_model(encode_arch(arch), layers, entries, whole))
    center = raw.ratio_center  # saved with the fit: the units its calibration models are in
    reread = Reread(
        {m.arch: a for m, (_, a) in zip(calib_models, calibration, strict=True)},
        calib_models,
        lambda these: [
            float(getattr(summarize(s), statistic))
            for s in measure_models(
                these,
                runtime,
                dtype,
                meter,
                cache,
                export_workers,
                nominal_ms=raw.reference_ms,
                reference=reference,
                readings=model_readings,
            )
        ],
        on_progress,
    )
    fitted = replace(
        select_correction(calib_models, raw.call_overhead_ms, reread=reread), ratio_center=center
    )
    call = Correction(raw.call_overhead_ms or 0.0, 0.0, "measured call overhead", ratio_center=center)

    luts = {
        "plain_sum": raw,
        "call_overhead": raw.with_correction(call),
        "fitted": raw.with_correction(fitted),
    }
    if fit_weights:  # before/after: the same calibration models, plus the cache-spill hinge
        fitted = replace(
            select_correction(
                calib_models,
                raw.call_overhead_ms,
                weights=True,
                reread=reread,
                bytes_per_weight=WEIGHT_BYTES.get(context.dtype.value, 4),
            ),
            ratio_center=center,
        )
        luts[SPILL] = raw.with_correction(fitted)
    if save_correction:
        fitted.save(store.root, context)
    result = ValidationResult(
        context, fitted, collect_report=rep, statistic=statistic, predictors=tuple(luts)
    )
    roles = ["calibration"] * len(calibration) + ["validation"] * len(validation)
    for (name, arch), whole, role, s, speed in zip(all_models, measured, roles, samples, speeds, strict=True):
        # predicted at the device's speed of the moment the model was measured (drift reference)
        got = {p: lut.predict(arch, ref_ratio=speed) for p, lut in luts.items()}
        preds = {p: g.latency_ms for p, g in got.items()}
        result.models.append(
            ModelResult(
                name,
                encode_arch(arch),
                role,
                whole,
                preds,
                s.drift.ref_ratio,
                s.drift.remeasured,
                s.drift.unstable,
                got[result.predictors[-1]].extrapolated,
            )
        )
    return result


class Reread:
    """A suspect calibration model timed again (:func:`latency.correction.select_correction`'s
    ``reread``), in nominal units: in a session of its own with the :data:`REREAD_ANCHORS` other calibration
    models nearest it in weights, whose now / then (median) is the session's speed - a later session can
    run 10-35% off the collection's, heavy models off the light ones (:func:`model_speed`). Each model is
    timed at most once (the fits with and without the cache-spill term ask about the same models)."""

    def __init__(
        self,
        archs: dict[str, ArchSpec],
        models: Sequence[CalibrationModel],
        time: Callable[[list[ArchSpec]], list[float]],
        on_progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.archs, self.models, self.time, self.on_progress = archs, list(models), time, on_progress
        self.done: dict[str, float | None] = {}

    def __call__(self, suspect: CalibrationModel) -> float | None:
        if suspect.arch not in self.done:
            self.done[suspect.arch] = self._read(suspect)
        return self.done[suspect.arch]

    def _read(self, suspect: CalibrationModel) -> float | None:
        others = [m for m in self.models if m.arch != suspect.arch and m.whole_ms > 0]
        log_w = math.log(max(suspect.mparams, 1e-6))
        anchors = sorted(others, key=lambda m: abs(math.log(max(m.mparams, 1e-6)) - log_w))[:REREAD_ANCHORS]
        if not anchors or suspect.arch not in self.archs:
            return None
        if self.on_progress:
            self.on_progress("re-read a suspect calibration model", 0, 1)
        ms = self.time([self.archs[suspect.arch], *(self.archs[m.arch] for m in anchors)])
        speed = float(np.median([now / m.whole_ms for now, m in zip(ms[1:], anchors, strict=True)]))
        if self.on_progress:
            self.on_progress("re-read a suspect calibration model", 1, 1)
        if not (speed > 0 and math.isfinite(speed) and ms[0] > 0):
            return None
        return ms[0] / speed


def spread_by_weights(archs: Sequence[ArchSpec], n: int) -> list[ArchSpec]:
    """``n`` of ``archs`` at evenly spaced ranks of their weights, the lightest and heaviest included,
    lightest first. A correction fitted on models of one size says nothing about the others: the
    cache-spill term in particular (:mod:`latency.correction`) is a hinge whose knot can only be found
    between calibration models on both sides of it."""
    if n <= 0:
        return []
    ranked = sorted(archs, key=lambda a: (arch_mparams(a), encode_arch(a)))
    if n >= len(ranked):
        return ranked
    picks = sorted({round(i * (len(ranked) - 1) / max(n - 1, 1)) for i in range(n)})
    return [ranked[i] for i in picks]


def calibration_children(
    space, n: int, generator, exclude: Sequence[ArchSpec] = (), pool: int = 40
) -> list[ArchSpec]:
    """``n`` distinct random children of ``space`` (none in ``exclude``) spread over the space's range
    of weights: :func:`spread_by_weights` of ``pool * n`` random children. Uniform sampling alone
    concentrates around the middle size (``fbnetv2-f``: 90% of children within 5.5-8.3 M weights of a
    4.7-10.5 M range), so a correction fitted on a few of them extrapolates to the rest."""
    seen = set(exclude)
    cands: list[ArchSpec] = []
    for _ in range(50 * pool * max(n, 1)):
        if len(cands) >= pool * n:
            break
        a = space.sample_arch(generator)
        if a not in seen:
            seen.add(a)
            cands.append(a)
    return spread_by_weights(cands, n)


def light_children(
    space, k: int, generator, lo_mparams: float, exclude: Sequence[ArchSpec] = ()
) -> list[ArchSpec]:
    """``k`` random children of ``space`` narrowed (:meth:`ArchSpec.with_width`) to weights evenly spread
    from ``lo_mparams`` up to (not reaching) the space's lightest children, lightest first: calibration
    models for the users' models that are lighter than anything in the space (MobileNetV3-Small's 2.5 M
    weights against ``fbnetv2-f``'s 4.7 M). They are not space members - they only place the correction's
    cache-spill knot where those models are, instead of extrapolating it to them."""
    if k <= 0:
        return []
    pool = calibration_children(space, 2 * k, generator, exclude, pool=10)
    top = arch_mparams(pool[0])  # the lightest of a spread pool
    if lo_mparams >= top:
        return []
    seen = set(exclude) | set(pool)
    out: list[ArchSpec] = []
    mults = [m / 100 for m in range(25, 100)]
    for i in range(k):
        target = lo_mparams + i * (top - lo_mparams) / k
        base = pool[(i + 1) % len(pool)]
        cands = [base.with_width(m) for m in mults]
        best = min(cands, key=lambda a: abs(arch_mparams(a) - target))
        if best not in seen:
            seen.add(best)
            out.append(best)
    return out


def _n_blocks(arch: ArchSpec) -> int:
    """Blocks that compute (identity skips do not)."""
    return sum(1 for la in profile_arch(arch).blocks if la.kind is not LayerKind.SKIP)


def edge_children(
    space,
    generator,
    models: Sequence[ArchSpec],
    exclude: Sequence[ArchSpec] = (),
    heavy: int = 2,
    short: int = 2,
    heavy_macs: float = 2.0,
) -> list[tuple[str, ArchSpec]]:
    """Calibration models at the edges of ``models`` (the validation models) that children spread over the
    space's weights at its own resolutions do not reach. :meth:`Correction.outside_range` compares a model
    with its calibration models by layer count, entry sum and weights; at real scale a spread alone left
    MobileNetV3-Small (13 layers against the children's 20-21), MobileNetV2 at 96 px (1.0 ms of entries
    against >= 1.9 ms) and ProxylessNAS-Mobile at 224 px (15-16 ms against <= 7 ms: ~1.6x the time per MAC
    of the space's children, hence 2x the MACs below) outside it in every context
    (``benchmarks/lut_accuracy.py`` runs 16-18, 2-core AMD EPYC VM; with these, runs 19-21: none). Hence

    * ``heavy`` children, the ones with the most MACs of a random pool within the weights of ``models``
      (so that the cache-spill term, a function of weights, keeps its range), each at the lowest 32-px step
      of resolution above ``models``' highest whose MACs reach ``heavy_macs`` times the heaviest model's, and
    * ``short`` children whose blocks after each stage's first are skipped (identities) down to two
      blocks fewer than the model with the fewest, at ``models``' lowest and highest resolutions in turn.

    They are placed from the models' shapes alone (nothing is timed), and none is one of ``models``.
    Returns ``("heavy" | "short", arch)`` pairs, heavy first."""
    import torch

    from search.space import SKIP

    if not models:
        return []
    seen = set(exclude) | set(models)
    out: list[tuple[str, ArchSpec]] = []
    top_res = max(a.input_hw for a in models)
    low_res = min(a.input_hw for a in models)
    max_macs = max(profile_arch(a).macs for a in models)
    weights = [arch_mparams(a) for a in models]
    lo_w, hi_w = min(weights), max(weights)
    if heavy > 0:
        pool = calibration_children(space, 4 * heavy, generator, list(seen), pool=10)
        inside = [a for a in pool if lo_w <= arch_mparams(a) <= hi_w] or pool
        most = sorted(inside, key=lambda a: (-profile_arch(a.with_input_hw(top_res)).macs, encode_arch(a)))
        for a in most[:heavy]:
            hw = top_res
            while profile_arch(a.with_input_hw(hw)).macs < heavy_macs * max_macs and hw < 4 * top_res:
                hw += 32
            a = a.with_input_hw(hw)
            if a not in seen:
                seen.add(a)
                out.append(("heavy", a))
    fewest = min(_n_blocks(a) for a in models)
    block_vars = space.block_vars()
    widths = space.width_vars()
    # identities: a skipped block keeps its input width (the width choice of the block before it)
    droppable = [name for name, _i, _o, k, j in block_vars if j > 0 and space.stages[k].skip]
    keep = len(block_vars) - len(droppable)  # each stage's first block stays
    n_drop = max(0, len(droppable) - (max(keep, fewest - 2) - keep))
    for i in range(short):
        choices = space.sample_choices(generator)
        order = torch.randperm(len(droppable), generator=generator).tolist()
        drop = {droppable[d] for d in order[:n_drop]}
        for name, in_var, out_var, _k, _j in block_vars:
            if name in drop:
                ops = space.variable(f"{name}.op").values
                choices[f"{name}.op"] = ops.index(SKIP)
                if in_var != "stem.w" and widths[in_var] == widths[out_var]:
                    choices[out_var] = choices[in_var]
        a = space.arch_from_choices(choices).with_input_hw(low_res if i % 2 == 0 else top_res)
        if a not in seen:
            seen.add(a)
            out.append(("short", a))
    return out


# the space whose children span the zoo models' sizes (FBNetV2 and MobileNetV3 at a common resolution):
# calibration for a validation that scores the zoo next to a smaller space's children (``digits``)
ZOO_SPAN_SPACE = "fbnetv2-f"


def zoo_span_children(
    k: int, generator, input_hw: int, num_classes: int, exclude: Sequence[ArchSpec] = ()
) -> list[ArchSpec]:
    """``k`` calibration models over the zoo models' range of weights at ``input_hw`` (none a zoo model):
    :data:`ZOO_SPAN_SPACE` children spread over its weights and, for a third of them, narrowed children
    down to 85% of the lightest zoo model (:func:`light_children`). Scoring the zoo at 64 px with a
    correction fitted on ``digits`` children alone (0.02-0.13 M weights, 0.03-0.05 ms against the zoo's
    1.5-6.6 M and 0.24-1.8 ms) extrapolated it 10-50x: FBNetV2 came out 8-20% low and MobileNetV3-Small
    24-45% high in every toy run (ExecuTorch fp32 on the 2-core VM, 2026-12-03)."""
    from search.space import get_space
    from search.zoo import ZOO, get_arch

    if k <= 0:
        return []
    sp = get_space(ZOO_SPAN_SPACE)
    seen = set(exclude) | {get_arch(name, input_hw, num_classes) for name in ZOO}
    # in the space's own classes, as light_children compares it with the space's children
    lo = 0.85 * min(arch_mparams(get_arch(name, input_hw)) for name in ZOO)
    n_light = k // 3
    picked = light_children(sp, n_light, generator, lo) + calibration_children(sp, k - n_light, generator)
    out: list[ArchSpec] = []
    for a in picked:
        a = a.with_input_hw(input_hw).with_num_classes(num_classes)
        if a not in seen:
            seen.add(a)
            out.append(a)
    return out


def sample_validation_archs(
    space: str,
    n: int,
    calib: int,
    seed: int,
    zoo: bool,
    zoo_hw: int,
    zoo_calib: Sequence[str] = (),
    zoo_span: int = 0,
    edges: int = 0,
) -> tuple[list[tuple[str, ArchSpec]], list[tuple[str, ArchSpec]]]:
    """(validation, calibration) lists of (name, ArchSpec): random archs of ``space`` (+ zoo models);
    the calibration children are spread over the space's weights (:func:`calibration_children`).

    Zoo models named in ``zoo_calib`` go to calibration; a validation model identical to a
    calibration one (e.g. two zoo models that coincide at ``zoo_hw``) is dropped from validation.
    ``zoo_span``: that many calibration models over the zoo's sizes (:func:`zoo_span_children`, named
    ``span<i>``), so the zoo is scored inside the correction's fitted range. ``edges``: that many heavy
    and that many short calibration children at the random archs' edges (:func:`edge_children`, named
    ``heavy<i>@<hw>`` / ``short<i>@<hw>``), so that the space's heaviest and shortest random archs are
    not scored outside the correction's range either (what ``benchmarks/lut_accuracy.py`` does at real
    scale); 0 leaves the calibration as it was."""
    import torch

    from search.space import get_space
    from search.zoo import ZOO, get_arch

    sp = get_space(space)
    g = torch.Generator().manual_seed(seed)
    archs: list[ArchSpec] = []
    seen: set[ArchSpec] = set()
    attempts = 0
    while len(archs) < n and attempts < 50 * (n + 1):
        attempts += 1
        a = sp.sample_arch(g)
        if a not in seen:
            seen.add(a)
            archs.append(a)
    val = [(f"rand{i}", a) for i, a in enumerate(archs)]
    # calibration spread over the space's sizes (the validation models are what users' look like)
    cal = [(f"calib{i}", a) for i, a in enumerate(calibration_children(sp, calib, g, archs))]
    if edges > 0:
        edge = edge_children(sp, g, archs, [a for _, a in cal], heavy=edges, short=edges)
        cal += [(f"{kind}{i}@{a.input_hw}", a) for i, (kind, a) in enumerate(edge)]
    unknown = set(zoo_calib) - set(ZOO)
    if unknown:
        raise ValueError(f"unknown zoo model(s) {sorted(unknown)}; choose from {', '.join(ZOO)}")
    if zoo:
        zoo_archs = [(name, get_arch(name, input_hw=zoo_hw, num_classes=sp.num_classes)) for name in ZOO]
        cal += [(name, a) for name, a in zoo_archs if name in zoo_calib]
        span = zoo_span_children(zoo_span, g, zoo_hw, sp.num_classes, [*archs, *(a for _, a in cal)])
        cal += [(f"span{i}", a) for i, a in enumerate(span)]
        cal_archs = {a for _, a in cal}
        val += [(name, a) for name, a in zoo_archs if name not in zoo_calib and a not in cal_archs]
    return val, cal
