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

from latency.keys import Context, DType, Runtime
from latency.meters import DeviceMeter, RuntimeUnavailable

__all__ = ["IOS_RUNTIMES", "IosMeter", "ios_meter"]

IOS_RUNTIMES = (Runtime.COREML, Runtime.EXECUTORCH)


@dataclass
class IosMeter(DeviceMeter):
    pack_dir: Path | None = None

    def _measure(self, artifact: Path):
        from android_bench.ios_app import pack_model

        artifact = Path(artifact)
        if artifact.is_dir():
            root = self.pack_dir or Path(tempfile.gettempdir()) / "phonenas-ios-packed"
            key = hashlib.sha256(str(artifact.resolve()).encode()).hexdigest()[:16]
            artifact = pack_model(artifact, root / key)
        return super()._measure(artifact)

    def context(self, runtime: Runtime, dtype: DType, probe: Path) -> Context:
        if Runtime(runtime) not in IOS_RUNTIMES:
            raise RuntimeUnavailable(
                f"iPhones time coreml or executorch with the PhoneNASBench app, not {Runtime(runtime).value}"
            )
        return super().context(runtime, dtype, probe)


def ios_meter(
    udid: str,
    *,
    threads: int = 1,
    runs: int | None = None,
    compute_units: str = "all",
    app_path: Path | None = None,
) -> IosMeter:
    """Open the iPhone (macOS + Xcode, trusted, app installed or installed from ``app_path`` by hash)."""
    import android_bench as ab
    from android_bench.ios_app import IosAppRunner, open_ios_device

    device, info, app_sha = open_ios_device(udid, app_path=app_path)
    runner = IosAppRunner(app_sha256=app_sha, compute_units=compute_units)
    # no host-side temperature gate or core pinning on iOS: the app waits for a nominal thermal state
    protocol = ab.MeasurementProtocol(threads=threads, runs=runs or 50, affinity="none", max_temp_c=None)
    return IosMeter(device, runner=runner, protocol=protocol, _info=info)
