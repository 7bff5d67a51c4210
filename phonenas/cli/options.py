"""Option aliases shared by the commands (``Annotated`` types: one spelling, one help text each).

Choices in help strings come from deploy's target registry, so a new target file shows up here too.

    def collect(store: StoreOption = Path("lut"), runtime: RuntimeOption = "executorch", ...): ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from deploy.registry import choices, default_targets


def _lut_dtypes() -> str:
    from deploy.registry import specs

    seen = dict.fromkeys(d.value for s in specs() for d in s.lut_dtypes)
    return ", ".join(seen)


LUT_TARGETS = choices(measurable_only=True)
DEPLOY_TARGETS = choices()
DEFAULT_TARGETS = ",".join(default_targets())

# ---- LUT store and context
StoreOption = Annotated[
    Path, typer.Option("--store", help="LUT store directory (parquet parts; created if needed).")
]
RuntimeOption = Annotated[
    str, typer.Option("--runtime", "-r", help=f"What to time: {LUT_TARGETS} (docs/runtimes.md).")
]
RuntimeFilter = Annotated[
    str | None, typer.Option("--runtime", "-r", help=f"Only LUTs of this runtime/target: {LUT_TARGETS}.")
]
DtypeOption = Annotated[str, typer.Option("--dtype", "-d", help=f"LUT dtype: {_lut_dtypes()} (per target).")]
DtypeFilter = Annotated[str | None, typer.Option("--dtype", "-d", help="Only LUTs of this dtype.")]
ThreadsOption = Annotated[int, typer.Option("--threads", help="Runtime threads while timing.")]
ThreadsFilter = Annotated[
    int | None, typer.Option("--threads", help="Only LUTs timed with this many threads.")
]
DeviceFilter = Annotated[str | None, typer.Option("--device", help="Only LUTs of this device id.")]

# ---- timing on devices
DevicesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--device", help="'host', an adb serial or an iPhone UDID (macOS); repeat for several devices."
    ),
]
DeviceOption = Annotated[
    str, typer.Option("--device", help="'host' or an adb serial: where artifacts are timed.")
]
RunsOption = Annotated[
    int | None, typer.Option("--runs", help="Fixed number of timed runs (default: adaptive, 30-300).")
]
WarmupOption = Annotated[
    int | None, typer.Option("--warmup", help="Untimed runs before timing each item (default 10).")
]
CooldownOption = Annotated[
    float | None,
    typer.Option(
        "--cooldown",
        help="Seconds to rest before (host) or after (phones) each item (default: 0 host, 1 phones).",
    ),
]
RemeasureOption = Annotated[
    int | None,
    typer.Option(
        "--remeasure", help="Repeat a too-noisy item up to N more times (default 2); 0 keeps the first."
    ),
]
RoundsOption = Annotated[
    int | None,
    typer.Option(
        "--rounds",
        min=1,
        help="Time every item this many times in interleaved rounds, fastest kept (default: 3 host, "
        "1 phones). More rounds ride out a noisy device: ExecuTorch int8 on a shared 2-core VM needed 5.",
    ),
]
AdbHostOption = Annotated[
    str | None,
    typer.Option("--adb-host", help="adb server host [default: $ANDROID_ADB_SERVER_HOST or 127.0.0.1]."),
]
AdbPortOption = Annotated[
    int | None,
    typer.Option("--adb-port", help="adb server port [default: $ANDROID_ADB_SERVER_PORT or 5037]."),
]
RunnerOption = Annotated[
    Path | None,
    typer.Option(
        "--runner",
        help="A native runner, pushed once and cached by hash (docs/android_runners.md): "
        "'phonenas-runner' (executorch; many blocks per process, built for this host automatically) "
        "or a path to phonenas-runner / executor_runner (executorch) / benchmark_model (litert). "
        "Default: the device's Python runtimes.",
    ),
]
CacheOption = Annotated[
    Path | None, typer.Option("--cache", help="Exported-artifact cache (default: STORE/artifacts).")
]
ExportWorkersOption = Annotated[
    int,
    typer.Option("--export-workers", help="Processes exporting before timing starts (0 = in this process)."),
]
DEFAULT_EXPORT_WORKERS = os.cpu_count() or 1

# ---- deploy
TargetsOption = Annotated[
    str, typer.Option("--targets", "-t", help=f"Comma list of deploy targets: {DEPLOY_TARGETS}.")
]
InputHwOption = Annotated[
    int | None, typer.Option("--input-hw", help="Override the arch's input resolution.")
]
