"""Runner specs: how to build the argv of a benchmark binary/script and how to parse what it prints.

Three runners, one protocol:
- ``ExecutorRunner``: ExecuTorch's ``executor_runner`` (built by the user for the phone, see
  docs/android_runners.md); per-iteration times from its "Iteration i of n: x ms" log lines.
- ``BenchmarkModelRunner``: LiteRT/TFLite ``benchmark_model``; it prints only a summary (avg/std/min/
  max), so its samples are per-invocation means.
- ``PythonRuntimeRunner``: ``resources/phonenas_bench_runner`` run by a device-side Python with
  executorch / ai_edge_litert / onnxruntime installed (host, loopback phone, Termux).

Parsers are pure functions over the text; they raise ``OutputParseError`` on garbage and never
return a zero, negative or non-finite time.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from android_bench.errors import OutputParseError

__all__ = [
    "PYTHON_RUNNER_SCRIPT",
    "BenchmarkModelRunner",
    "ExecutorRunner",
    "PythonRuntimeRunner",
    "Runner",
    "RunnerOutput",
    "file_sha256",
    "parse_benchmark_model_output",
    "parse_executor_runner_output",
    "parse_python_runner_output",
]

# Not a .py file on purpose: it imports torch/executorch and runs on the device, never in this package.
PYTHON_RUNNER_SCRIPT = Path(__file__).with_name("resources") / "phonenas_bench_runner"
_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf|-inf)"


@dataclass(frozen=True)
class RunnerOutput:
    """What one runner invocation measured. ``samples_ms`` is empty when only a summary exists."""

    mean_ms: float
    samples_ms: tuple[float, ...] = ()
    count: int = 0
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    median_ms: float | None = None
    init_ms: float | None = None
    first_ms: float | None = None
    runtime: str = ""
    runtime_version: str = ""

    @property
    def per_run(self) -> bool:
        return bool(self.samples_ms)


class Runner(Protocol):
    """A way to time a model file on a device."""

    name: str

    @property
    def local_path(self) -> Path:
        """The binary or script to push to the device (cached there by its hash)."""
        ...

    def runtime_for(self, artifact: Path) -> str: ...

    def argv(
        self, runner_remote: str, model_remote: str, *, warmup: int, runs: int, threads: int
    ) -> list[str]: ...

    def parse(self, stdout: str, stderr: str, *, warmup: int, runs: int) -> RunnerOutput: ...


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _positive(value: float, what: str, text: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise OutputParseError(f"runner reported a non-positive or non-finite {what}: {value}", output=text)
    return value


# ---- ExecuTorch executor_runner ---------------------------------------------------------------
_ET_ITER = re.compile(r"Iteration (\d+) of (\d+): " + _NUM + r" ms")
_ET_DONE = re.compile(r"Model executed successfully (\d+) time\(s\) in " + _NUM + r" ms")
_ET_DONE_OLD = re.compile(r"Model executed successfully\.")
_ET_LOAD = re.compile(r"Model loaded in " + _NUM + r" ms")


def parse_executor_runner_output(text: str, *, warmup: int = 0, runs: int | None = None) -> RunnerOutput:
    """Parse ``executor_runner`` logs (stdout+stderr).

    With per-iteration lines ("Iteration i of n: x ms", ExecuTorch >= 0.7) the first ``warmup``
    iterations are dropped and the rest are the samples. Older runners print only
    "Model executed successfully N time(s) in T ms." -> mean T/N over all N executions (warm-up
    included; documented in docs/android_runners.md).
    """
    iters = [
        (int(m.group(1)), _positive(float(m.group(3)), "iteration time", text))
        for m in _ET_ITER.finditer(text)
    ]
    done = _ET_DONE.search(text)
    load = _ET_LOAD.search(text)
    init_ms = float(load.group(1)) if load else None
    if done is None:
        if _ET_DONE_OLD.search(text) and not iters:
            raise OutputParseError(
                "executor_runner ran without --num_executions timing (old runner with no timing output)",
                output=text,
            )
        raise OutputParseError(
            "executor_runner output has no 'Model executed successfully' line", output=text
        )
    n_exec = int(done.group(1))
    total_ms = _positive(float(done.group(2)), "total execution time", text)
    if iters:
        indices = [i for i, _ in iters]
        if indices != list(range(1, len(iters) + 1)) or len(iters) != n_exec:
            raise OutputParseError(
                f"executor_runner iteration lines are incomplete ({len(iters)} of {n_exec})", output=text
            )
        timed = [t for _, t in iters][warmup:]
        if not timed:
            raise OutputParseError(
                f"no timed iterations left after dropping {warmup} warm-up runs", output=text
            )
        if runs is not None and len(timed) != runs:
            raise OutputParseError(f"expected {runs} timed iterations, found {len(timed)}", output=text)
        return RunnerOutput(
            mean_ms=sum(timed) / len(timed),
            samples_ms=tuple(timed),
            count=len(timed),
            min_ms=min(timed),
            max_ms=max(timed),
            init_ms=init_ms,
            first_ms=iters[0][1],
            runtime="executorch",
        )
    if n_exec <= 0:
        raise OutputParseError("executor_runner reported zero executions", output=text)
    return RunnerOutput(mean_ms=total_ms / n_exec, count=n_exec, init_ms=init_ms, runtime="executorch")


@dataclass(frozen=True)
class ExecutorRunner:
    """ExecuTorch ``executor_runner`` built for the device (``--runner PATH``)."""

    path: Path
    threads_flag: str | None = "--cpu_threads"
    extra_args: tuple[str, ...] = ()
    name: str = field(default="executor_runner", init=False)

    @property
    def local_path(self) -> Path:
        return Path(self.path)

    def runtime_for(self, artifact: Path) -> str:
        return "executorch"

    def argv(
        self, runner_remote: str, model_remote: str, *, warmup: int, runs: int, threads: int
    ) -> list[str]:
        argv = [runner_remote, f"--model_path={model_remote}", f"--num_executions={warmup + runs}"]
        if self.threads_flag:
            argv.append(f"{self.threads_flag}={threads}")
        return argv + list(self.extra_args)

    def parse(self, stdout: str, stderr: str, *, warmup: int, runs: int) -> RunnerOutput:
        return parse_executor_runner_output(stdout + "\n" + stderr, warmup=warmup, runs=runs)


# ---- LiteRT / TFLite benchmark_model ----------------------------------------------------------
_BM_TIMINGS = re.compile(
    r"Inference timings in us: Init: "
    + _NUM
    + r", First inference: "
    + _NUM
    + r", Warmup \(avg\): "
    + _NUM
    + r", Inference \(avg\): "
    + _NUM
)
_BM_STAT = re.compile(
    r"count=(\d+)(?: first=(\d+))? curr=(\d+)(?: min=(\d+) max=(\d+) avg="
    + _NUM
    + r" std=(\d+))?(?:\(all same\))?(?: p5=(\d+) median=(\d+) p95=(\d+))?"
)


def parse_benchmark_model_output(text: str) -> RunnerOutput:
    """Parse LiteRT ``benchmark_model`` output (microseconds) into milliseconds.

    Requires the final "Inference timings in us: ..." line; the last "count=..." stat line (the
    regular, non-warm-up runs) adds count/min/max/std/median when present.
    """
    matches = list(_BM_TIMINGS.finditer(text))
    if not matches:
        raise OutputParseError("benchmark_model output has no 'Inference timings in us' line", output=text)
    m = matches[-1]
    init_us, first_us, _warm_us, avg_us = (float(m.group(i)) for i in range(1, 5))
    mean_ms = _positive(avg_us, "average inference time", text) / 1000.0
    stats = list(_BM_STAT.finditer(text[: m.start()]))
    count = 0
    std = mn = mx = med = None
    if stats:
        s = stats[-1]
        count = int(s.group(1))
        if s.group(4) is not None:
            mn, mx = float(s.group(4)) / 1000.0, float(s.group(5)) / 1000.0
            std = float(s.group(7)) / 1000.0
        else:  # "(all same)"
            mn = mx = float(s.group(3)) / 1000.0
            std = 0.0
        if s.group(9) is not None:
            med = float(s.group(9)) / 1000.0
    return RunnerOutput(
        mean_ms=mean_ms,
        count=count,
        std_ms=std,
        min_ms=mn,
        max_ms=mx,
        median_ms=med,
        init_ms=init_us / 1000.0 if init_us > 0 else None,
        first_ms=first_us / 1000.0 if first_us > 0 else None,
        runtime="litert",
    )


@dataclass(frozen=True)
class BenchmarkModelRunner:
    """LiteRT ``benchmark_model`` built for the device (``--runner PATH``)."""

    path: Path
    extra_args: tuple[str, ...] = ("--use_xnnpack=true",)
    name: str = field(default="benchmark_model", init=False)

    @property
    def local_path(self) -> Path:
        return Path(self.path)

    def runtime_for(self, artifact: Path) -> str:
        return "litert"

    def argv(
        self, runner_remote: str, model_remote: str, *, warmup: int, runs: int, threads: int
    ) -> list[str]:
        return [
            runner_remote,
            f"--graph={model_remote}",
            f"--num_threads={threads}",
            f"--warmup_runs={warmup}",
            "--warmup_min_secs=0",
            f"--num_runs={runs}",
            "--min_secs=0",
            *self.extra_args,
        ]

    def parse(self, stdout: str, stderr: str, *, warmup: int, runs: int) -> RunnerOutput:
        return parse_benchmark_model_output(stdout + "\n" + stderr)


# ---- the Python-runtime runner ----------------------------------------------------------------
def parse_python_runner_output(text: str, *, runs: int | None = None) -> RunnerOutput:
    """Parse the format documented in ``resources/phonenas_bench_runner`` (version 1)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    try:
        start = lines.index("phonenas-bench 1")
    except ValueError:
        raise OutputParseError("python runner output has no 'phonenas-bench 1' header", output=text) from None
    runtime = version = ""
    load_ms = None
    warm: list[float] = []
    samples: list[float] = []
    end: int | None = None
    for ln in lines[start + 1 :]:
        key, _, value = ln.partition(" ")
        try:
            if key == "runtime":
                runtime, _, version = value.partition(" ")
            elif key == "load_ms":
                load_ms = float(value)
            elif key == "warmup_ms":
                warm.append(float(value))
            elif key == "run_ms":
                samples.append(_positive(float(value), "run time", text))
            elif key == "end":
                end = int(value)
                break
        except ValueError:
            raise OutputParseError(f"malformed python runner line {ln!r}", output=text) from None
    if end is None:
        raise OutputParseError("python runner output is truncated (no 'end' line)", output=text)
    if end != len(samples) or not samples:
        raise OutputParseError(f"python runner announced {end} runs but printed {len(samples)}", output=text)
    if runs is not None and len(samples) != runs:
        raise OutputParseError(f"expected {runs} runs, python runner printed {len(samples)}", output=text)
    return RunnerOutput(
        mean_ms=sum(samples) / len(samples),
        samples_ms=tuple(samples),
        count=len(samples),
        min_ms=min(samples),
        max_ms=max(samples),
        init_ms=load_ms,
        first_ms=warm[0] if warm else None,
        runtime=runtime,
        runtime_version=version,
    )


_RUNTIME_BY_SUFFIX = {".pte": "executorch", ".tflite": "litert", ".onnx": "onnxruntime"}


@dataclass(frozen=True)
class PythonRuntimeRunner:
    """Time ``.pte``/``.tflite``/``.onnx`` with the device's Python runtimes (no native binary)."""

    interpreter: str = "python3"
    script: Path = PYTHON_RUNNER_SCRIPT
    name: str = field(default="python", init=False)

    @property
    def local_path(self) -> Path:
        return Path(self.script)

    def runtime_for(self, artifact: Path) -> str:
        try:
            return _RUNTIME_BY_SUFFIX[Path(artifact).suffix.lower()]
        except KeyError:
            raise ValueError(
                f"{artifact}: the python runner times .pte, .tflite and .onnx files only"
            ) from None

    def argv(
        self, runner_remote: str, model_remote: str, *, warmup: int, runs: int, threads: int
    ) -> list[str]:
        return [
            self.interpreter,
            runner_remote,
            model_remote,
            "--warmup",
            str(warmup),
            "--runs",
            str(runs),
            "--threads",
            str(threads),
        ]

    def parse(self, stdout: str, stderr: str, *, warmup: int, runs: int) -> RunnerOutput:
        return parse_python_runner_output(stdout, runs=runs)
