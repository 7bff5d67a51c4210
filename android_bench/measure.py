"""Measurement hygiene: push once by hash, pin to big cores, temperature gate, warm-up + N runs,
re-measure noisy items, retry transient faults with backoff, cool down between items.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from android_bench.device import Device
from android_bench.errors import (
    CommandTimeout,
    DeviceDisconnected,
    DeviceError,
    OutputParseError,
    ThermalTimeout,
)
from android_bench.info import DeviceInfo, read_device_info, read_temperature_c
from android_bench.runners import Runner, RunnerOutput, file_sha256
from android_bench.stats import LatencyStats, summarize

__all__ = ["Measurement", "MeasurementProtocol", "PushCache", "measure_artifact", "runtime_version_of"]

log = logging.getLogger(__name__)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class MeasurementProtocol:
    """How to measure one artifact. Defaults follow common mobile-benchmark practice."""

    warmup: int = 10
    # ...and at least this long (seconds): the first few hundred calls of a freshly loaded
    # microsecond-scale artifact run slow (measured on the host, latency.timer.TimingProtocol.warmup_s),
    # and 10 calls of a 10 us block are 0.1 ms of warm-up. Honoured by benchmark_model
    # (--warmup_min_secs), phonenas-runner (--warmup-s) and the Python runner; executor_runner and the
    # iPhone app warm up by count only (they have no such option).
    warmup_s: float = 0.02
    runs: int = 50
    repeats: int = 1  # runner invocations per attempt; summary-only runners use at least 3
    threads: int = 1
    affinity: str | int = "big"  # "big" (mask from per-core max freq), "none", or an explicit CPU mask
    cooldown_s: float = 1.0  # sleep after each item
    max_temp_c: float | None = 45.0  # temperature gate; None disables it
    temp_timeout_s: float = 180.0
    temp_poll_s: float = 2.0
    strict_temperature: bool = False  # True: a phone that never cools raises ThermalTimeout (retried)
    cv_threshold: float = 0.05  # re-measure when the robust CV (1.4826*MAD/median) is above this
    remeasure_attempts: int = 2
    max_retries: int = 3  # on transient faults (disconnect, timeout, crash, garbage output)
    backoff_s: float = 1.0  # first retry delay; doubles each retry
    run_timeout_s: float = 300.0
    push_timeout_s: float = 300.0
    recover_timeout_s: float = 60.0
    trim_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.runs < 1 or self.warmup < 0 or self.repeats < 1 or self.threads < 1:
            raise ValueError("runs, repeats and threads must be >= 1 and warmup >= 0")
        if not self.warmup_s >= 0:
            raise ValueError(f"warmup_s must be >= 0 seconds, got {self.warmup_s!r}")
        if isinstance(self.affinity, str) and self.affinity not in ("big", "none"):
            raise ValueError(f"affinity must be 'big', 'none' or an int mask, got {self.affinity!r}")
        if isinstance(self.affinity, int) and self.affinity <= 0:
            raise ValueError("an explicit affinity mask must be a positive int")

    def runner_args(self) -> dict:
        """The knobs every runner's ``argv`` / ``batch_argv`` takes, as keyword arguments."""
        return {"warmup": self.warmup, "runs": self.runs, "threads": self.threads, "warmup_s": self.warmup_s}


@dataclass(frozen=True)
class Measurement:
    """One artifact timed on one device, with the device state it was measured in."""

    device_id: str
    artifact: str
    artifact_sha256: str
    runner: str
    runner_sha256: str
    runtime: str
    runtime_version: str
    samples_ms: tuple[float, ...]
    sample_kind: str  # "per_run", or one number per invocation: "invocation_median" / "invocation_mean"
    stats: LatencyStats
    warmup: int
    runs: int
    threads: int
    core_mask: int | None
    governor: str
    temp_before_c: float | None
    temp_after_c: float | None
    temp_gate_wait_s: float
    temp_gate_timed_out: bool
    attempts: int  # measurement attempts (> 1 when re-measured for high CV)
    retries: int  # fault retries
    rejected_samples_ms: tuple[tuple[float, ...], ...] = ()
    init_ms: float | None = None
    started_at: float = 0.0  # unix time
    duration_s: float = 0.0
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["samples_ms"] = list(self.samples_ms)
        d["rejected_samples_ms"] = [list(s) for s in self.rejected_samples_ms]
        return d


class PushCache:
    """Remembers which files (by sha256) are already on which device; the device itself is the
    durable cache: files live at ``<work_dir>/blobs/<sha>/<name>`` and are found again by size."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], str] = {}

    def ensure(self, device: Device, local: Path, sha: str, *, timeout_s: float, executable: bool) -> str:
        key = (device.id, sha)
        if key in self._known:
            return self._known[key]
        name = _SAFE_NAME.sub("_", local.name) or "file"
        remote_dir = f"{device.work_dir}/blobs/{sha[:24]}"
        remote = f"{remote_dir}/{name}"
        size = local.stat().st_size
        probe = device.shell(["stat", "-c", "%s", remote], timeout_s=30.0)
        if not (probe.rc == 0 and probe.stdout.strip() == str(size)):
            device.shell(["mkdir", "-p", remote_dir], timeout_s=30.0).check(device.id)
            part = remote + ".part"
            device.push(local, part, timeout_s=timeout_s)
            device.shell(["mv", "-f", part, remote], timeout_s=30.0).check(device.id)
            log.info("pushed %s to %s:%s (%d bytes)", local, device.id, remote, size)
        if executable:
            device.shell(["chmod", "755", remote], timeout_s=30.0).check(device.id)
        self._known[key] = remote
        return remote

    def forget(self, device_id: str) -> None:
        """Drop what we know about a device (after a reboot /data/local/tmp may have been wiped)."""
        self._known = {k: v for k, v in self._known.items() if k[0] != device_id}


def runtime_version_of(runner: Runner, output: RunnerOutput, runner_sha: str) -> str:
    """The runtime version a row records: what the runner printed, else what the user declared
    (``runner.runtime_version``), else ``<runner name>@<sha256 prefix>`` so builds stay apart."""
    if output.runtime_version:
        return output.runtime_version
    declared = str(getattr(runner, "runtime_version", "") or "")
    return declared or f"{runner.name}@{runner_sha[:12]}"


def _core_mask(protocol: MeasurementProtocol, info: DeviceInfo) -> int | None:
    if protocol.affinity == "none":
        return None
    if protocol.affinity == "big":
        return info.big_core_mask
    return int(protocol.affinity)


def _wait_for_temperature(
    device: Device, info: DeviceInfo, protocol: MeasurementProtocol, sleep: Callable[[float], None]
) -> tuple[float | None, float, bool]:
    """Return (temperature, seconds waited, timed out)."""
    temp = read_temperature_c(device, info)
    if protocol.max_temp_c is None or temp is None:
        return temp, 0.0, False
    start = time.monotonic()
    while temp is not None and temp > protocol.max_temp_c:
        waited = time.monotonic() - start
        if waited >= protocol.temp_timeout_s:
            if protocol.strict_temperature:
                raise ThermalTimeout(
                    f"still at {temp:.1f} C after {waited:.0f} s (gate {protocol.max_temp_c:g} C)",
                    device_id=device.id,
                )
            log.warning("%s still at %.1f C after %.0f s; measuring anyway", device.id, temp, waited)
            return temp, waited, True
        sleep(protocol.temp_poll_s)
        temp = read_temperature_c(device, info)
    return temp, time.monotonic() - start, False


def _invoke(
    device: Device,
    runner: Runner,
    runner_remote: str,
    model_remote: str,
    mask: int | None,
    protocol: MeasurementProtocol,
) -> RunnerOutput:
    argv = runner.argv(runner_remote, model_remote, **protocol.runner_args())
    if mask is not None:
        argv = ["taskset", format(mask, "x"), *argv]
    res = device.shell(argv, timeout_s=protocol.run_timeout_s).check(device.id)
    try:
        return runner.parse(res.stdout, res.stderr, warmup=protocol.warmup, runs=protocol.runs)
    except OutputParseError as exc:
        raise OutputParseError(
            exc.message, output=exc.output, cmd=argv, rc=res.rc, stderr=res.stderr, device_id=device.id
        ) from exc


def _collect(
    device: Device,
    runner: Runner,
    runner_remote: str,
    model_remote: str,
    mask: int | None,
    protocol: MeasurementProtocol,
) -> tuple[tuple[float, ...], str, RunnerOutput]:
    outputs = [_invoke(device, runner, runner_remote, model_remote, mask, protocol)]
    repeats = protocol.repeats if outputs[0].per_run else max(3, protocol.repeats)
    for _ in range(repeats - 1):
        outputs.append(_invoke(device, runner, runner_remote, model_remote, mask, protocol))
    if all(o.per_run for o in outputs):
        return tuple(s for o in outputs for s in o.samples_ms), "per_run", outputs[0]
    # summary-only runners: one number per invocation, the tool's own median where it prints one
    kinds = {o.sample_kind for o in outputs}
    kind = kinds.pop() if len(kinds) == 1 else "invocation_mean"
    if kind == "invocation_median":
        return tuple(o.summary_ms for o in outputs), kind, outputs[0]
    return tuple(o.mean_ms for o in outputs), "invocation_mean", outputs[0]


def _best_effort_kill(device: Device, pattern: str) -> None:
    try:
        device.shell(["pkill", "-9", "-f", pattern], timeout_s=10.0)
    except DeviceError:
        pass


def measure_artifact(
    device: Device,
    runner: Runner,
    artifact: str | Path,
    protocol: MeasurementProtocol | None = None,
    *,
    info: DeviceInfo | None = None,
    cache: PushCache | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Measurement:
    """Time ``artifact`` on ``device`` with ``runner`` following ``protocol``.

    Transient faults (``DeviceDisconnected``, ``CommandTimeout``, ``RunnerCrashed``,
    ``OutputParseError``, ``ThermalTimeout``) are retried up to ``protocol.max_retries`` times with
    exponential backoff (reconnecting after a disconnect); the last one is raised. Other
    ``DeviceError`` s (``StorageFull``, ``RunnerNotFound``) are raised at once.
    """
    protocol = protocol or MeasurementProtocol()
    cache = cache or PushCache()
    artifact = Path(artifact)
    artifact_sha = file_sha256(artifact)
    runner_sha = file_sha256(runner.local_path)
    retries = 0
    while True:
        try:
            if info is None:
                info = read_device_info(device)
            return _measure_once(
                device, runner, artifact, artifact_sha, runner_sha, protocol, info, cache, retries, sleep
            )
        except DeviceError as exc:
            if isinstance(exc, CommandTimeout):
                # the runner's blob dir is in the argv of whatever hung (binary or script path)
                _best_effort_kill(device, f"{device.work_dir}/blobs/{runner_sha[:24]}")
            if not exc.transient or retries >= protocol.max_retries:
                raise
            delay = protocol.backoff_s * (2**retries)
            retries += 1
            log.warning("%s: %s; retry %d/%d in %.1f s", device.id, exc, retries, protocol.max_retries, delay)
            sleep(delay)
            if isinstance(exc, DeviceDisconnected):
                cache.forget(device.id)
                device.recover(protocol.recover_timeout_s)


def _measure_once(
    device: Device,
    runner: Runner,
    artifact: Path,
    artifact_sha: str,
    runner_sha: str,
    protocol: MeasurementProtocol,
    info: DeviceInfo,
    cache: PushCache,
    retries: int,
    sleep: Callable[[float], None],
) -> Measurement:
    started_at = time.time()
    t0 = time.monotonic()
    runtime = runner.runtime_for(artifact)
    runner_remote = cache.ensure(
        device, runner.local_path, runner_sha, timeout_s=protocol.push_timeout_s, executable=True
    )
    model_remote = cache.ensure(
        device, artifact, artifact_sha, timeout_s=protocol.push_timeout_s, executable=False
    )
    mask = _core_mask(protocol, info)
    temp_before, waited, timed_out = _wait_for_temperature(device, info, protocol, sleep)

    best: tuple[LatencyStats, tuple[float, ...], str, RunnerOutput] | None = None
    rejected: list[tuple[float, ...]] = []
    attempts = 0
    while attempts < protocol.remeasure_attempts + 1:
        attempts += 1
        samples, kind, first = _collect(device, runner, runner_remote, model_remote, mask, protocol)
        stats = summarize(samples, protocol.trim_fraction)
        if best is None or stats.robust_cv < best[0].robust_cv:
            if best is not None:
                rejected.append(best[1])
            best = (stats, samples, kind, first)
        else:
            rejected.append(samples)
        if stats.robust_cv <= protocol.cv_threshold:
            break
        log.info(
            "%s: %s robust cv=%.3f > %.3f, re-measuring",
            device.id,
            artifact.name,
            stats.robust_cv,
            protocol.cv_threshold,
        )
    assert best is not None
    stats, samples, kind, first = best
    temp_after = read_temperature_c(device, info)
    notes = []
    if stats.robust_cv > protocol.cv_threshold:
        notes.append(f"robust cv {stats.robust_cv:.3f} above threshold after {attempts} attempts")
    if timed_out:
        notes.append("temperature gate timed out")
    notes.extend(getattr(first, "notes", ()))  # runner-specific state (the iPhone app's thermal state)
    if protocol.cooldown_s > 0:
        sleep(protocol.cooldown_s)
    return Measurement(
        device_id=device.id,
        artifact=artifact.name,
        artifact_sha256=artifact_sha,
        runner=runner.name,
        runner_sha256=runner_sha,
        runtime=first.runtime or runtime,
        runtime_version=runtime_version_of(runner, first, runner_sha),
        samples_ms=samples,
        sample_kind=kind,
        stats=stats,
        warmup=protocol.warmup,
        runs=protocol.runs,
        threads=protocol.threads,
        core_mask=mask,
        governor=info.governor,
        temp_before_c=temp_before,
        temp_after_c=temp_after,
        temp_gate_wait_s=waited,
        temp_gate_timed_out=timed_out,
        attempts=attempts,
        retries=retries,
        rejected_samples_ms=tuple(rejected),
        init_ms=first.init_ms,
        started_at=started_at,
        duration_s=time.monotonic() - t0,
        notes=tuple(notes),
    )
