"""One app launch times a batch of models on an iPhone, with the Android hygiene as the fallback.

Launching PhoneNASBench costs seconds (devicectl round trips, app start), so a LUT collection times
its blocks in batches: :func:`measure_batch` pushes every model by hash (the shared ``PushCache``),
launches the app once with all of them in the manifest and turns each result section into a
``Measurement``. Whatever the batch could not settle goes through ``measure_artifact`` alone, one
launch each, with its retries and re-measure rule: a model whose samples are noisier than the
protocol's CV threshold, one missing from the result, or every model when the batch launch hit a
transient fault (crash, timeout). Errors that are not transient (locked phone, app missing) raise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from android_bench.errors import DeviceError
from android_bench.info import DeviceInfo
from android_bench.ios_app import (
    AppReportedError,
    IosAppDevice,
    IosAppRunner,
    IosModelResult,
    documents_relative,
    parse_ios_result,
)
from android_bench.measure import Measurement, MeasurementProtocol, PushCache, measure_artifact
from android_bench.runners import Runner, file_sha256
from android_bench.stats import summarize

__all__ = ["measure_batch"]

log = logging.getLogger(__name__)


def measure_batch(
    device: IosAppDevice,
    runner: IosAppRunner,
    artifacts: Sequence[str | Path],
    protocol: MeasurementProtocol,
    *,
    info: DeviceInfo,
    cache: PushCache | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[Path, Measurement | DeviceError]:
    """Time ``artifacts`` with one launch (plus single launches for what the batch did not settle).

    Returns a Measurement per artifact, or the ``DeviceError`` that made that artifact fail (an
    ``AppReportedError`` when the app could not load it).
    """
    cache = cache or PushCache()
    paths = [Path(a) for a in dict.fromkeys(artifacts)]
    runner_sha = file_sha256(runner.local_path)
    started_at, t0 = time.time(), time.monotonic()
    stamp = cache.ensure(
        device, runner.local_path, runner_sha, timeout_s=protocol.push_timeout_s, executable=True
    )
    remote: dict[Path, tuple[str, str]] = {}
    for p in paths:
        sha = file_sha256(p)
        remote[p] = (sha, cache.ensure(device, p, sha, timeout_s=protocol.push_timeout_s, executable=False))
    argv = runner.argv(stamp, "Documents/x", **protocol.runner_args())
    opts = dict(zip(argv[1::2], argv[2::2], strict=False))
    manifest = {
        "models": [documents_relative(r) for _, r in remote.values()],
        "warmup": protocol.warmup,
        "runs": protocol.runs,
        "threads": protocol.threads,
        "compute_units": runner.compute_units,
        "thermal_gate": opts.get("--thermal-gate"),
        "thermal_timeout_s": runner.thermal_timeout_s,
    }
    parsed: dict[str, IosModelResult] = {}
    try:
        text = device.run_manifest(manifest, protocol.run_timeout_s * max(1, len(paths)))
        if text is None:
            log.warning(
                "%s: the app died during a batch of %d; timing them one by one", device.id, len(paths)
            )
        else:
            parsed = {r.model: r for r in parse_ios_result(text, runs=protocol.runs)}
    except DeviceError as exc:
        if not exc.transient:
            raise
        log.warning("%s: batch of %d failed (%s); timing them one by one", device.id, len(paths), exc)
    duration = (time.monotonic() - t0) / max(1, len(paths))
    out: dict[Path, Measurement | DeviceError] = {}
    for p in paths:
        sha, rem = remote[p]
        res = parsed.get(documents_relative(rem))
        if res is not None and res.output is None:
            out[p] = AppReportedError(
                f"PhoneNASBench could not time {res.model}: {res.error}", device_id=device.id
            )
            continue
        if res is None or res.output is None:
            continue
        stats = summarize(res.output.samples_ms, protocol.trim_fraction)
        if stats.robust_cv > protocol.cv_threshold:
            continue  # re-measured alone below, under measure_artifact's re-measure rule
        o = res.output
        out[p] = Measurement(
            device_id=device.id, artifact=p.name, artifact_sha256=sha, runner=runner.name,
            runner_sha256=runner_sha, runtime=o.runtime or runner.runtime_for(p),
            runtime_version=o.runtime_version, samples_ms=o.samples_ms, sample_kind="per_run", stats=stats,
            warmup=protocol.warmup, runs=protocol.runs, threads=protocol.threads, core_mask=None,
            governor=info.governor, temp_before_c=None, temp_after_c=None, temp_gate_wait_s=0.0,
            temp_gate_timed_out=False, attempts=1, retries=0, init_ms=o.init_ms, started_at=started_at,
            duration_s=duration, notes=(*o.notes, f"timed in a batch of {len(paths)}"),
        )  # fmt: skip
    for p in paths:
        if p not in out:
            try:
                as_runner = cast(Runner, runner)  # a frozen dataclass: its ``name`` is read-only
                out[p] = measure_artifact(device, as_runner, p, protocol, info=info, cache=cache, sleep=sleep)
            except DeviceError as exc:
                if not exc.transient and not isinstance(exc, AppReportedError):
                    raise  # locked, untrusted, app missing: every other model would fail the same way
                out[p] = exc
    return out
