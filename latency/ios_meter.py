"""Time LUT entries on an iPhone: the PhoneNASBench app through ``xcrun devicectl`` (macOS only).

:class:`IosMeter` is a :class:`latency.meters.DeviceMeter` whose device is an
:class:`android_bench.ios_app.IosAppDevice`, so collection, retries and resume are the Android ones.
Two things differ: a Core ML ``.mlpackage`` is a folder, so it is packed into one reproducible
``.mlpackage.tar`` (the app unpacks and compiles it), and only ``coreml`` and ``executorch`` run there.
The Core ML compute units are part of the runtime version the app reports (``coreml iOS 17.5
(computeUnits cpuAndNeuralEngine)``), so each choice is its own LUT context.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latency.keys import Context, context_target
from latency.meters import DeviceMeter, RuntimeUnavailable

__all__ = ["IOS_RUNTIMES", "IosMeter", "ios_meter"]

IOS_RUNTIMES = ("coreml", "executorch")  # runtime families the PhoneNASBench app links


@dataclass
class IosMeter(DeviceMeter):
    """``plan(artifacts)`` (the batch hook :func:`latency.collect.collect` calls per round, as for every
    :class:`~latency.meters.DeviceMeter`) lets ``measure`` time the next ``batch_size`` artifacts in one
    app launch (:func:`android_bench.ios_batch.measure_batch`); a kill
    loses at most one batch, and what the batch did not settle is timed alone with the usual retries."""

    pack_dir: Path | None = None
    batch_size: int = 16

    def _packed(self, artifact: Path) -> Path:
        from android_bench.ios_app import pack_model

        if not artifact.is_dir():
            return artifact
        root = self.pack_dir or Path(tempfile.gettempdir()) / "phonenas-ios-packed"
        key = hashlib.sha256(str(artifact.resolve()).encode()).hexdigest()[:16]
        return pack_model(artifact, root / key)

    def _measure(self, artifact: Path):
        return super()._measure(self._packed(Path(artifact)))

    def measure(self, artifact: Path, input_chw: tuple[int, int, int], runtime: str) -> list[float]:
        from android_bench.ios_app import IosAppDevice

        artifact = Path(artifact)
        if (
            isinstance(self.device, IosAppDevice)
            and self.protocol is not None
            and self.batch_size > 1
            and artifact in self._planned
        ):
            result = self._planned_result(artifact, self._launch_from)
            if isinstance(result, Exception):
                raise result
            if result is not None:  # else: not settled by the launch, timed alone below
                self._last = result
                return [float(s) for s in result.samples_ms]
        return super().measure(artifact, input_chw, runtime)

    def _launch_from(self, at: int) -> dict[int, Any]:
        """One app launch over the planned items from ``at``: up to ``batch_size`` of them, stopping
        before an artifact the launch already holds (the app reports one result per artifact, so a
        whole model read several times per round gets a launch per reading)."""
        from android_bench.ios_app import IosAppDevice
        from android_bench.ios_batch import measure_batch

        assert isinstance(self.device, IosAppDevice) and self.protocol is not None
        chunk: dict[Path, int] = {}  # packed artifact -> plan index
        for i in range(at, min(at + self.batch_size, len(self._planned))):
            packed = self._packed(self._planned[i])
            if packed in chunk:
                break
            chunk[packed] = i
        results = measure_batch(
            self.device, self.runner, list(chunk), self.protocol, info=self._device_info(), cache=self._cache
        )
        return {chunk[p]: r for p, r in results.items()}

    def context(self, runtime: str, dtype: str, probe: Path) -> Context:
        try:
            family = context_target(runtime).runtime
        except ValueError:
            family = str(runtime)
        if family not in IOS_RUNTIMES:
            raise RuntimeUnavailable(
                f"iPhones time coreml or executorch with the PhoneNASBench app, not {runtime}"
            )
        return super().context(runtime, dtype, probe)


def ios_meter(
    udid: str,
    *,
    threads: int = 1,
    runs: int | None = None,
    compute_units: str = "all",
    app_path: Path | None = None,
    rounds: int = 1,
) -> IosMeter:
    """Open the iPhone (macOS + Xcode, trusted, app installed or installed from ``app_path`` by hash);
    ``rounds``: interleaved timing rounds (:class:`latency.meters.DeviceMeter`)."""
    import android_bench as ab
    from android_bench.ios_app import IosAppRunner, open_ios_device

    device, info, app_sha = open_ios_device(udid, app_path=app_path)
    runner = IosAppRunner(app_sha256=app_sha, compute_units=compute_units)
    # no host-side temperature gate or core pinning on iOS: the app waits for a nominal thermal state
    protocol = ab.MeasurementProtocol(threads=threads, runs=runs or 50, affinity="none", max_temp_c=None)
    return IosMeter(device, runner=runner, protocol=protocol, rounds=rounds, _info=info)
