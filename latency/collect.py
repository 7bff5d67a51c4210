"""Collection: keys -> skip what the store has -> export via deploy (cached) -> time -> append a row.

Each measured entry is appended as its own atomic part file the moment its last timing round ends,
so a killed run loses at most the timing rounds in flight (seconds on the host; exports are cached);
re-running skips everything already stored. With ``export_workers=N`` exports run in N processes
first; timing follows with the machine quiet, in ``meter.rounds`` interleaved rounds. Many devices:
:func:`collect_many`, one thread per device, one store.

Drift reference (:mod:`latency.reference`): every run first reads the context's fixed reference
layer (exported through the same runtime and dtype, timed by the same meter - host and adb alike;
the first run of a context stores its nominal reading), then interleaves readings with the blocks at
<= ``ReferenceSettings.max_overhead`` of the timing time. Every row records its reference ratio; a
block timed while the reference says the device was unstable is measured again and its row says so.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from statistics import median
from typing import Any

from latency.export import OVERHEAD_KEY, ArtifactCache
from latency.keys import BlockKey, Context, DType, Runtime, resolve_lut
from latency.meters import Meter
from latency.progress import BlockProgress
from latency.reference import (
    REFERENCE_KEY,
    REMEASURE_STATUSES,
    DriftReference,
    Timed,
    reference_measure,
    time_with_reference,
)
from latency.stats import fastest, summarize
from latency.store import ENTRY_LAYER, ENTRY_OVERHEAD, ENTRY_REFERENCE, LUTStore, Provenance, make_row

log = logging.getLogger(__name__)

# Readings of each whole model per timing round (spread over the round; the fastest of all its readings
# over all rounds is kept). One reading of a 2-10 ms model on the 2-core VM moves 7% (median coefficient
# of variation over 9 interleaved rounds of 42 LiteRT fp32 models, up to 14%): with 3 readings the
# fastest of them differed by a median 3.8% between two sets of readings of the same artifact and 90%
# of the validation models came out within 10% of the LUT on average (77-81% in the worst draw); with 6
# and 7 readings 97% and 99% (90% and 97% worst; benchmarks/lut_accuracy.py, 2026-12-03). Blocks keep
# one reading per round: a model's prediction sums 15-25 of them, and they are 95% of a collection's
# items. The price: a real-scale validation (42 models, 3 rounds) ran 9.5-15 min on the VM from cached
# exports (LiteRT fp32) instead of 2.4-3.9 min - each reading takes ~1.5 s and an unstable one is re-read.
MODEL_READINGS = 3


@dataclass
class CollectReport:
    context: Context | None = None
    total: int = 0
    skipped: int = 0  # already in the store
    measured: int = 0
    failed: list[tuple[BlockKey, str]] = field(default_factory=list)
    exports: int = 0
    cache_hits: int = 0
    elapsed_s: float = 0.0
    export_s: float = 0.0
    measure_s: float = 0.0  # timing phase, drift reference readings included
    reference_s: float = 0.0  # of which spent reading the drift reference
    remeasured: int = 0  # re-measurements because the reference said the device was unstable
    unstable: int = 0  # entries kept although still unstable after the re-measure budget
    contended: int = 0  # timings dropped (blocks, models, probe): waited > max_wait for a CPU (host)
    models: list[Timed] = field(default_factory=list)  # the ``models`` of :func:`collect`, in order

    @property
    def blocks_per_min(self) -> float:
        return 60.0 * self.measured / self.elapsed_s if self.elapsed_s > 0 else 0.0


def die_with_parent(parent_pid: int | None = None, ready: Any = None) -> None:
    """Export-worker initializer: on Linux, end this worker when the collecting process dies (a killed
    collection must not leave orphaned exporters burning the cores its re-run needs).

    ``PR_SET_PDEATHSIG`` only covers a parent that dies *after* the call, so the parent's pid is checked
    right after it: a worker whose parent is already gone (re-parented) exits at once. ``parent_pid``
    defaults to the spawning process (``multiprocessing.parent_process()``). Last, the worker reports its
    pid on ``ready`` (a multiprocessing queue), the start-up handshake :class:`ExportPool` waits on.
    """
    if parent_pid is None:
        parent = multiprocessing.parent_process()
        parent_pid = parent.pid if parent is not None else None
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        if parent_pid is not None and os.getppid() != parent_pid:
            os._exit(1)  # the collector died before the death signal was armed: nobody needs this worker
    if ready is not None:
        ready.put(os.getpid())


class ExportPool(ProcessPoolExecutor):
    """Spawned export workers that die with this process (:func:`die_with_parent`).

    Each worker reports once its initializer ran; :meth:`wait_started` blocks on that handshake, so
    callers (and tests) know when the workers are armed without guessing a sleep.
    """

    def __init__(self, workers: int) -> None:
        ctx = get_context("spawn")
        self._ready = ctx.Queue()
        self.started_pids: list[int] = []
        super().__init__(
            workers, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(), self._ready)
        )

    def wait_started(self, n: int, timeout_s: float = 120.0) -> list[int]:
        """Pids of the first ``n`` workers to finish their initializer; TimeoutError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while len(self.started_pids) < n:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise queue.Empty
                self.started_pids.append(int(self._ready.get(timeout=left)))
            except queue.Empty:
                raise TimeoutError(
                    f"{len(self.started_pids)} of {n} export workers started within {timeout_s:.0f} s"
                ) from None
        return list(self.started_pids)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        super().shutdown(wait, cancel_futures=cancel_futures)
        self._ready.close()
        self._ready.join_thread()


class ExportWorkers:
    """Export worker processes kept alive across :func:`collect` calls (a ``with`` block).

    A fresh :class:`ExportPool` per call pays every worker's start-up again: importing torch, the
    exporters and their first export's one-time set-up, ~10-50 s on a 2-core VM, per call. Active
    collection (:func:`latency.active.learn_block_latency`) calls :func:`collect` once per batch of
    50-60 blocks, so pass one ``ExportWorkers`` as ``export_workers`` to all of them. A pool broken
    by a dead worker (e.g. killed for memory) is replaced on the next use.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"ExportWorkers needs >= 1 worker, got {workers}")
        self.workers = workers
        self.starts = 0  # pools started (1 unless one broke)
        self._pool: ExportPool | None = None

    def pool(self) -> ExportPool:
        if self._pool is not None and getattr(self._pool, "_broken", False):
            log.warning("an export worker died; starting new ones")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._pool is None:
            self._pool = ExportPool(self.workers)
            self.starts += 1
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> ExportWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def meter_rounds(meter: Meter) -> int:
    """How many interleaved timing rounds ``meter`` asks for (``rounds`` attribute, default 1)."""
    return max(1, int(getattr(meter, "rounds", 1)))


@dataclass(frozen=True)
class ReferenceSettings:
    """Drift reference knobs (see :class:`latency.reference.DriftReference`)."""

    tolerance: float = 0.10
    window: int = 3
    max_overhead: float = 0.06
    min_interval_s: float = 1.0
    max_remeasure: int = 3
    clock: Callable[[], float] = time.perf_counter
    level_window: int = 15  # readings whose fastest is the device's speed (a ratio's numerator)
    settle_rounds: int = 2  # extra rounds at the end for re-measured items (time_with_reference)
    max_wait: float = 0.25  # a measurement waiting longer for a CPU is re-measured (meter.contention)

    def drift_reference(
        self, measure: Callable[[], Sequence[float]], nominal_ms: float | None
    ) -> DriftReference:
        """A :class:`DriftReference` reading ``measure`` with these knobs."""
        return DriftReference(
            measure,
            nominal_ms,
            self.tolerance,
            self.window,
            self.max_overhead,
            self.min_interval_s,
            self.max_remeasure,
            self.clock,
            self.level_window,
            settle_rounds=self.settle_rounds,
            max_wait=self.max_wait,
        )


def start_reference(
    store: LUTStore,
    context: Context,
    runtime: str,
    dtype: DType,
    meter: Meter,
    cache: ArtifactCache,
    provenance: Provenance,
    stored: set | None = None,
    settings: ReferenceSettings | None = None,
) -> DriftReference:
    """The drift reference of ``context``: its nominal reading from the store, or measured now
    (``meter.rounds`` times, lowest median kept) and stored as the context's ``reference`` entry."""
    cfg = settings or ReferenceSettings()
    artifact = cache.get(REFERENCE_KEY, runtime, dtype)
    read = reference_measure(meter, artifact, runtime)
    stored = store.identities() if stored is None else stored
    nominal = None
    if (ENTRY_REFERENCE, context, REFERENCE_KEY) in stored:
        df = store.frame(refresh=False)
        row = df[(df["entry"] == ENTRY_REFERENCE) & _context_mask(df, context)]
        nominal = float(row["median_ms"].iloc[0]) if len(row) else None
    drift = cfg.drift_reference(read, nominal)
    if nominal is None:
        samples = fastest([read() for _ in range(meter_rounds(meter))])
        drift.nominal_ms = summarize(samples).median_ms
        store.append(
            [make_row(context, REFERENCE_KEY, summarize(samples), samples, provenance, ENTRY_REFERENCE)]
        )
    return drift


def _context_mask(df, context: Context):
    mask = df["entry"] == df["entry"]
    for f, v in context.as_row().items():
        mask &= df[f] == v
    return mask


def collect(
    store: LUTStore,
    keys: Iterable[BlockKey],
    runtime: Runtime | str,
    dtype: DType | str,
    meter: Meter,
    cache: ArtifactCache,
    export_workers: int | ExportWorkers = 0,
    on_progress: Callable[[BlockProgress], None] | None = None,
    reference: ReferenceSettings | None = None,
    models: Sequence[tuple[Path, tuple[int, int, int]]] = (),
    model_readings: int = MODEL_READINGS,
) -> CollectReport:
    """Measure every key of ``keys`` not yet in ``store`` for (``meter``'s device, runtime, dtype).

    Two phases: export every missing artifact (in ``export_workers`` processes, or in this process
    when 0; an :class:`ExportWorkers` keeps its processes for the next call), then time them one by one
    with nothing else running. Both phases are resumable: the artifact cache and the store only ever
    gain complete files.

    ``models``: exported whole models ``(artifact, input CHW)`` timed in the same interleaved rounds as
    the blocks, spread evenly among them (:func:`interleave`), with the same drift reference; their
    timings come back in ``report.models`` (not stored). Whole models timed *after* a collection see
    the device at another moment than its blocks: on the 2-core VM the same whole-model artifacts moved
    by a median 16-18% between runs an hour apart, and the reference follows ms-scale work only loosely
    (correlation 0.33-0.74), so a validation or calibration that compares the two must time them over
    the same minutes. Each model is read ``model_readings`` times per round, at different points of it,
    and its fastest reading over all rounds is kept (:data:`MODEL_READINGS`). A model whose measurement
    fails raises.
    """
    if model_readings < 1:
        raise ValueError(f"model_readings must be >= 1, got {model_readings}")
    runtime, dtype = resolve_lut(runtime, dtype)  # a target name: keeps the delegate
    t_start = time.perf_counter()
    report = CollectReport()
    probe = cache.get(OVERHEAD_KEY, runtime, dtype)
    context = meter.context(runtime, dtype, probe)
    report.context = context
    provenance = meter.provenance()
    keys = list(dict.fromkeys(keys))
    stored = store.identities()
    todo = [k for k in keys if (ENTRY_LAYER, context, k) not in stored]
    report.total, report.skipped = len(keys), len(keys) - len(todo)

    rounds = meter_rounds(meter)
    drift = start_reference(store, context, runtime, dtype, meter, cache, provenance, stored, reference)
    # the call-overhead probe (first run of a context) is timed among the blocks like a whole model, not
    # on its own before them: timed alone, its rounds back to back, one slow stretch of the device set
    # it (0.0169 ms where the quiet VM reads 0.0099) and subtracting that from 0.01-0.03 ms toy blocks put
    # 25 of 28 models more than 10% off (ExecuTorch fp32, 2026-12-03)
    probe_todo = (ENTRY_OVERHEAD, context, OVERHEAD_KEY) not in stored
    timed_models = [(Path(p), chw) for p, chw in models]
    if probe_todo:
        timed_models.append((probe, OVERHEAD_KEY.input_chw))
    exports0, hits0 = cache.exports, cache.hits
    t0 = time.perf_counter()
    artifacts, failed = export_all(todo, runtime, dtype, cache, export_workers, on_progress)
    report.export_s = time.perf_counter() - t0
    report.failed.extend(failed.items())
    todo = [k for k in todo if k in artifacts]
    t1 = time.perf_counter()
    ref_s0, contended0 = drift.spent_s, drift.contended
    items = interleave(len(todo), len(timed_models), model_readings)
    if items:
        drift.read()  # a fresh reading: the export phase may have run the device at another speed
    # interleaved rounds (meter.rounds): a slow stretch of the device hits different blocks each round;
    # the drift reference is read between blocks (entries kept in nominal units, unstable ones re-measured)
    # and each row is appended the moment its last round is timed (again, superseding, if re-measured)
    done = 0
    total = rounds * len(items)
    finals: dict[int, Timed] = {}

    def artifact(item: tuple[bool, int]) -> Path:
        is_model, i = item
        return timed_models[i][0] if is_model else artifacts[todo[i]]

    def timed(item: tuple[bool, int]) -> list[float]:
        is_model, i = item
        return meter.measure(artifact(item), timed_models[i][1] if is_model else todo[i].input_chw, runtime)

    def final(n: int, t: Timed) -> None:  # again with a higher remeasured count when re-measured
        is_model, i = items[n]
        if is_model:
            return
        stats = summarize(t.samples_ms)
        store.append([make_row(context, todo[i], stats, t.samples_ms, provenance, drift=t.drift)])
        finals[i] = t

    def error(n: int, e: BaseException) -> None:
        is_model, i = items[n]
        if is_model:
            what = "the call-overhead probe" if i == len(models) else "whole model"
            raise RuntimeError(f"{what} {timed_models[i][0]}: {type(e).__name__}: {e}") from e
        log.warning("%s: %s", todo[i].label(), e)
        report.failed.append((todo[i], f"{type(e).__name__}: {e}"))
        if on_progress:
            on_progress(BlockProgress(done, total, todo[i], "failed", phase="measure"))

    def step(n: int, status: str, med: float | None) -> None:
        nonlocal done
        if status not in REMEASURE_STATUSES:
            done = min(done + 1, total)
        is_model, i = items[n]
        if on_progress and not is_model:
            on_progress(BlockProgress(done, total, todo[i], status, med, phase="measure"))

    confirmed = time_with_reference(
        items,
        timed,
        drift,
        rounds,
        on_final=final,
        on_error=error,
        on_step=step,
        # the one batch hook: batch runners (phonenas-runner) and the iPhone app time a round's artifacts
        # many per process / app launch
        on_round=(lambda its: meter.plan([artifact(it) for it in its])) if hasattr(meter, "plan") else None,
        contention=getattr(meter, "contention", None),
    )
    readings = fastest_readings(
        [(i, confirmed[n]) for n, (is_model, i) in enumerate(items) if is_model], len(timed_models)
    )
    report.models = readings[: len(models)]
    if probe_todo:  # stored after the blocks: a killed run times it again on resume
        t = readings[-1]
        store.append(
            [
                make_row(
                    context,
                    OVERHEAD_KEY,
                    summarize(t.samples_ms),
                    t.samples_ms,
                    provenance,
                    ENTRY_OVERHEAD,
                    drift=t.drift,
                )
            ]
        )
    report.reference_s = drift.spent_s - ref_s0
    report.measured = len(finals)
    report.remeasured = sum(t.drift.remeasured for t in finals.values())
    report.unstable = sum(int(t.drift.unstable) for t in finals.values())
    report.contended = drift.contended - contended0
    report.measure_s = time.perf_counter() - t1
    report.exports, report.cache_hits = cache.exports - exports0, cache.hits - hits0
    report.elapsed_s = time.perf_counter() - t_start
    return report


def interleave(n_blocks: int, n_models: int, copies: int = 1) -> list[tuple[bool, int]]:
    """One timing round's order: ``(False, i)`` for block ``i``, ``(True, j)`` for model ``j``, the
    models spread evenly among the blocks (model ``j`` after about ``(j + 0.5) / n_models`` of them).
    With ``copies`` > 1 every model appears that many times, its copies spread over the round (copy
    ``c`` of model ``j`` after about ``(c * n_models + j + 0.5) / (copies * n_models)`` of the blocks)."""
    order = [(False, i) for i in range(n_blocks)]
    slots = [(c * n_models + j, j) for c in range(copies) for j in range(n_models)]
    for at, j in reversed(slots):
        order.insert(round((at + 0.5) * n_blocks / (copies * n_models)), (True, j))
    return order


def fastest_readings(readings: Sequence[tuple[int, Timed]], n: int) -> list[Timed]:
    """Per model ``0..n-1``, the reading with the lowest raw median among its ``(model, reading)``
    pairs (the quietest, as across rounds in :func:`latency.reference.time_with_reference`), carrying
    the re-measures of all its readings (its ``unstable`` flag is the kept reading's)."""
    by: dict[int, list[Timed]] = {}
    for j, t in readings:
        by.setdefault(j, []).append(t)
    out = []
    for j in range(n):
        ts = by[j]
        best = min(ts, key=lambda t: median(t.samples_ms))
        out.append(
            Timed(best.samples_ms, replace(best.drift, remeasured=sum(t.drift.remeasured for t in ts)))
        )
    return out


def export_all(
    keys: Sequence[BlockKey],
    runtime: str,
    dtype: DType,
    cache: ArtifactCache,
    workers: int | ExportWorkers = 0,
    on_progress: Callable[[BlockProgress], None] | None = None,
) -> tuple[dict[BlockKey, Path], dict[BlockKey, str]]:
    """Artifacts for ``keys`` (cached ones reused); returns (paths, {key: error} for failed exports).

    ``workers``: export processes (0: this process), or an :class:`ExportWorkers` to use and keep."""
    paths: dict[BlockKey, Path] = {}
    failed: dict[BlockKey, str] = {}
    missing = []
    for k in keys:
        p = cache.path_for(k, runtime, dtype)
        if p.exists():
            paths[k] = p
            cache.hits += 1
        else:
            missing.append(k)
    done = len(paths)

    def report(k: BlockKey, err: str | None) -> None:
        nonlocal done
        done += 1
        if err is not None:
            log.warning("export %s failed: %s", k.label(), err)
            failed[k] = err
        if on_progress:
            on_progress(
                BlockProgress(done, len(keys), k, "exported" if err is None else "failed", phase="export")
            )

    shared = isinstance(workers, ExportWorkers)
    n_workers = workers.workers if isinstance(workers, ExportWorkers) else workers
    if n_workers > 0 and (len(missing) > 1 or (shared and missing)) and cache.exporter is None:
        if isinstance(workers, ExportWorkers):
            _export_in(workers.pool(), missing, runtime, dtype, cache, paths, report)
        else:
            with ExportPool(min(workers, len(missing))) as pool:
                _export_in(pool, missing, runtime, dtype, cache, paths, report)
    else:
        for k in missing:
            try:
                paths[k] = cache.get(k, runtime, dtype)
                report(k, None)
            except Exception as e:  # noqa: BLE001
                report(k, f"{type(e).__name__}: {e}")
    return paths, failed


def _export_in(
    pool: ProcessPoolExecutor,
    missing: Sequence[BlockKey],
    runtime: str,
    dtype: DType,
    cache: ArtifactCache,
    paths: dict[BlockKey, Path],
    report: Callable[[BlockKey, str | None], None],
) -> None:
    futures = {pool.submit(_export_job, str(cache.root), cache.salt, k, runtime, dtype): k for k in missing}
    try:
        for f in as_completed(futures):
            k = futures[f]
            try:
                paths[k] = Path(f.result())
                cache.exports += 1
                report(k, None)
            except Exception as e:  # noqa: BLE001
                report(k, f"{type(e).__name__}: {e}")
    except BaseException:
        for f in futures:
            f.cancel()
        raise


def _export_job(root: str, salt: tuple[str, ...], key: BlockKey, runtime: str, dtype: DType) -> str:
    return str(ArtifactCache(Path(root), salt).get(key, runtime, dtype))


def collect_many(
    store: LUTStore,
    keys: Sequence[BlockKey],
    runtime: Runtime | str,
    dtype: DType | str,
    meters: Sequence[Meter],
    cache: ArtifactCache,
    on_progress: Callable[[str, BlockProgress], None] | None = None,
) -> dict[str, CollectReport]:
    """One worker thread per device, all appending to ``store`` (exports shared through ``cache``)."""
    import threading

    reports: dict[str, CollectReport] = {}
    errors: dict[str, BaseException] = {}

    def work(meter: Meter) -> None:
        try:
            cb = (lambda p: on_progress(meter.device_id, p)) if on_progress else None
            reports[meter.device_id] = collect(store, keys, runtime, dtype, meter, cache, on_progress=cb)
        except BaseException as e:  # noqa: BLE001 - reported per device, others continue
            errors[meter.device_id] = e

    threads = [threading.Thread(target=work, args=(m,), name=f"lut-{m.device_id}") for m in meters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for device_id, e in errors.items():
        rep = CollectReport()
        rep.failed.append((OVERHEAD_KEY, f"device {device_id}: {type(e).__name__}: {e}"))
        reports[device_id] = rep
    return reports
