"""The PhoneNASBench app as an android_bench runner: its argv, its result format, model packing.

Pure pieces of the iPhone path (no devicectl): :class:`IosAppRunner` builds the argv that
``IosAppDevice.shell`` turns into one app launch and parses the app's result; :func:`parse_ios_result`
splits a batch result into per-model sections (each one is the python runner's format plus ``model``,
``compute_units`` and ``thermal_state_before/after`` lines); :func:`pack_model` turns a ``.mlpackage``
folder into the single reproducible tar the app unpacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from android_bench.errors import DeviceError, OutputParseError
from android_bench.runners import RunnerOutput, parse_python_runner_output

__all__ = [
    "BUNDLE_ID",
    "COMPUTE_UNITS",
    "STAMP_NAME",
    "THERMAL_STATES",
    "AppReportedError",
    "IosAppRunner",
    "IosModelResult",
    "IosRunnerOutput",
    "app_bundle_sha256",
    "pack_model",
    "parse_ios_result",
]

BUNDLE_ID = "org.phonenas.PhoneNASBench"
COMPUTE_UNITS = ("cpuOnly", "cpuAndGPU", "cpuAndNeuralEngine", "all")
THERMAL_STATES = ("nominal", "fair", "serious", "critical")
STAMP_NAME = "phonenas_ios_app.json"  # the "runner" file: identifies the app build (its hash)


class AppReportedError(DeviceError):
    """The app ran but could not time a model (load/compile failure); its message is kept."""


# ---- the result format --------------------------------------------------------------------------
@dataclass(frozen=True)
class IosRunnerOutput(RunnerOutput):
    """A section of the app's result: the runner fields plus what only the app knows."""

    model: str = ""
    compute_units: str = ""
    thermal_before: str = ""
    thermal_after: str = ""

    @property
    def notes(self) -> tuple[str, ...]:
        out = [f"thermal_state {self.thermal_before or '?'} -> {self.thermal_after or '?'}"]
        if self.compute_units:
            out.append(f"compute_units {self.compute_units}")
        return tuple(out)


@dataclass(frozen=True)
class IosModelResult:
    model: str
    output: IosRunnerOutput | None
    error: str = ""


def parse_ios_result(text: str, *, runs: int | None = None) -> list[IosModelResult]:
    """Split the app's result file into per-model sections and parse each (pure; tested on recorded text).

    A section that failed on the phone has an ``error <message>`` line and ``end 0``; it comes back with
    ``output=None``. Garbage or a truncated file raises ``OutputParseError``.
    """
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.strip() == "phonenas-bench 1"]
    if not starts:
        raise OutputParseError("app result has no 'phonenas-bench 1' header", output=text)
    results = []
    for a, b in zip(starts, [*starts[1:], len(lines)], strict=True):
        section = "\n".join(lines[a:b])
        extra: dict[str, str] = {}
        for ln in lines[a + 1 : b]:
            key, _, value = ln.strip().partition(" ")
            if key in ("model", "compute_units", "thermal_state_before", "thermal_state_after", "error"):
                extra[key] = value.strip()
        for key in ("thermal_state_before", "thermal_state_after"):
            if extra.get(key) and extra[key] not in THERMAL_STATES:
                raise OutputParseError(f"unknown thermal state {extra[key]!r} in app result", output=text)
        if "error" in extra:
            results.append(IosModelResult(extra.get("model", ""), None, extra["error"]))
            continue
        base = parse_python_runner_output(section, runs=runs)
        out = IosRunnerOutput(
            **{f: getattr(base, f) for f in RunnerOutput.__dataclass_fields__},
            model=extra.get("model", ""),
            compute_units=extra.get("compute_units", ""),
            thermal_before=extra.get("thermal_state_before", ""),
            thermal_after=extra.get("thermal_state_after", ""),
        )
        results.append(IosModelResult(out.model, out))
    return results


# ---- the runner: argv for one launch, parser for its result -----------------------------------
def app_bundle_sha256(app: str | Path) -> str:
    """Content hash of a built ``.app`` directory (relative paths + bytes, sorted): 'install by hash'."""
    root = Path(app)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a built .app bundle (xcodebuild ... build, docs/ios.md)")
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


@dataclass(frozen=True)
class IosAppRunner:
    """The PhoneNASBench app as an android_bench runner.

    ``local_path`` is a small stamp file naming the bundle id and the app build's hash (so the
    measurement's ``runner_sha256`` identifies the app build); its argv is what ``IosAppDevice.shell``
    turns into one app launch.
    """

    bundle_id: str = BUNDLE_ID
    app_sha256: str = ""  # of the .app the device was provisioned with ("" = installed by the user)
    compute_units: str = "all"  # Core ML MLModelConfiguration.computeUnits
    thermal_gate: str | None = (
        "nominal"  # the app waits (on the phone) until ProcessInfo.thermalState <= this
    )
    thermal_timeout_s: float = 180.0
    stamp_dir: Path | None = None
    name: str = field(default="PhoneNASBench", init=False)

    def __post_init__(self) -> None:
        if self.compute_units not in COMPUTE_UNITS:
            raise ValueError(
                f"compute units must be one of {', '.join(COMPUTE_UNITS)}, got {self.compute_units!r}"
            )
        if self.thermal_gate is not None and self.thermal_gate not in THERMAL_STATES:
            raise ValueError(f"thermal gate must be one of {', '.join(THERMAL_STATES)} or None")

    @property
    def local_path(self) -> Path:
        body = json.dumps({"bundle_id": self.bundle_id, "app_sha256": self.app_sha256}, sort_keys=True)
        digest = hashlib.sha256(body.encode()).hexdigest()[:16]
        root = self.stamp_dir or Path(tempfile.gettempdir()) / "phonenas-ios-stamps"
        path = root / digest / STAMP_NAME
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            # unique per process AND thread: two device workers of one process may write it at once
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(body + "\n")
            os.replace(tmp, path)
        return path

    def runtime_for(self, artifact: Path) -> str:
        name = Path(artifact).name.lower()
        if name.endswith(".pte"):
            return "executorch"
        if name.endswith((".mlpackage", ".mlpackage.tar", ".mlmodel")):
            return "coreml"
        raise ValueError(f"{artifact}: the iPhone app times .pte (ExecuTorch) and .mlpackage (Core ML) files")

    def argv(
        self,
        runner_remote: str,
        model_remote: str,
        *,
        warmup: int,
        runs: int,
        threads: int,
        warmup_s: float = 0.0,
    ) -> list[str]:
        # the app warms up by count only (its manifest has no time): ``warmup_s`` is not passed on
        argv = [runner_remote, "--model", model_remote, "--warmup", str(warmup), "--runs", str(runs),
                "--threads", str(threads), "--compute-units", self.compute_units]  # fmt: skip
        if self.thermal_gate:
            argv += [
                "--thermal-gate",
                self.thermal_gate,
                "--thermal-timeout-s",
                f"{self.thermal_timeout_s:g}",
            ]
        return argv

    def parse(self, stdout: str, stderr: str, *, warmup: int, runs: int) -> RunnerOutput:
        results = parse_ios_result(stdout, runs=runs)
        if len(results) != 1:
            raise OutputParseError(
                f"expected one model in the app result, found {len(results)}", output=stdout
            )
        (res,) = results
        if res.output is None:
            raise AppReportedError(f"PhoneNASBench could not time {res.model}: {res.error}")
        return res.output


def pack_model(path: str | Path, out_dir: str | Path) -> Path:
    """A single file for a model directory (``.mlpackage``): an uncompressed, reproducible tar
    (sorted members, zero mtimes) that the app unpacks; files are returned unchanged."""
    path = Path(path)
    if path.is_file():
        return path
    out = Path(out_dir) / f"{path.name}.tar"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.part")

    def norm(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        return info

    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for p in [path, *sorted(path.rglob("*"))]:
            tar.add(
                p, arcname=str(PurePosixPath(path.name) / p.relative_to(path)), recursive=False, filter=norm
            )
    os.replace(tmp, out)
    return out
