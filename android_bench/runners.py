"""Runner specs: how to build the argv of a benchmark binary/script and how to parse what it prints.

Four runners, one protocol:
- ``NativeRunner``: ``phonenas-runner``, the C++ ExecuTorch timer in ``runner/`` (built against the
  pinned executorch wheel for this host by :func:`android_bench.native.build_native_runner`, or for a
  phone with the NDK, docs/android_runners.md). Raw per-run samples, load time, ExecuTorch version,
  optional ETDump per-op profile; times MANY ``.pte`` in one process (:mod:`android_bench.batch`).
- ``ExecutorRunner``: ExecuTorch's ``executor_runner`` (built by the user for the phone, see
  docs/android_runners.md); per-iteration times from its "Iteration i of n: x ms" log lines, which
  exist from ExecuTorch v1.3.0 on (older runners print only a total: one warm-up-included mean per
  invocation). A runner built with the Android PAL logs to logcat only: the argv wraps the run so
  logcat's ExecuTorch lines for that pid are appended when stdout/stderr carry none.
- ``BenchmarkModelRunner``: TFLite ``benchmark_model`` (``//tflite/tools/benchmark:benchmark_model``);
  it prints only a summary, so its samples are per-invocation summaries: the tool's own median of the
  invocation's runs where it prints percentiles ("invocation_median"), else its mean
  ("invocation_mean"). The run count is checked; LiteRT's CompiledModel ``benchmark_model``
  (``//litert/tools:benchmark_model``) is detected and refused with the target to build instead.
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

from android_bench.errors import OutputParseError, UnsupportedRunner

__all__ = [
    "PYTHON_RUNNER_SCRIPT",
    "BenchOutput",
    "BenchmarkModelRunner",
    "ExecutorRunner",
    "ModelRecord",
    "NativeRunner",
    "OpTime",
    "PythonRuntimeRunner",
    "Runner",
    "RunnerOutput",
    "file_sha256",
    "parse_bench_output",
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
    ops: tuple[OpTime, ...] = ()  # ETDump per-op profile (phonenas-runner --profile)

    @property
    def per_run(self) -> bool:
        return bool(self.samples_ms)

    @property
    def sample_kind(self) -> str:
        """How to read the samples: ``per_run`` (raw samples), ``invocation_median`` (the tool's own
        median of this invocation's runs) or ``invocation_mean`` (only its mean was printed)."""
        if self.samples_ms:
            return "per_run"
        return "invocation_median" if self.median_ms is not None else "invocation_mean"

    @property
    def summary_ms(self) -> float:
        """This invocation as one number when there are no raw samples: the tool's median, else mean."""
        return self.median_ms if self.median_ms is not None else self.mean_ms


@dataclass(frozen=True)
class OpTime:
    """One ETDump profiling event of a model (median over the profiled runs)."""

    index: int
    median_ms: float
    kind: str  # "operator" (ExecuTorch instruction / method scope) | "delegate" (inside a backend)
    handle: int  # instruction index, or the delegate's debug id (-1 for XNNPACK's per-op events)
    name: str


class Runner(Protocol):
    """A way to time a model file on a device."""

    @property
    def name(self) -> str: ...

    @property
    def local_path(self) -> Path:
        """The binary or script to push to the device (cached there by its hash)."""
        ...

    def runtime_for(self, artifact: Path) -> str: ...

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
        """The command line timing one model: ``warmup`` untimed runs lasting at least ``warmup_s``
        seconds together (where the runner has such an option), then ``runs`` timed ones."""
        ...

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
LOGCAT_MARKER = "--- phonenas: logcat ExecuTorch ---"
# Runs the runner in the background to learn its pid, then appends logcat's ExecuTorch lines of that
# pid (`logcat --pid`, Android >= 7) after a marker; a device without logcat (host, loopback) adds
# nothing. The runner's exit code is kept.
_LOGCAT_WRAPPER = (
    '"$@" & pid=$!; wait $pid; rc=$?; '
    "if command -v logcat >/dev/null 2>&1; then "
    f'echo "{LOGCAT_MARKER}"; logcat -d -v raw --pid=$pid -s ExecuTorch:V 2>/dev/null; fi; '
    "exit $rc"
)


def parse_executor_runner_output(text: str, *, warmup: int = 0, runs: int | None = None) -> RunnerOutput:
    """Parse ``executor_runner`` logs (stdout+stderr, then any logcat lines after ``LOGCAT_MARKER``).

    With per-iteration lines ("Iteration i of n: x ms", ExecuTorch >= v1.3.0) the first ``warmup``
    iterations are dropped and the rest are the samples. Older runners print only
    "Model executed successfully N time(s) in T ms." -> mean T/N over all N executions (warm-up
    included; documented in docs/android_runners.md). A runner built with the Android PAL prints
    nothing on stdout: its lines are read from the logcat part.
    """
    direct, marker, logcat = text.partition(LOGCAT_MARKER)
    if marker and _ET_DONE.search(logcat) and not _ET_DONE.search(direct):
        text = logcat
    elif marker:
        text = direct
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
        if not text.strip() or (marker and not logcat.strip() and not _ET_DONE.search(direct)):
            raise OutputParseError(
                "executor_runner printed no log lines on stdout/stderr (nor in logcat): it was built "
                "with EXECUTORCH_ENABLE_LOGGING=OFF, or with the Android PAL on a device without "
                "logcat; rebuild with -DEXECUTORCH_ENABLE_LOGGING=ON -DEXECUTORCH_PAL_DEFAULT=posix "
                "(docs/android_runners.md)",
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
    """ExecuTorch ``executor_runner`` built for the device (``--runner PATH``).

    Per-run samples need a runner from ExecuTorch >= v1.3.0 (build the tag equal to the Python pin,
    v1.5.1). ``runtime_version``: the ExecuTorch release it was built from (the binary prints none);
    when empty the row records ``executor_runner@<sha256 prefix>`` so builds stay distinguishable.
    ``logcat``: wrap the run to append logcat's ExecuTorch lines (runners built with the Android PAL
    log only there).
    """

    path: Path
    threads_flag: str | None = "--cpu_threads"
    extra_args: tuple[str, ...] = ()
    runtime_version: str = ""
    logcat: bool = True
    name: str = field(default="executor_runner", init=False)

    @property
    def local_path(self) -> Path:
        return Path(self.path)

    def runtime_for(self, artifact: Path) -> str:
        return "executorch"

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
        # executor_runner has no warm-up option: the first ``warmup`` executions are dropped by
        # count (``parse``), whatever ``warmup_s`` asks for
        argv = [runner_remote, f"--model_path={model_remote}", f"--num_executions={warmup + runs}"]
        if self.threads_flag:
            argv.append(f"{self.threads_flag}={threads}")
        argv += list(self.extra_args)
        if self.logcat:
            return ["sh", "-c", _LOGCAT_WRAPPER, "phonenas-executor-runner", *argv]
        return argv

    def parse(self, stdout: str, stderr: str, *, warmup: int, runs: int) -> RunnerOutput:
        # logcat lines (after the marker, on stdout) go last so the direct output is searched first
        direct, marker, logcat = stdout.partition(LOGCAT_MARKER)
        return parse_executor_runner_output(
            direct + "\n" + stderr + ("\n" + marker + logcat if marker else ""), warmup=warmup, runs=runs
        )


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


# LiteRT's CompiledModel benchmark (//litert/tools:benchmark_model, litert/tools/benchmark_litert_model.h
# BenchmarkLoggingListener::OnBenchmarkEnd) prints this block instead of "Inference timings in us".
_LITERT_NEXT = re.compile(
    r"========== BENCHMARK RESULTS ==========|Inference \(avg\):\s+" + _NUM + r" ms \(\d+ runs\)"
)
_BM_RUNNING = re.compile(r"Running benchmark for at least (\d+) iterations")
LITERT_NEXT_HINT = (
    "this is LiteRT's CompiledModel benchmark_model (bazel target //litert/tools:benchmark_model: "
    "other output format, no --use_xnnpack, 10 us resolution); PhoneNAS drives the TFLite interpreter "
    "benchmark: build //tflite/tools/benchmark:benchmark_model in the same LiteRT checkout "
    "(docs/android_runners.md)"
)


def parse_benchmark_model_output(text: str, *, runs: int | None = None) -> RunnerOutput:
    """Parse TFLite ``benchmark_model`` output (microseconds) into milliseconds.

    Requires the final "Inference timings in us: ..." line; the last "count=..." stat line (the
    regular, non-warm-up runs) adds count/min/max/std and the tool's own median (``median_ms``, from
    "p5=.. median=.. p95=.." when the build prints percentiles). With ``runs``, a stat line reporting
    another count (``--max_secs`` cut the run short) is an error. LiteRT's other ``benchmark_model``
    raises :class:`UnsupportedRunner` naming the target to build.
    """
    matches = list(_BM_TIMINGS.finditer(text))
    if not matches:
        if _LITERT_NEXT.search(text) or "Unconsumed cmdline flags: --use_xnnpack" in text:
            raise UnsupportedRunner(LITERT_NEXT_HINT)
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
            med = _positive(float(s.group(9)), "median inference time", text) / 1000.0
    if runs is not None:
        if not stats:
            raise OutputParseError(
                "benchmark_model printed no 'count=' stat line, so its run count cannot be checked",
                output=text,
            )
        if count != runs:
            raise OutputParseError(
                f"benchmark_model ran {count} of the {runs} requested runs (its --max_secs limit cut the "
                "run short, or --min_secs added runs)",
                output=text,
            )
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
    """TFLite ``benchmark_model`` built for the device (``--runner PATH``).

    ``max_secs`` replaces the tool's 150 s default cap on the timed runs (the run count is checked;
    ``MeasurementProtocol.run_timeout_s`` still bounds a hung run). ``runtime_version``: the LiteRT
    release it was built from (the tool prints none); when empty the row records
    ``benchmark_model@<sha256 prefix>``.
    """

    path: Path
    extra_args: tuple[str, ...] = ("--use_xnnpack=true",)
    max_secs: float = 3600.0
    runtime_version: str = ""
    name: str = field(default="benchmark_model", init=False)

    @property
    def local_path(self) -> Path:
        return Path(self.path)

    def runtime_for(self, artifact: Path) -> str:
        return "litert"

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
        return [
            runner_remote,
            f"--graph={model_remote}",
            f"--num_threads={threads}",
            f"--warmup_runs={warmup}",
            f"--warmup_min_secs={warmup_s:g}",
            f"--num_runs={runs}",
            "--min_secs=0",
            f"--max_secs={self.max_secs:g}",
            *self.extra_args,
        ]

    def parse(self, stdout: str, stderr: str, *, warmup: int, runs: int) -> RunnerOutput:
        return parse_benchmark_model_output(stdout + "\n" + stderr, runs=runs)


# ---- the Python-runtime runner ----------------------------------------------------------------
@dataclass(frozen=True)
class ModelRecord:
    """One model of a ``phonenas-bench`` output: its timings, or why it failed (``error``)."""

    index: int
    path: str
    output: RunnerOutput | None = None
    error: str = ""
    profile_error: str = ""
    etdump: str = ""


@dataclass(frozen=True)
class BenchOutput:
    """A whole ``phonenas-bench`` output (version 1: one model; version 2: many)."""

    version: int
    runner: str
    runtime: str
    runtime_version: str
    threads: int
    models: tuple[ModelRecord, ...]
    complete: bool  # the final "done" line (v2) / "end" line (v1) was printed


@dataclass
class _Block:
    """One model's records while parsing."""

    index: int
    path: str
    load: float | None = None
    warm: list[float] = field(default_factory=list)
    runs: list[float] = field(default_factory=list)
    end: int | None = None
    ops: list[OpTime] = field(default_factory=list)
    error: str = ""
    profile_error: str = ""
    etdump: str = ""


def parse_bench_output(text: str) -> BenchOutput:
    """Parse the ``phonenas-bench`` format (stdout of phonenas_bench_runner / phonenas-runner).

    Version 1 (the Python runner, one model)::

        phonenas-bench 1
        runtime <name> <version>
        threads <n>
        load_ms <float>
        warmup_ms <float>        # one per warm-up run
        run_ms <float>           # one per timed run, in order
        end <number of run_ms lines>

    Version 2 (phonenas-runner, many models) adds a header and one block per model::

        phonenas-bench 2
        runner phonenas-runner <runner version>
        runtime executorch <version>
        threads <n>
        models <count>
        model <index> <path>     # then the v1 lines load_ms/warmup_ms/run_ms/end, or:
        error <message>          # this model failed; the next model follows
        op <i> <median_ms> <operator|delegate> <handle> <name>   # --profile, after "end"
        profile_error <message>
        etdump <path>
        done <models> ok <timed>

    A model whose block ends without "end" (the process died) is returned with an error; models never
    started are absent; ``complete`` says whether the "done" line came.
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln in ("phonenas-bench 1", "phonenas-bench 2")), None)
    if start is None:
        raise OutputParseError("runner output has no 'phonenas-bench 1|2' header", output=text)
    version = int(lines[start].split()[1])
    runner = runtime = rt_version = ""
    threads = 0
    models: list[ModelRecord] = []
    cur: _Block | None = None
    complete = False

    def close(m: _Block | None) -> None:
        if m is None:
            return
        error = m.error
        out = None
        if not error:
            if m.end is None:
                error = "output ends before this model's 'end' line (runner died or was killed)"
            elif m.end != len(m.runs) or not m.runs:
                error = f"runner announced {m.end} runs but printed {len(m.runs)}"
            else:
                out = RunnerOutput(
                    mean_ms=sum(m.runs) / len(m.runs),
                    samples_ms=tuple(m.runs),
                    count=len(m.runs),
                    min_ms=min(m.runs),
                    max_ms=max(m.runs),
                    init_ms=m.load,
                    first_ms=m.warm[0] if m.warm else None,
                    runtime=runtime,
                    runtime_version=rt_version,
                    ops=tuple(m.ops),
                )
        models.append(ModelRecord(m.index, m.path, out, error, m.profile_error, m.etdump))

    if version == 1:
        cur = _Block(0, "")
    for ln in lines[start + 1 :]:
        key, _, value = ln.partition(" ")
        try:
            if key == "runtime":
                runtime, _, rt_version = value.partition(" ")
            elif key == "runner":
                runner = value
            elif key == "threads":
                threads = int(value)
            elif key == "models":
                int(value)
            elif key == "model" and version == 2:
                close(cur)
                idx, _, path = value.partition(" ")
                cur = _Block(int(idx), path)
            elif cur is None:
                continue
            elif key == "load_ms":
                cur.load = float(value)
            elif key == "warmup_ms":
                cur.warm.append(float(value))
            elif key == "run_ms":
                cur.runs.append(_positive(float(value), "run time", text))
            elif key == "end":
                cur.end = int(value)
                if version == 1:
                    complete = True
                    break
            elif key == "error":
                cur.error = value or "runner reported an error"
            elif key == "op":
                i, med, kind, handle, name = (value.split(" ", 4) + [""] * 5)[:5]
                cur.ops.append(OpTime(int(i), float(med), kind, int(handle), name))
            elif key == "profile_error":
                cur.profile_error = value
            elif key == "etdump":
                cur.etdump = value
            elif key == "done":
                complete = True
                break
        except ValueError:
            raise OutputParseError(f"malformed runner line {ln!r}", output=text) from None
    close(cur)
    return BenchOutput(version, runner, runtime, rt_version, threads, tuple(models), complete)


def parse_python_runner_output(text: str, *, runs: int | None = None) -> RunnerOutput:
    """Parse one model's ``phonenas-bench`` output (version 1, or a one-model version 2)."""
    bench = parse_bench_output(text)
    if len(bench.models) != 1:
        raise OutputParseError(
            f"expected one model in the runner output, found {len(bench.models)}", output=text
        )
    rec = bench.models[0]
    if rec.output is None:
        if bench.version == 1 and "before this model's 'end'" in rec.error:
            raise OutputParseError("python runner output is truncated (no 'end' line)", output=text)
        raise OutputParseError(rec.error, output=text)
    if runs is not None and rec.output.count != runs:
        raise OutputParseError(f"expected {runs} runs, runner printed {rec.output.count}", output=text)
    return rec.output


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
        self,
        runner_remote: str,
        model_remote: str,
        *,
        warmup: int,
        runs: int,
        threads: int,
        warmup_s: float = 0.0,
    ) -> list[str]:
        return [
            self.interpreter,
            runner_remote,
            model_remote,
            "--warmup",
            str(warmup),
            "--warmup-s",
            f"{warmup_s:g}",
            "--runs",
            str(runs),
            "--threads",
            str(threads),
        ]

    def parse(self, stdout: str, stderr: str, *, warmup: int, runs: int) -> RunnerOutput:
        return parse_python_runner_output(stdout, runs=runs)


@dataclass(frozen=True)
class NativeRunner:
    """``phonenas-runner`` (``runner/``): ExecuTorch ``.pte`` timed natively, many per process.

    ``path``: the binary for the device (this host: ``android_bench.native.build_native_runner()``;
    a phone: the NDK build of docs/android_runners.md). ``profile``: also print the ETDump per-op
    profile (extra runs on a second, traced copy; the timed runs are untraced). ``batch_size``: models
    per process in :func:`android_bench.batch.measure_batch`.
    """

    path: Path
    profile: bool = False
    batch_size: int = 64
    runtime_version: str = ""
    name: str = field(default="phonenas-runner", init=False)

    @property
    def local_path(self) -> Path:
        return Path(self.path)

    def runtime_for(self, artifact: Path) -> str:
        if Path(artifact).suffix.lower() != ".pte":
            raise ValueError(f"{artifact}: phonenas-runner times ExecuTorch .pte files only")
        return "executorch"

    def _flags(self, warmup: int, runs: int, threads: int, warmup_s: float) -> list[str]:
        flags = [f"--threads={threads}", f"--warmup={warmup}", f"--runs={runs}"]
        if warmup_s > 0:  # only then: a phonenas-runner 1 binary (no --warmup-s) still times warmup_s=0
            flags.append(f"--warmup-s={warmup_s:g}")
        return flags + (["--profile"] if self.profile else [])

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
        return [runner_remote, *self._flags(warmup, runs, threads, warmup_s), model_remote]

    def batch_argv(
        self,
        runner_remote: str,
        manifest_remote: str,
        *,
        warmup: int,
        runs: int,
        threads: int,
        warmup_s: float = 0.0,
    ) -> list[str]:
        return [
            runner_remote,
            *self._flags(warmup, runs, threads, warmup_s),
            f"--manifest={manifest_remote}",
        ]

    def parse(self, stdout: str, stderr: str, *, warmup: int, runs: int) -> RunnerOutput:
        return parse_python_runner_output(stdout, runs=runs)

    def parse_batch(self, stdout: str) -> BenchOutput:
        return parse_bench_output(stdout)
