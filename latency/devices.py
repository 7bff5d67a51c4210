"""Device ids -> meters: the one factory behind every ``--device`` option.

``host`` times in this process (:class:`~latency.meters.HostMeter`); an iPhone UDID goes through the
PhoneNASBench app and ``xcrun devicectl`` (:mod:`latency.ios_meter`, macOS); anything else is an adb
serial timed through android_bench (:class:`~latency.meters.DeviceMeter`). A device is checked when its
meter is made - server reachable, serial attached and ready - so a wrong ``--device`` fails at once
with one line, before keys are enumerated or anything is exported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from latency.keys import context_target, parse_core_mask
from latency.meters import DeviceMeter, HostMeter, Meter, check_runtime_on_host
from latency.timer import TimingProtocol

HOST = "host"


class DeviceUnavailable(RuntimeError):
    """The device cannot be reached or is not ready; the message names the device and the fix."""


NATIVE_RUNNER = "phonenas-runner"  # --runner value: PhoneNAS's own runner, resolved per device ABI


def native_runner(path: Path | None, runtime: str) -> Any:
    """The android_bench runner for a native benchmark binary at ``path`` (``None``: the device's
    Python runtimes). ``phonenas-runner`` (the bare name) is PhoneNAS's own batch runner, resolved per
    device by :func:`device_runner` (built here for this host); a path whose name starts with it is that
    runner built by hand. Other binaries: the runner the target declares (``native_runner``)."""
    import android_bench as ab
    from deploy.registry import specs

    if path is None:
        return None
    target = context_target(runtime)
    native = path.name.startswith(NATIVE_RUNNER)
    if native and target.runtime != "executorch":
        raise ValueError(f"phonenas-runner times ExecuTorch only; use --runtime executorch, not {runtime}")
    if native and str(path) == NATIVE_RUNNER and not path.is_file():
        return NATIVE_RUNNER  # resolved per device in meter_for
    if not path.is_file():
        raise ValueError(f"runner {path} not found; build it as in docs/android_runners.md and pass its path")
    if native:
        return ab.NativeRunner(path)
    if not target.native_runner:
        have = " or ".join(s.name for s in specs() if s.native_runner)
        raise ValueError(f"--runner works with --runtime {have}, not {target.name}")
    return getattr(ab, target.native_runner)(path)


def device_runner(runner: Any, device: Any) -> Any:
    """Resolve ``--runner phonenas-runner`` for one device: the host build or the NDK build for its ABI."""
    import android_bench as ab

    if runner != NATIVE_RUNNER:
        return runner
    abi = "host" if isinstance(device, ab.HostDevice) else ab.read_device_info(device).abi
    try:
        return ab.NativeRunner(ab.native.runner_for_abi(abi))
    except ab.NativeBuildError as e:
        raise ValueError(str(e)) from None


def open_adb_device(serial: str, adb_host: str | None = None, adb_port: int | None = None) -> Any:
    """The attached, ready adb device ``serial``; :class:`DeviceUnavailable` (one line) otherwise."""
    import android_bench as ab

    try:
        return ab.open_device(serial, adb_host, adb_port)
    except ab.DeviceError as e:
        raise DeviceUnavailable(e.message) from None


@dataclass(frozen=True)
class MeterOptions:
    """How the meters of one command time, whatever the device (the ``--device``-independent options).

    ``threads``: runtime threads. ``cpus``: core list/mask to pin host timing to (host only). ``runs``:
    fixed number of timed runs (host: adaptive when ``None``; phones: 50). ``adb_host``/``adb_port``: the
    adb server. ``runner``: an android_bench runner from :func:`native_runner` (default: the device's
    Python runtimes). ``warmup`` (untimed runs), ``cooldown_s`` (rest per item) and ``remeasure`` (extra
    attempts for a too-noisy item) override the protocol's defaults where given. ``rounds``: interleaved
    timing rounds per item, fastest kept (default: 3 on the host, 1 on phones). ``ios_app``: the
    PhoneNASBench build to install when its hash changed; ``compute_units``: Core ML on iPhones.
    """

    threads: int = 1
    cpus: str = ""
    runs: int | None = None
    adb_host: str | None = None
    adb_port: int | None = None
    runner: Any = None
    warmup: int | None = None
    cooldown_s: float | None = None
    remeasure: int | None = None
    ios_app: Path | None = None
    compute_units: str = "all"
    rounds: int | None = None


def meter_for(device: str, options: MeterOptions | None = None) -> Meter:
    """A meter for ``device`` under ``options`` (:class:`MeterOptions`): ``host`` times in this process
    (``cpus`` pins timing, ``runs`` fixes the timed runs); an adb serial is reached through the adb
    server at ``adb_host:adb_port`` and timed by ``runner``; an iPhone UDID gets the PhoneNASBench app's
    meter through ``xcrun devicectl`` (macOS)."""
    from android_bench.ios_app import looks_like_ios_udid

    o = options or MeterOptions()
    import android_bench as ab

    def overridden(proto: ab.MeasurementProtocol) -> ab.MeasurementProtocol:
        """The protocol with --warmup / --cooldown / --remeasure applied where given."""
        return replace(
            proto,
            warmup=proto.warmup if o.warmup is None else o.warmup,
            cooldown_s=proto.cooldown_s if o.cooldown_s is None else o.cooldown_s,
            remeasure_attempts=proto.remeasure_attempts if o.remeasure is None else o.remeasure,
        )

    if device == HOST and o.runner is None:
        timing = TimingProtocol() if o.runs is None else TimingProtocol(min_runs=o.runs, max_runs=o.runs)
        timing = replace(
            timing,
            warmup=timing.warmup if o.warmup is None else o.warmup,
            cooldown_s=timing.cooldown_s if o.cooldown_s is None else o.cooldown_s,
            retries=timing.retries if o.remeasure is None else o.remeasure,
        )
        cpu_set = parse_core_mask(o.cpus)
        host = HostMeter(o.threads, sorted(cpu_set) if cpu_set else None, timing)
        return host if o.rounds is None else replace(host, rounds=o.rounds)
    if looks_like_ios_udid(device):
        from latency.ios_meter import ios_meter

        meter = ios_meter(
            device,
            threads=o.threads,
            runs=o.runs,
            compute_units=o.compute_units,
            app_path=o.ios_app,
            rounds=1 if o.rounds is None else o.rounds,
        )
        meter.protocol = overridden(meter.protocol or ab.MeasurementProtocol())
        return meter

    proto = overridden(ab.MeasurementProtocol(threads=o.threads, runs=o.runs or 50))
    # the host with a native runner (phonenas-runner) is timed like a phone: one process per batch
    dev = ab.HostDevice() if device == HOST else open_adb_device(device, o.adb_host, o.adb_port)
    return DeviceMeter(
        dev, runner=device_runner(o.runner, dev), protocol=proto, rounds=1 if o.rounds is None else o.rounds
    )


def meters_for(devices: Sequence[str], options: MeterOptions | None = None) -> list[Meter]:
    """One meter per device id (see :func:`meter_for`), every device checked before any is used."""
    return [meter_for(d, options) for d in devices]


def check_can_time(meters: Sequence[Meter], runtime: str) -> None:
    """Refuse at once (:class:`~latency.meters.RuntimeUnavailable`) when a host meter is asked to time a
    runtime this system cannot execute (Core ML off macOS), instead of after the first export."""
    for meter in meters:
        if isinstance(meter, HostMeter):
            check_runtime_on_host(runtime)
