"""Collection: keys -> skip what the store has -> export via deploy (cached) -> time -> append a row.

Each measured entry is appended as its own atomic part file the moment its last timing round ends,
so a killed run loses at most the timing rounds in flight (seconds on the host; exports are cached);
re-running skips everything already stored. With ``export_workers=N`` exports run in N processes
first; timing follows with the machine quiet, in ``meter.rounds`` interleaved rounds. Many devices:
:func:`collect_many`, one thread per device, one store.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from latency.export import OVERHEAD_KEY, ArtifactCache
from latency.keys import BlockKey, Context, DType, Runtime
from latency.meters import Meter
from latency.stats import fastest, summarize
from latency.store import ENTRY_LAYER, ENTRY_OVERHEAD, LUTStore, make_row

log = logging.getLogger(__name__)


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
    measure_s: float = 0.0

    @property
    def blocks_per_min(self) -> float:
        return 60.0 * self.measured / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    key: BlockKey
    status: str  # "exported" | "timed" (a round before the last) | "measured" | "failed"
    median_ms: float | None = None
    phase: str = "measure"  # "export" | "measure"


def die_with_parent() -> None:
    """Export-worker initializer: on Linux, end this worker when the collecting process dies (a killed
    collection must not leave orphaned exporters burning the cores its re-run needs)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def meter_rounds(meter: Meter) -> int:
    """How many interleaved timing rounds ``meter`` asks for (``rounds`` attribute, default 1)."""
    return max(1, int(getattr(meter, "rounds", 1)))


def collect(
    store: LUTStore,
    keys: Iterable[BlockKey],
    runtime: Runtime | str,
    dtype: DType | str,
    meter: Meter,
    cache: ArtifactCache,
    export_workers: int = 0,
    on_progress: Callable[[Progress], None] | None = None,
) -> CollectReport:
    """Measure every key of ``keys`` not yet in ``store`` for (``meter``'s device, runtime, dtype).

    Two phases: export every missing artifact (in ``export_workers`` processes, or in this process
    when 0), then time them one by one with nothing else running. Both phases are resumable: the
    artifact cache and the store only ever gain complete files.
    """
    runtime, dtype = Runtime(runtime), DType(dtype)
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
    if (ENTRY_OVERHEAD, context, OVERHEAD_KEY) not in stored:
        samples = fastest([meter.measure(probe, OVERHEAD_KEY.input_chw, runtime) for _ in range(rounds)])
        store.append(
            [make_row(context, OVERHEAD_KEY, summarize(samples), samples, provenance, ENTRY_OVERHEAD)]
        )

    exports0, hits0 = cache.exports, cache.hits
    t0 = time.perf_counter()
    artifacts, failed = export_all(todo, runtime, dtype, cache, export_workers, on_progress)
    report.export_s = time.perf_counter() - t0
    report.failed.extend(failed.items())
    todo = [k for k in todo if k in artifacts]
    t1 = time.perf_counter()
    # interleaved rounds (meter.rounds): a slow stretch of the device hits different blocks each round;
    # the lowest median is kept and each row is appended the moment its last round is timed
    best: dict[BlockKey, list[float]] = {}
    bad: set[BlockKey] = set()
    for r in range(rounds):
        last = r == rounds - 1
        if hasattr(meter, "plan"):  # batch runners time the round's artifacts many per process
            meter.plan([artifacts[k] for k in todo if k not in bad])
        for i, key in enumerate(todo):
            if key in bad:
                continue
            status, med = "timed", None
            try:
                new = meter.measure(artifacts[key], key.input_chw, runtime)
                samples = fastest([new, best[key]]) if key in best else new
                best[key] = samples
                if last:
                    stats = summarize(samples)
                    store.append([make_row(context, key, stats, samples, provenance)])
                    report.measured += 1
                    status, med = "measured", stats.median_ms
            except Exception as e:  # noqa: BLE001 - one bad block must not stop a long collection
                log.warning("%s: %s", key.label(), e)
                report.failed.append((key, f"{type(e).__name__}: {e}"))
                bad.add(key)
                status = "failed"
            if on_progress:
                on_progress(
                    Progress(r * len(todo) + i + 1, rounds * len(todo), key, status, med, phase="measure")
                )
    report.measure_s = time.perf_counter() - t1
    report.exports, report.cache_hits = cache.exports - exports0, cache.hits - hits0
    report.elapsed_s = time.perf_counter() - t_start
    return report


def export_all(
    keys: Sequence[BlockKey],
    runtime: Runtime,
    dtype: DType,
    cache: ArtifactCache,
    workers: int = 0,
    on_progress: Callable[[Progress], None] | None = None,
) -> tuple[dict[BlockKey, Path], dict[BlockKey, str]]:
    """Artifacts for ``keys`` (cached ones reused); returns (paths, {key: error} for failed exports)."""
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
            on_progress(Progress(done, len(keys), k, "exported" if err is None else "failed", phase="export"))

    if workers > 0 and len(missing) > 1 and cache.exporter is None:
        with ProcessPoolExecutor(
            min(workers, len(missing)), mp_context=get_context("spawn"), initializer=die_with_parent
        ) as pool:
            futures = {
                pool.submit(_export_job, str(cache.root), cache.salt, k, runtime, dtype): k for k in missing
            }
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
    else:
        for k in missing:
            try:
                paths[k] = cache.get(k, runtime, dtype)
                report(k, None)
            except Exception as e:  # noqa: BLE001
                report(k, f"{type(e).__name__}: {e}")
    return paths, failed


def _export_job(root: str, salt: tuple[str, ...], key: BlockKey, runtime: Runtime, dtype: DType) -> str:
    return str(ArtifactCache(Path(root), salt).get(key, runtime, dtype))


def collect_many(
    store: LUTStore,
    keys: Sequence[BlockKey],
    runtime: Runtime | str,
    dtype: DType | str,
    meters: Sequence[Meter],
    cache: ArtifactCache,
    on_progress: Callable[[str, Progress], None] | None = None,
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
