"""Runner output parsers on recorded output.

Where the samples in data/ come from (no phone is attached to this machine, so they were written
line for line from the format strings in the tools' sources, with realistic numbers):
- executor_runner_*.txt: pytorch/executorch examples/portable/executor_runner/executor_runner.cpp
  ("Model loaded in %f ms.", "Iteration %u of %u: %f ms", "Model executed successfully %u time(s) in
  %f ms."; older releases print only the total, the oldest only "Model executed successfully.") with
  the ET_LOG prefix "I 00:00:00.000617 executorch:file.cpp:line] ".
- benchmark_model_*.txt: google-ai-edge/LiteRT tflite/tools/benchmark/benchmark_model.cc
  (BenchmarkLoggingListener::OnBenchmarkEnd "Inference timings in us: Init: ..., First inference: ...,
  Warmup (avg): ..., Inference (avg): ...", and the Stat/StatWithPercentiles::OutputToStream lines
  "count=.. first=.. curr=.. min=.. max=.. avg=.. std=.. p5=.. median=.. p95=.."); the TF 2.x
  variant has no "INFO: " prefix and no percentiles, and prints "count=1 curr=..." for one run.
- python_runner_ok.txt: android_bench/resources/phonenas_bench_runner (our format, version 1).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from android_bench import (
    BenchmarkModelRunner,
    ExecutorRunner,
    OutputParseError,
    PythonRuntimeRunner,
    parse_benchmark_model_output,
    parse_executor_runner_output,
    parse_python_runner_output,
)

DATA = Path(__file__).parent / "data"


def read(name: str) -> str:
    return (DATA / name).read_text()


def test_executor_runner_iterations_drop_warmup() -> None:
    out = parse_executor_runner_output(read("executor_runner_iterations.txt"), warmup=3, runs=10)
    assert out.per_run and out.count == 10
    assert out.samples_ms[0] == pytest.approx(7.889)
    assert out.samples_ms[-1] == pytest.approx(7.884)
    assert out.first_ms == pytest.approx(15.311)
    assert out.init_ms == pytest.approx(14.942)
    assert out.mean_ms == pytest.approx(sum(out.samples_ms) / 10)
    assert out.runtime == "executorch"


def test_executor_runner_wrong_run_count_is_an_error() -> None:
    with pytest.raises(OutputParseError, match="expected 20"):
        parse_executor_runner_output(read("executor_runner_iterations.txt"), warmup=3, runs=20)


def test_executor_runner_total_only_gives_mean() -> None:
    out = parse_executor_runner_output(read("executor_runner_total_only.txt"))
    assert not out.per_run
    assert out.mean_ms == pytest.approx(6.2376)
    assert out.count == 10


@pytest.mark.parametrize("name", ["executor_runner_no_timing.txt", "executor_runner_crash.txt"])
def test_executor_runner_without_timing_raises(name: str) -> None:
    with pytest.raises(OutputParseError):
        parse_executor_runner_output(read(name))


def test_executor_runner_truncated_iterations_raise() -> None:
    text = read("executor_runner_iterations.txt").replace("Iteration 7 of 13: 7.831000 ms", "")
    with pytest.raises(OutputParseError, match="incomplete"):
        parse_executor_runner_output(text, warmup=3)


def test_executor_runner_zero_time_raises() -> None:
    text = read("executor_runner_iterations.txt").replace(
        "Iteration 5 of 13: 7.864000 ms", "Iteration 5 of 13: 0.000000 ms"
    )
    with pytest.raises(OutputParseError, match="non-positive"):
        parse_executor_runner_output(text, warmup=3)


def test_benchmark_model_litert() -> None:
    out = parse_benchmark_model_output(read("benchmark_model_litert.txt"))
    assert out.mean_ms == pytest.approx(21.3422)
    assert out.count == 50  # the regular runs, not the 5 warm-up runs
    assert out.min_ms == pytest.approx(20.988)
    assert out.max_ms == pytest.approx(22.903)
    assert out.std_ms == pytest.approx(0.347)
    assert out.median_ms == pytest.approx(21.257)
    assert out.init_ms == pytest.approx(31.337)
    assert out.first_ms == pytest.approx(29.716)
    assert not out.per_run


def test_benchmark_model_tf2_without_percentiles() -> None:
    out = parse_benchmark_model_output(read("benchmark_model_tf2_no_percentiles.txt"))
    assert out.mean_ms == pytest.approx(9.85948)
    assert out.count == 50
    assert out.median_ms is None
    assert out.std_ms == pytest.approx(0.246)


def test_benchmark_model_failure_raises() -> None:
    with pytest.raises(OutputParseError, match="Inference timings"):
        parse_benchmark_model_output(read("benchmark_model_failed.txt"))


def test_benchmark_model_zero_average_raises() -> None:
    text = read("benchmark_model_litert.txt").replace("Inference (avg): 21342.2", "Inference (avg): 0")
    with pytest.raises(OutputParseError):
        parse_benchmark_model_output(text)


def test_python_runner_format() -> None:
    out = parse_python_runner_output(read("python_runner_ok.txt"), runs=5)
    assert out.samples_ms == pytest.approx((0.281044, 0.279871, 0.284402, 0.290113, 0.279030))
    assert out.runtime == "executorch" and out.runtime_version == "1.5.1"
    assert out.init_ms == pytest.approx(41.22831)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("end 5", ""),  # truncated
        lambda t: t.replace("end 5", "end 6"),  # count mismatch
        lambda t: t.replace("run_ms 0.279030", "run_ms nan"),
        lambda t: t.replace("run_ms 0.279030", "run_ms -1"),
        lambda t: t.replace("run_ms 0.279030", "run_ms 0.2x"),
        lambda t: t.replace("phonenas-bench 1", "something else"),
    ],
)
def test_python_runner_garbage_raises(mutate) -> None:
    with pytest.raises(OutputParseError):
        parse_python_runner_output(mutate(read("python_runner_ok.txt")), runs=5)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
def test_parsers_never_return_non_positive(text: str) -> None:
    for parse in (
        lambda t: parse_executor_runner_output(t),
        parse_benchmark_model_output,
        lambda t: parse_python_runner_output(t),
    ):
        try:
            out = parse(text)
        except OutputParseError:
            continue
        assert math.isfinite(out.mean_ms) and out.mean_ms > 0


def test_runner_argv() -> None:
    et = ExecutorRunner(Path("/x/executor_runner"), logcat=False)
    assert et.argv("/d/er", "/d/m.pte", warmup=3, runs=10, threads=2) == [
        "/d/er",
        "--model_path=/d/m.pte",
        "--num_executions=13",
        "--cpu_threads=2",
    ]
    # default: the same command, wrapped so logcat's ExecuTorch lines of its pid are appended
    wrapped = ExecutorRunner(Path("/x/executor_runner")).argv(
        "/d/er", "/d/m.pte", warmup=3, runs=10, threads=2
    )
    assert wrapped[:2] == ["sh", "-c"] and "logcat -d -v raw --pid=$pid -s ExecuTorch:V" in wrapped[2]
    assert wrapped[4:] == ["/d/er", "--model_path=/d/m.pte", "--num_executions=13", "--cpu_threads=2"]
    bm = BenchmarkModelRunner(Path("/x/benchmark_model"))
    argv = bm.argv("/d/bm", "/d/m.tflite", warmup=5, runs=50, threads=1)
    assert argv[:2] == ["/d/bm", "--graph=/d/m.tflite"]
    assert "--num_runs=50" in argv and "--warmup_runs=5" in argv and "--num_threads=1" in argv
    assert "--max_secs=3600" in argv  # the tool's 150 s default would cut long runs short
    assert "--warmup_min_secs=0" in argv  # no warmup_s: warm-up by count, as asked
    timed = bm.argv("/d/bm", "/d/m.tflite", warmup=5, runs=50, threads=1, warmup_s=0.02)
    assert "--warmup_min_secs=0.02" in timed and "--warmup_min_secs=0" not in timed
    py = PythonRuntimeRunner()
    assert py.argv("/d/r.py", "/d/m.onnx", warmup=1, runs=2, threads=1)[:3] == [
        "python3",
        "/d/r.py",
        "/d/m.onnx",
    ]
    py_argv = py.argv("/d/r.py", "/d/m.onnx", warmup=1, runs=2, threads=1, warmup_s=0.5)
    assert py_argv[py_argv.index("--warmup-s") + 1] == "0.5"
    # executor_runner has no warm-up time option: the count is all it gets
    assert et.argv("/d/er", "/d/m.pte", warmup=3, runs=10, threads=2, warmup_s=0.5) == et.argv(
        "/d/er", "/d/m.pte", warmup=3, runs=10, threads=2
    )
    assert py.runtime_for(Path("a.tflite")) == "litert"
    with pytest.raises(ValueError):
        py.runtime_for(Path("a.mlpackage"))


# ---- upstream runners, fixed (issue 13 item 4) ----------------------------------------------------
# executor_runner_logcat.txt: the lines of executor_runner_iterations.txt as `logcat -v raw` prints them
# for a runner built with the Android PAL (pytorch/executorch v1.4.1
# runtime/platform/default/android.cpp: __android_log_print(level, "ExecuTorch", "%s", message), no
# prefix), after the marker our sh wrapper echoes. executor_runner_silent.txt: the wrapper's output
# when the runner logged nothing at all (EXECUTORCH_ENABLE_LOGGING=OFF).
# benchmark_model_litert_next.txt: google-ai-edge/LiteRT v2.2.0 litert/tools/benchmark_litert_model.h
# BenchmarkLoggingListener::OnBenchmarkEnd ("\n========== BENCHMARK RESULTS ==========",
# "Inference (avg):      %.2f ms (%d runs)", ...) through LITERT_LOG (litert/c/internal/litert_logging.cc:
# "<SEVERITY>: " + message on stderr), plus the base tflite/tools/benchmark/benchmark_model.cc Run()
# stat lines and its "Unconsumed cmdline flags" warning for --use_xnnpack.
# benchmark_model_cut_short.txt: benchmark_model_litert.txt as printed when --max_secs stopped the
# regular runs after 31 of 50 (tflite/tools/benchmark/benchmark_model.cc v2.2.0 Run(): the loop ends at
# max_finish_us; "count=" reports the runs done).
def test_executor_runner_reads_logcat_when_stdout_is_silent() -> None:
    runner = ExecutorRunner(Path("/x/executor_runner"))
    out = runner.parse(read("executor_runner_logcat.txt"), "", warmup=3, runs=10)
    direct = parse_executor_runner_output(read("executor_runner_iterations.txt"), warmup=3, runs=10)
    assert out.samples_ms == direct.samples_ms and out.init_ms == direct.init_ms


def test_executor_runner_prefers_stdout_over_logcat() -> None:
    text = read("executor_runner_iterations.txt") + read("executor_runner_logcat.txt")
    out = ExecutorRunner(Path("/x/er")).parse(text, "", warmup=3, runs=10)
    assert out.count == 10  # not 20: the logcat copy of the same lines is ignored


def test_executor_runner_silent_says_how_to_build() -> None:
    with pytest.raises(OutputParseError, match="EXECUTORCH_PAL_DEFAULT=posix"):
        ExecutorRunner(Path("/x/er")).parse(read("executor_runner_silent.txt"), "", warmup=3, runs=10)


def test_benchmark_model_uses_the_tools_median() -> None:
    out = parse_benchmark_model_output(read("benchmark_model_litert.txt"), runs=50)
    assert out.sample_kind == "invocation_median" and out.summary_ms == pytest.approx(21.257)
    tf2 = parse_benchmark_model_output(read("benchmark_model_tf2_no_percentiles.txt"))
    assert tf2.sample_kind == "invocation_mean" and tf2.summary_ms == pytest.approx(9.85948)


def test_benchmark_model_run_count_is_checked() -> None:
    with pytest.raises(OutputParseError, match="31 of the 50"):
        parse_benchmark_model_output(read("benchmark_model_cut_short.txt"), runs=50)
    with pytest.raises(OutputParseError, match="31 of the 50"):
        BenchmarkModelRunner(Path("/x/bm")).parse(
            read("benchmark_model_cut_short.txt"), "", warmup=5, runs=50
        )


def test_litert_next_benchmark_model_is_refused_with_the_target_to_build() -> None:
    from android_bench import UnsupportedRunner

    with pytest.raises(UnsupportedRunner, match=r"//tflite/tools/benchmark:benchmark_model") as ei:
        parse_benchmark_model_output(read("benchmark_model_litert_next.txt"))
    assert not ei.value.transient


def test_measure_records_sample_kind_and_runtime_version(tmp_path: Path) -> None:
    """Summary-only runner through measure_artifact: one tool median per invocation (>= 3), kind and a
    runtime version that tells builds apart even though the binary prints none."""
    from android_bench import HostDevice, MeasurementProtocol, file_sha256, measure_artifact

    script = tmp_path / "benchmark_model"
    script.write_text(f"#!/bin/sh\ncat {DATA / 'benchmark_model_litert.txt'}\n")
    script.chmod(0o755)
    model = tmp_path / "m.tflite"
    model.write_bytes(b"tflite")
    proto = MeasurementProtocol(warmup=5, runs=50, affinity="none", cooldown_s=0, max_temp_c=None)
    m = measure_artifact(HostDevice(work_dir=tmp_path / "d"), BenchmarkModelRunner(script), model, proto)
    assert m.sample_kind == "invocation_median" and m.samples_ms == pytest.approx((21.257,) * 3)
    assert m.runtime_version == f"benchmark_model@{file_sha256(script)[:12]}"
    declared = BenchmarkModelRunner(script, runtime_version="2.2.0")
    m2 = measure_artifact(HostDevice(work_dir=tmp_path / "d"), declared, model, proto)
    assert m2.runtime_version == "2.2.0"
