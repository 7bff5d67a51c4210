"""phonenas-runner (runner/, C++): parser tests on output captured from the real binary, and the binary
itself (built automatically against the executorch wheel) timing real .pte blocks in one process.

Test data (tests/android_bench/data):
- phonenas_runner_batch.txt, phonenas_runner_profile.txt: CAPTURED from build/phonenas-runner on this
  repository's blocks (et_*.pte, exported by latency.export, ExecuTorch 1.5.1 XNNPACK fp32) with
  tests/android_bench/capture_native_output.py; the batch includes a non-program file, so it carries a
  real "error" record between timed models.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from android_bench import (
    DeviceError,
    HostDevice,
    MeasurementProtocol,
    NativeRunner,
    OutputParseError,
    build_native_runner,
    measure_artifact,
    measure_batch,
    parse_bench_output,
    parse_python_runner_output,
)

DATA = Path(__file__).parent / "data"
BLOCKS = ["et_skip_c1_r1_relu.pte", "et_stem_k3_i3_c16_s2_r24_hs.pte", "et_ir_k3_i16_m48_c16_s2_r12_relu.pte"]


def read(name: str) -> str:
    return (DATA / name).read_text()


# ---- parser on captured output ----------------------------------------------------------------
def test_captured_batch_output() -> None:
    bench = parse_bench_output(read("phonenas_runner_batch.txt"))
    assert bench.version == 2 and bench.complete
    assert bench.runner.startswith("phonenas-runner ")
    assert bench.runtime == "executorch" and bench.runtime_version.startswith("1.5.1")
    assert bench.threads == 1
    assert [m.path for m in bench.models] == [BLOCKS[0], "not_a_program.pte", BLOCKS[1], BLOCKS[2]]
    bad = bench.models[1]
    assert bad.output is None and "cannot load program" in bad.error
    for rec in (bench.models[0], bench.models[2], bench.models[3]):
        assert rec.error == "" and rec.output is not None
        out = rec.output
        assert out.count == 10 and len(out.samples_ms) == 10 and out.sample_kind == "per_run"
        assert all(math.isfinite(s) and s > 0 for s in out.samples_ms)
        assert out.init_ms is not None and out.init_ms > 0
        assert out.first_ms is not None  # first warm-up run
        assert out.runtime_version == bench.runtime_version
    # the stem block (16 output channels at 12x12) is slower than the 1x1x1x1 call-overhead probe
    stem = bench.models[2].output
    probe = bench.models[0].output
    assert stem is not None and probe is not None and min(stem.samples_ms) > min(probe.samples_ms)


def test_captured_profile_output() -> None:
    bench = parse_bench_output(read("phonenas_runner_profile.txt"))
    (rec,) = bench.models
    assert rec.output is not None and rec.output.count == 5
    ops = rec.output.ops
    assert ops and [o.index for o in ops] == list(range(len(ops)))
    names = [o.name for o in ops]
    assert "Method::execute" in names and "DELEGATE_CALL" in names
    xnn = [o for o in ops if o.kind == "delegate"]
    assert xnn and all("#" in o.name for o in xnn)  # XNNPACK per-op events "<op> #<n>"
    assert any(o.name.startswith("Convolution (NHWC, F32)") for o in xnn)
    total = next(o for o in ops if o.name == "Method::execute")
    assert all(o.median_ms <= total.median_ms for o in ops)


def test_truncated_batch_keeps_finished_models() -> None:
    text = read("phonenas_runner_batch.txt")
    cut = text[: text.index("run_ms", text.index("model 3 "))]  # died while timing model 3
    bench = parse_bench_output(cut)
    assert not bench.complete
    assert bench.models[0].output is not None and bench.models[2].output is not None
    assert bench.models[3].output is None and "before this model's 'end'" in bench.models[3].error


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("run_ms 0.000691\nend 10", "run_ms nan\nend 10"),
        ("run_ms 0.000691\nend 10", "run_ms -0.1\nend 10"),
        ("run_ms 0.000691\nend 10", "run_ms 0.0006x\nend 10"),
        ("threads 1", "threads one"),
    ],
)
def test_garbage_lines_raise(old: str, new: str) -> None:
    text = read("phonenas_runner_batch.txt")
    assert old in text
    with pytest.raises(OutputParseError):
        parse_bench_output(text.replace(old, new))


def test_count_mismatch_is_a_model_error() -> None:
    text = read("phonenas_runner_batch.txt").replace("run_ms 0.000691\nend 10", "end 10", 1)
    rec = parse_bench_output(text).models[0]
    assert rec.output is None and "announced 10 runs but printed 9" in rec.error


def test_single_model_parse_and_run_check() -> None:
    runner = NativeRunner(Path("phonenas-runner"))
    out = runner.parse(read("phonenas_runner_profile.txt"), "", warmup=2, runs=5)
    assert out.count == 5 and out.runtime == "executorch"
    with pytest.raises(OutputParseError, match="expected 7 runs"):
        runner.parse(read("phonenas_runner_profile.txt"), "", warmup=2, runs=7)
    with pytest.raises(OutputParseError, match="one model"):
        parse_python_runner_output(read("phonenas_runner_batch.txt"))


def test_native_runner_argv() -> None:
    r = NativeRunner(Path("/x/phonenas-runner"), profile=True)
    assert r.argv("/d/pr", "/d/m.pte", warmup=3, runs=10, threads=2) == [
        "/d/pr", "--threads=2", "--warmup=3", "--runs=10", "--profile", "/d/m.pte",
    ]  # fmt: skip
    assert r.batch_argv("/d/pr", "/d/list.txt", warmup=0, runs=1, threads=1)[-1] == "--manifest=/d/list.txt"
    # --warmup-s only when asked for, so a version-1 binary still runs warmup_s=0
    assert "--warmup-s=0.02" in r.argv("/d/pr", "/d/m.pte", warmup=3, runs=10, threads=2, warmup_s=0.02)
    batch = r.batch_argv("/d/pr", "/d/list.txt", warmup=0, runs=1, threads=1, warmup_s=0.5)
    assert "--warmup-s=0.5" in batch and batch[-1] == "--manifest=/d/list.txt"
    with pytest.raises(ValueError, match=r"\.pte"):
        r.runtime_for(Path("m.tflite"))


# ---- the real binary --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runner_bin() -> Path:
    return build_native_runner()  # cached by source hash under build/


def test_binary_reports_version_and_rejects_bad_usage(runner_bin: Path) -> None:
    import subprocess

    v = subprocess.run([str(runner_bin), "--version"], capture_output=True, text=True, check=True).stdout
    assert v.startswith("phonenas-runner ") and " executorch 1.5.1" in v
    bad = subprocess.run([str(runner_bin), "--runs=0", "x.pte"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--runs must be" in bad.stderr
    none = subprocess.run([str(runner_bin)], capture_output=True, text=True)
    assert none.returncode == 2 and "no model given" in none.stderr
    neg = subprocess.run([str(runner_bin), "--warmup-s=-1", "x.pte"], capture_output=True, text=True)
    assert neg.returncode == 2 and "--warmup-s must be" in neg.stderr


def test_binary_warms_up_for_warmup_s_when_its_calls_are_shorter(runner_bin: Path) -> None:
    """--warmup=1 --warmup-s=0.2 on a block of tens of microseconds: warm-up goes on past the one call
    (until 0.2 s have passed), then exactly --runs calls are timed; without --warmup-s, one call."""
    import subprocess

    def warm_and_runs(*flags: str) -> tuple[int, int]:
        out = subprocess.run(
            [str(runner_bin), "--warmup=1", "--runs=3", *flags, str(DATA / BLOCKS[0])],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        lines = out.splitlines()
        return sum(ln.startswith("warmup_ms ") for ln in lines), sum(ln.startswith("run_ms ") for ln in lines)

    assert warm_and_runs() == (1, 3)
    warm, runs = warm_and_runs("--warmup-s=0.2")
    assert warm > 1 and runs == 3


def test_batch_on_host_one_process(runner_bin: Path, tmp_path: Path) -> None:
    garbage = tmp_path / "broken.pte"
    garbage.write_bytes(b"definitely not a program")
    arts = [DATA / BLOCKS[0], garbage, DATA / BLOCKS[1], DATA / BLOCKS[2]]
    dev = HostDevice(work_dir=tmp_path / "dev")
    proto = MeasurementProtocol(warmup=2, runs=15, affinity="none", cooldown_s=0, max_temp_c=None,
                                cv_threshold=10.0)  # fmt: skip
    res = measure_batch(dev, NativeRunner(runner_bin, profile=True), arts, proto)
    assert res.processes == 1
    ok = [res.results[i] for i in (0, 2, 3)]
    for m in ok:
        assert not isinstance(m, DeviceError)
        assert m.runner == "phonenas-runner" and m.sample_kind == "per_run" and len(m.samples_ms) == 15
        assert m.runtime == "executorch" and m.runtime_version.startswith("1.5.1")
        assert m.stats.median_ms > 0
    err = res.results[1]
    assert isinstance(err, DeviceError) and not err.transient and "cannot load program" in str(err)
    assert res.profiles[2] and any(o.name == "Method::execute" for o in res.profiles[2])
    assert res.profiles[1] == ()


def test_single_artifact_path_matches_protocol(runner_bin: Path, tmp_path: Path) -> None:
    dev = HostDevice(work_dir=tmp_path / "dev")
    proto = MeasurementProtocol(warmup=1, runs=8, affinity="none", cooldown_s=0, max_temp_c=None,
                                cv_threshold=10.0)  # fmt: skip
    m = measure_artifact(dev, NativeRunner(runner_bin), DATA / BLOCKS[1], proto)
    assert m.runner == "phonenas-runner" and len(m.samples_ms) == 8 and m.runtime_version.startswith("1.5.1")


def test_batch_survives_a_runner_killed_mid_batch(runner_bin: Path, tmp_path: Path) -> None:
    """A wrapper that runs the real binary but SIGKILLs it after its second model starts: the finished
    model is kept, the rest is timed by a new process."""
    real = tmp_path / "real-runner"
    shutil.copy2(runner_bin, real)
    flag = tmp_path / "killed-once"
    wrapper = tmp_path / "phonenas-runner-flaky"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ -e "{flag}" ]; then exec "{real}" "$@"; fi\n'
        f'touch "{flag}"\n'
        f'"{real}" "$@" | awk '
        f"'/^model 1 /{{print; fflush(); system(\"kill -9 $PPID\"); exit 137}} {{print; fflush()}}'\n"
    )
    wrapper.chmod(0o755)
    dev = HostDevice(work_dir=tmp_path / "dev")
    proto = MeasurementProtocol(warmup=1, runs=5, affinity="none", cooldown_s=0, max_temp_c=None,
                                cv_threshold=10.0, backoff_s=0.01)  # fmt: skip
    arts = [DATA / b for b in BLOCKS]
    res = measure_batch(dev, NativeRunner(wrapper), arts, proto)
    assert all(not isinstance(m, DeviceError) for m in res.results), res.results
    assert res.processes >= 2 and flag.exists()
