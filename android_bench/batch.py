"""Batch mode: time many ``.pte`` files with ONE ``phonenas-runner`` process per batch.

Per item, :func:`android_bench.measure_artifact` pays a process start, a runtime initialisation and a
shell round trip (adb: tens of ms) per block; here every artifact is pushed once by hash, a manifest
of their device paths is pushed, and one process times them all (warm-up + runs each, in order). The
hygiene of :mod:`android_bench.measure` is kept per batch: temperature gate before, transient faults
retried with backoff, and models whose robust CV is above the threshold re-measured in a follow-up
batch (the least noisy attempt kept). A model that fails (load error, missing operator) is returned
as its error and never stops the others; if the process dies mid-batch, the models it finished are
kept and the rest run again in a new process (at most ``max_retries`` times without progress).
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from android_bench.device import Device
from android_bench.errors import (
    CommandTimeout,
    DeviceDisconnected,
    DeviceError,
    OutputParseError,
    RunnerCrashed,
)
from android_bench.info import DeviceInfo, read_device_info, read_temperature_c
from android_bench.measure import (
    Measurement,
    MeasurementProtocol,
    PushCache,
    _best_effort_kill,
    _core_mask,
    _wait_for_temperature,
    runtime_version_of,
)
from android_bench.runners import NativeRunner, OpTime, RunnerOutput, file_sha256
from android_bench.stats import summarize

__all__ = ["BatchResult", "measure_batch"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchResult:
    """What :func:`measure_batch` did: one Measurement or DeviceError per artifact, in order."""

    results: tuple[Measurement | DeviceError, ...]
    processes: int  # runner processes started
    wall_s: float
    profiles: tuple[tuple[OpTime, ...], ...] = ()  # per artifact: ETDump ops (runner.profile), else ()


def _run_once(
    device: Device,
    runner: NativeRunner,
    runner_remote: str,
    remotes: Sequence[str],
    mask: int | None,
    protocol: MeasurementProtocol,
) -> dict[int, RunnerOutput | DeviceError]:
    """One process over ``remotes``; returns what it finished by position (others absent: not reached).

    The manifest lists the blobs relative to its own directory (``<work_dir>/manifests``), so the
    same file works wherever the device maps its paths."""
    manifest_dir = f"{device.work_dir}/manifests"
    text = "".join(posixpath.relpath(r, manifest_dir) + "\n" for r in remotes)
    manifest = f"{manifest_dir}/{hashlib.sha256(text.encode()).hexdigest()[:24]}.txt"
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="manifest-", delete=False) as f:
        f.write(text)
    local = Path(f.name)
    try:
        device.shell(["mkdir", "-p", manifest_dir], timeout_s=30.0).check(device.id)
        device.push(local, manifest, timeout_s=protocol.push_timeout_s)
    finally:
        local.unlink(missing_ok=True)
    argv = runner.batch_argv(runner_remote, manifest, **protocol.runner_args())
    if mask is not None:
        argv = ["taskset", format(mask, "x"), *argv]
    # a hung model must not hold the whole batch forever, nor a long batch be cut short
    timeout = protocol.run_timeout_s + len(remotes) * (
        2.0 * max(1, protocol.warmup + protocol.runs) / 10.0 + protocol.warmup_s
    )
    res = device.shell(argv, timeout_s=timeout)
    try:
        bench = runner.parse_batch(res.stdout)
    except OutputParseError as exc:
        if res.rc not in (0, 3):
            res.check(device.id)  # RunnerNotFound / RunnerCrashed with the real exit code
        raise OutputParseError(
            exc.message, output=exc.output, cmd=argv, rc=res.rc, stderr=res.stderr, device_id=device.id
        ) from exc
    out: dict[int, RunnerOutput | DeviceError] = {}
    died = res.rc not in (0, 3)
    for rec in bench.models:
        if not 0 <= rec.index < len(remotes):
            raise OutputParseError(
                f"runner reported model {rec.index} of a {len(remotes)}-model manifest",
                output=res.stdout,
                cmd=argv,
                device_id=device.id,
            )
        if rec.output is not None:
            if protocol.runs and rec.output.count != protocol.runs:
                out[rec.index] = OutputParseError(
                    f"expected {protocol.runs} runs, runner printed {rec.output.count}", device_id=device.id
                )
            else:
                out[rec.index] = rec.output
        elif died and rec is bench.models[-1] and not bench.complete:
            out[rec.index] = RunnerCrashed(
                f"runner died while timing this model: {rec.error}",
                cmd=argv,
                rc=res.rc,
                stderr=res.stderr,
                device_id=device.id,
            )
        else:
            # a model-level failure (load error, missing operator): deterministic, not retried
            out[rec.index] = DeviceError(
                f"runner failed on this model: {rec.error}",
                cmd=argv,
                rc=res.rc,
                stderr=res.stderr,
                device_id=device.id,
            )
    if died and not out:
        res.check(device.id)
    return out


def measure_batch(
    device: Device,
    runner: NativeRunner,
    artifacts: Sequence[str | Path],
    protocol: MeasurementProtocol | None = None,
    *,
    info: DeviceInfo | None = None,
    cache: PushCache | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchResult:
    """Time every artifact with ``runner`` in batches of ``runner.batch_size`` per process."""
    protocol = protocol or MeasurementProtocol()
    cache = cache or PushCache()
    t0 = time.monotonic()
    started_at = time.time()
    paths = [Path(a) for a in artifacts]
    for p in paths:
        runner.runtime_for(p)
    shas = [file_sha256(p) for p in paths]
    runner_sha = file_sha256(runner.local_path)
    info = info or read_device_info(device)
    mask = _core_mask(protocol, info)
    processes = 0

    best: dict[int, tuple[RunnerOutput, int]] = {}  # index -> (output, attempts)
    rejected: dict[int, list[tuple[float, ...]]] = {}
    errors: dict[int, DeviceError] = {}
    temps: tuple[float | None, float, bool] = (None, 0.0, False)

    def run_round(indices: list[int]) -> None:
        nonlocal processes, temps
        pending = list(indices)
        stalls = 0
        retries = 0
        while pending:
            chunk = pending[: max(1, runner.batch_size)]
            try:
                runner_remote = cache.ensure(
                    device, runner.local_path, runner_sha, timeout_s=protocol.push_timeout_s, executable=True
                )
                remotes = [
                    cache.ensure(
                        device, paths[i], shas[i], timeout_s=protocol.push_timeout_s, executable=False
                    )
                    for i in chunk
                ]
                temps = _wait_for_temperature(device, info, protocol, sleep)
                processes += 1
                got = _run_once(device, runner, runner_remote, remotes, mask, protocol)
            except DeviceError as exc:
                if isinstance(exc, CommandTimeout):
                    _best_effort_kill(device, f"{device.work_dir}/blobs/{runner_sha[:24]}")
                if not exc.transient or retries >= protocol.max_retries:
                    for i in chunk:
                        errors[i] = exc
                    pending = pending[len(chunk) :]
                    continue
                delay = protocol.backoff_s * (2**retries)
                retries += 1
                log.warning(
                    "%s: batch of %d: %s; retry %d in %.1f s", device.id, len(chunk), exc, retries, delay
                )
                sleep(delay)
                if isinstance(exc, DeviceDisconnected):
                    cache.forget(device.id)
                    device.recover(protocol.recover_timeout_s)
                continue
            done = set()
            for pos, i in enumerate(chunk):
                r = got.get(pos)
                if r is None:
                    continue
                done.add(i)
                if isinstance(r, DeviceError):
                    if r.transient and stalls < protocol.max_retries:
                        done.discard(i)  # the model the process died on: give it another process
                        stalls += 1
                    else:
                        errors[i] = r
                    continue
                errors.pop(i, None)
                prev = best.get(i)
                attempts = (prev[1] if prev else 0) + 1
                new_cv = summarize(r.samples_ms, protocol.trim_fraction).robust_cv
                if prev is None or new_cv < summarize(prev[0].samples_ms, protocol.trim_fraction).robust_cv:
                    if prev is not None:
                        rejected.setdefault(i, []).append(prev[0].samples_ms)
                    best[i] = (r, attempts)
                else:
                    rejected.setdefault(i, []).append(r.samples_ms)
                    best[i] = (prev[0], attempts)
            if not done:
                stalls += 1
                if stalls > protocol.max_retries:
                    for i in chunk:
                        errors.setdefault(
                            i, RunnerCrashed("runner made no progress on this batch", device_id=device.id)
                        )
                    pending = pending[len(chunk) :]
                continue
            pending = [i for i in pending if i not in done]

    run_round(list(range(len(paths))))
    for _ in range(protocol.remeasure_attempts):
        noisy = [
            i
            for i, (o, _) in best.items()
            if summarize(o.samples_ms, protocol.trim_fraction).robust_cv > protocol.cv_threshold
        ]
        if not noisy:
            break
        log.info("%s: re-measuring %d noisy models in one batch", device.id, len(noisy))
        run_round(sorted(noisy))
    temp_after = read_temperature_c(device, info)
    wall = time.monotonic() - t0

    results: list[Measurement | DeviceError] = []
    for i, p in enumerate(paths):
        if i not in best:
            results.append(errors.get(i) or DeviceError("not measured", device_id=device.id))
            continue
        out, attempts = best[i]
        stats = summarize(out.samples_ms, protocol.trim_fraction)
        notes: list[str] = []
        if stats.robust_cv > protocol.cv_threshold:
            notes.append(f"robust cv {stats.robust_cv:.3f} above threshold after {attempts} attempts")
        if temps[2]:
            notes.append("temperature gate timed out")
        results.append(
            Measurement(
                device_id=device.id,
                artifact=p.name,
                artifact_sha256=shas[i],
                runner=runner.name,
                runner_sha256=runner_sha,
                runtime=out.runtime or "executorch",
                runtime_version=runtime_version_of(runner, out, runner_sha),
                samples_ms=out.samples_ms,
                sample_kind="per_run",
                stats=stats,
                warmup=protocol.warmup,
                runs=protocol.runs,
                threads=protocol.threads,
                core_mask=mask,
                governor=info.governor,
                temp_before_c=temps[0],
                temp_after_c=temp_after,
                temp_gate_wait_s=temps[1],
                temp_gate_timed_out=temps[2],
                attempts=attempts,
                retries=0,
                rejected_samples_ms=tuple(rejected.get(i, ())),
                init_ms=out.init_ms,
                started_at=started_at,
                duration_s=wall / max(1, len(paths)),
                notes=tuple(notes),
            )
        )
    if protocol.cooldown_s > 0:
        sleep(protocol.cooldown_s)
    profiles = tuple(best[i][0].ops if i in best else () for i in range(len(paths)))
    return BatchResult(tuple(results), processes, wall, profiles)
