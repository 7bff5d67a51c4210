"""Meters: time an exported artifact on a device and say which context the samples belong to.

``HostMeter`` loads the artifact with deploy's runner in this process and applies
:class:`latency.timer.TimingProtocol` (warm-up, adaptive runs, CPU pinning). ``DeviceMeter`` hands the
artifact to :func:`android_bench.measure_artifact` (adb phones, or any android_bench ``Device``).
Core ML can be exported anywhere but timed only on macOS: the host meter refuses it elsewhere with a
clear message instead of a number.
"""

from __future__ import annotations

import platform
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from latency.export import lut_target, runtime_version, toolchain_versions
from latency.keys import Context, core_mask_str
from latency.store import Provenance
from latency.timer import (
    TimingProtocol,
    pinned,
    run_queue_wait_ns,
    thread_run_queue_wait_ns,
    time_callable,
)

if TYPE_CHECKING:
    import android_bench as ab


class RuntimeUnavailable(RuntimeError):
    """The runtime cannot time artifacts on this device; the message says where it can."""


class Meter(Protocol):
    """Times artifacts on one device. Optional ``rounds`` (int, default 1): how many interleaved
    rounds :func:`latency.collect.collect` and whole-model measurements run (lowest median kept).
    Optional ``plan(artifacts)``: the one batch hook - collection announces each round's artifacts, in
    order, before measuring them, so a meter can time many per device call (:class:`DeviceMeter`).
    Optional ``contention()``: the share of the last ``measure``'s wall time the timing code spent
    waiting for a CPU (None: unknown); above ``DriftReference.max_wait`` the measurement is re-measured
    like one the drift reference calls unstable (:class:`HostMeter`)."""

    device_id: str

    def context(self, runtime: str, dtype: str, probe: Path) -> Context: ...

    def provenance(self) -> Provenance: ...

    def measure(self, artifact: Path, input_chw: tuple[int, int, int], runtime: str) -> list[float]: ...


_SYSTEM_NAMES = {"Darwin": "macOS"}


def check_runtime_on_host(runtime: str) -> None:
    """Raise :class:`RuntimeUnavailable` if the target's runtime cannot execute on this system."""
    target, system = lut_target(runtime), platform.system()
    if target.runs_here(system):
        return
    where = " or ".join(_SYSTEM_NAMES.get(s, s) for s in target.runs_on)
    from deploy.registry import specs

    here = [s.name for s in specs() if s.measurable and s.runs_here(system)]
    raise RuntimeUnavailable(
        f"{target.title} timing needs {where} (it exports here but only runs there; this is {system}); "
        f"run `phonenas lut collect --runtime {target.name}` on {where}, or pick {'/'.join(here)}"
    )


@dataclass
class HostMeter:
    """Time in this Python process with deploy's runners.

    ``rounds``: collections and whole-model measurements time every artifact this many times, in
    interleaved rounds (a fresh load each time), and keep the lowest median. On this shared VM a
    stretch of a few seconds can run 1.5-2x slower with perfectly stable samples; with one round the
    blocks timed in that stretch put the models using them 20-45% off, with three interleaved rounds
    a slow stretch has to hit the same block three times.

    :meth:`contention` is the share of the last measurement's wall time the timing spent runnable but
    waiting for a CPU: another process time-sharing the timing CPU, which the drift reference's short
    calls do not feel. With one thread the runtime runs in the calling thread, whose wait alone is read
    (:func:`latency.timer.thread_run_queue_wait_ns`); with more, the process's threads' waits
    (:func:`latency.timer.run_queue_wait_ns`) per runtime thread, which other threads of the process
    can inflate.
    """

    threads: int = 1
    cpus: Sequence[int] | None = None
    protocol: TimingProtocol = field(default_factory=TimingProtocol)
    device_id: str = "host"
    seed: int = 0
    rounds: int = 3

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        self._wait_share: float | None = None

    def contention(self) -> float | None:
        """The share of the last :meth:`measure`'s timing this process waited for a CPU (None before the
        first measurement, or where the kernel does not report run-queue waits)."""
        return self._wait_share

    def context(self, runtime: str, dtype: str, probe: Path) -> Context:
        check_runtime_on_host(runtime)
        return Context.for_target(
            self.device_id,
            runtime,
            runtime_version(runtime),
            dtype,
            self.threads,
            core_mask_str(self.cpus) if self.cpus else "",
        )

    def provenance(self) -> Provenance:
        return Provenance(
            device_model=host_cpu_model(),
            device_soc=platform.processor() or platform.machine(),
            os=f"{platform.system()} {platform.release()}",
            affinity=core_mask_str(_affinity()),
            toolchain=toolchain_versions(),
            protocol={"meter": "host", "rounds": self.rounds, **self.protocol.as_dict()},
            host=socket.gethostname(),
        )

    def measure(self, artifact: Path, input_chw: tuple[int, int, int], runtime: str) -> list[float]:
        from deploy import get_target

        check_runtime_on_host(runtime)
        runner = get_target(lut_target(runtime).name).load(Path(artifact), threads=self.threads)
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal((1, *input_chw)).astype(np.float32)
        # runners that convert I/O in Python differently per artifact expose the bare runtime call
        call = runner.timed_call(x) if hasattr(runner, "timed_call") else (lambda: runner.run(x))
        self._wait_share = None
        waited = thread_run_queue_wait_ns if self.threads == 1 else run_queue_wait_ns
        with pinned(set(self.cpus) if self.cpus else None):
            w0, t0 = waited(), time.perf_counter_ns()
            samples = time_callable(call, self.protocol)
            w1, t1 = waited(), time.perf_counter_ns()
        if w0 is not None and w1 is not None and t1 > t0:
            self._wait_share = max(0.0, (w1 - w0) / (t1 - t0) / max(1, self.threads))
        return samples


@dataclass
class DeviceMeter:
    """Time through android_bench on a ``Device`` (adb phone, loopback fixture, host device)."""

    device: ab.Device
    runner: Any = None  # an android_bench runner; default: PythonRuntimeRunner (devices with Python)
    protocol: ab.MeasurementProtocol | None = None
    _info: ab.DeviceInfo | None = None
    _version: dict[str, str] = field(default_factory=dict)
    rounds: int = 1  # interleaved timing rounds (see :class:`HostMeter`); each round is planned afresh

    def __post_init__(self) -> None:
        import android_bench as ab

        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")

        self.runner = self.runner or ab.PythonRuntimeRunner()
        self.protocol = self.protocol or ab.MeasurementProtocol()
        self._cache = ab.PushCache()
        self.device_id = self.device.id
        self._last: Any = None
        self._planned: list[Path] = []
        self._results: dict[int, Any] = {}  # plan index -> Measurement or the error it failed with
        self._pos = 0  # plan index of the next item expected

    def plan(self, artifacts: Sequence[Path]) -> None:
        """The artifacts about to be measured, in order (:func:`latency.collect.collect` calls it per
        round; an artifact may appear several times: a whole model is read ``MODEL_READINGS`` times per
        round). A batch runner (``phonenas-runner``) then times them ``batch_size`` per process and
        :meth:`measure` hands each result out as it is asked for."""
        self._planned = [Path(a) for a in artifacts]
        self._results = {}
        self._pos = 0

    def _plan_index(self, artifact: Path) -> tuple[int, bool]:
        """Which planned item a request is, and whether a result timed before may be handed out: the
        next planned item, or the artifact's next occurrence ahead; an artifact asked for again (the
        drift reference's re-measure of the items timed since its last reading) is its latest
        occurrence handed out, timed afresh."""
        if self._pos < len(self._planned) and self._planned[self._pos] == artifact:
            return self._pos, True
        behind = [i for i in range(self._pos) if self._planned[i] == artifact]
        if behind:
            return behind[-1], False
        return self._planned.index(artifact, self._pos), True

    def _planned_result(self, artifact: Path, time_from: Callable[[int], dict[int, Any]]) -> Any:
        """The result of ``artifact``'s planned item; ``time_from(i)`` times a batch from plan index
        ``i`` on and returns its results by plan index (they replace the unconsumed ones); None when
        the batch reported nothing for it."""
        at, reuse = self._plan_index(artifact)
        if not reuse or at not in self._results:
            self._results = time_from(at)
        self._pos = at + 1
        return self._results.pop(at, None)

    def _from_batch(self, artifact: Path):
        import android_bench as ab

        def time_from(at: int) -> dict[int, Any]:
            size = max(1, int(getattr(self.runner, "batch_size", 64)))
            chunk = self._planned[at : at + size]  # repeats are timed at their own place in the batch
            res = ab.measure_batch(
                self.device, self.runner, chunk, self.protocol, info=self._device_info(), cache=self._cache
            )
            return {at + i: r for i, r in enumerate(res.results)}

        m = self._planned_result(artifact, time_from)
        if m is None:
            raise RuntimeError(f"the batch runner reported nothing for {artifact.name}")
        if isinstance(m, BaseException):
            raise m
        self._last = m
        return m

    def _device_info(self) -> ab.DeviceInfo:
        import android_bench as ab

        if self._info is None:
            self._info = ab.read_device_info(self.device)
        return self._info

    def _measure(self, artifact: Path):
        import android_bench as ab

        if hasattr(self.runner, "batch_argv") and Path(artifact) in self._planned:
            return self._from_batch(Path(artifact))

        m = ab.measure_artifact(
            self.device, self.runner, artifact, self.protocol, info=self._device_info(), cache=self._cache
        )
        self._last = m
        return m

    def context(self, runtime: str, dtype: str, probe: Path) -> Context:
        if runtime not in self._version:
            self._version[runtime] = str(self._measure(probe).runtime_version)
        m = self._last
        mask = getattr(m, "core_mask", None) if m is not None else None
        return Context.for_target(
            self.device_id,
            runtime,
            self._version[runtime],
            dtype,
            self.protocol.threads,  # type: ignore[union-attr]
            _mask_str(mask),
        )

    def provenance(self) -> Provenance:
        info = self._device_info()
        return Provenance(
            device_model=str(getattr(info, "model", "")),
            device_soc=str(getattr(info, "soc", "")),
            os=str(getattr(info, "os_version", "")),
            affinity=_mask_str(getattr(self._last, "core_mask", None)),
            toolchain=toolchain_versions(),
            protocol={
                "meter": "android_bench",
                "rounds": self.rounds,
                "runner": getattr(self.runner, "name", ""),
                "sample_kind": str(getattr(self._last, "sample_kind", "")),
                **{k: v for k, v in vars(self.protocol).items() if isinstance(v, (int, float, str))},
            },
            host=socket.gethostname(),
        )

    def measure(self, artifact: Path, input_chw: tuple[int, int, int], runtime: str) -> list[float]:
        return [float(s) for s in self._measure(artifact).samples_ms]


def _mask_str(mask: object) -> str:
    if isinstance(mask, int):
        return core_mask_str(i for i in range(mask.bit_length()) if mask >> i & 1)
    return "" if mask is None else str(mask)


def _affinity() -> set[int]:
    import os

    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()


def host_cpu_model() -> str:
    """This computer's CPU model (``/proc/cpuinfo``), else its machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def host_cpu_label(cache_dir: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> str:
    """:func:`host_cpu_model` with the size of its last-level cache, e.g. ``AMD EPYC (16 MiB L3)``: VMs
    report one model name for hosts whose caches, and so whose latencies, differ (a 16 MiB-L3 and a
    32 MiB-L3 "AMD EPYC" measured up to 2x apart). The bare model where sysfs has no cache sizes."""
    model = host_cpu_model()
    best: tuple[int, int] | None = None  # (level, KiB)
    for d in cache_dir.glob("index*"):
        try:
            level, size = int((d / "level").read_text()), (d / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        kib = _kib(size)
        if kib and (best is None or level > best[0]):
            best = (level, kib)
    if best is None:
        return model
    level, kib = best
    size = f"{kib // 1024} MiB" if kib % 1024 == 0 else f"{kib} KiB"
    return f"{model} ({size} L{level})"


def _kib(size: str) -> int:
    """sysfs cache size (``16384K``, ``2M``) in KiB; 0 when unreadable."""
    units = {"K": 1, "M": 1024, "G": 1024 * 1024}
    try:
        return int(size[:-1]) * units[size[-1].upper()] if size[-1:].isalpha() else int(size) // 1024
    except (KeyError, ValueError):
        return 0
