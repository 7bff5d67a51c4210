"""HostDevice transport and measure_artifact's hygiene logic on this host (fake runner scripts)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from android_bench import (
    CommandTimeout,
    DeviceInfo,
    HostDevice,
    MeasurementProtocol,
    OutputParseError,
    PushCache,
    RunnerCrashed,
    RunnerNotFound,
    measure_artifact,
    parse_python_runner_output,
)
from android_bench.info import ThermalZone
from tests.support.fake_runners import ScriptRunner


def write_script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    return path


STEADY = (
    'echo "phonenas-bench 1"; echo "runtime fake 0"; '
    'i=0; while [ $i -lt $2 ]; do echo "run_ms 2.0$i"; i=$((i+1)); done; echo "end $2"\n'
)


def host_info(temp_c: float | None = None) -> DeviceInfo:
    zones = (ThermalZone("thermal_zone0", "cpu", temp_c),) if temp_c is not None else ()
    return DeviceInfo(device_id="host", num_cores=2, max_freq_khz=(1_000_000, 2_000_000), thermal_zones=zones)


@pytest.fixture
def host(tmp_path: Path) -> HostDevice:
    return HostDevice(tmp_path / "device")


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    p = tmp_path / "block.bin"
    p.write_bytes(b"model bytes")
    return p


def fast(**kw) -> MeasurementProtocol:
    base = dict(
        warmup=0, runs=5, cooldown_s=0, max_temp_c=None, backoff_s=0.01, max_retries=1, run_timeout_s=20
    )
    base.update(kw)
    return MeasurementProtocol(**base)


def test_shell_result_and_errors(host: HostDevice) -> None:
    r = host.shell(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout_s=10)
    assert (r.rc, r.stdout, r.stderr) == (7, "out\n", "err\n")
    with pytest.raises(RunnerCrashed) as exc:
        r.check("host")
    assert exc.value.rc == 7 and "err" in exc.value.stderr and exc.value.cmd[0] == "sh"
    assert host.shell(["/nonexistent/binary"]).rc == 127
    with pytest.raises(RunnerNotFound):
        host.shell(["/nonexistent/binary"]).check()


def test_shell_timeout_kills_the_process_group(host: HostDevice, tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    with pytest.raises(CommandTimeout) as exc:
        host.shell(["sh", "-c", f"sleep 3; touch {marker}"], timeout_s=0.5)
    assert exc.value.cmd[0] == "sh"
    time.sleep(3.2)
    assert not marker.exists()


def test_measure_pins_to_big_cores_and_caches(host: HostDevice, tmp_path: Path, artifact: Path) -> None:
    runner = ScriptRunner(write_script(tmp_path / "r.sh", STEADY))
    cache = PushCache()
    m = measure_artifact(host, runner, artifact, fast(), info=host_info(), cache=cache)
    assert m.core_mask == 0b10
    assert m.samples_ms == pytest.approx((2.00, 2.01, 2.02, 2.03, 2.04))
    assert m.sample_kind == "per_run" and m.stats.n == 5 and m.attempts == 1 and m.retries == 0
    blobs = list((Path(host.work_dir) / "blobs").rglob("block.bin"))
    assert len(blobs) == 1
    mtime = blobs[0].stat().st_mtime_ns
    m2 = measure_artifact(host, runner, artifact, fast(), info=host_info(), cache=PushCache())
    assert blobs[0].stat().st_mtime_ns == mtime  # found on the device by hash, not pushed again
    assert m2.artifact_sha256 == m.artifact_sha256


def test_high_cv_is_remeasured_and_kept(host: HostDevice, tmp_path: Path, artifact: Path) -> None:
    counter = tmp_path / "calls"
    counter.write_text("0")
    body = (
        f"n=$(cat {counter}); echo $((n+1)) > {counter}\n"
        'echo "phonenas-bench 1"\n'
        'if [ "$n" -eq 0 ]; then for v in 1 9 3 7 5; do echo "run_ms $v"; done\n'
        'else for v in 3.0 3.1 3.0 3.1 3.0; do echo "run_ms $v"; done; fi\n'
        'echo "end 5"\n'
    )
    runner = ScriptRunner(write_script(tmp_path / "noisy.sh", body))
    m = measure_artifact(
        host, runner, artifact, fast(cv_threshold=0.05, remeasure_attempts=2), info=host_info()
    )
    assert m.attempts == 2
    assert m.stats.median_ms == pytest.approx(3.0)
    assert m.rejected_samples_ms == ((1.0, 9.0, 3.0, 7.0, 5.0),)


def test_summary_only_runner_uses_invocation_means(host: HostDevice, tmp_path: Path, artifact: Path) -> None:
    from android_bench import RunnerOutput

    @dataclass(frozen=True)
    class SummaryRunner(ScriptRunner):
        def parse(self, stdout: str, stderr: str, *, warmup: int, runs: int):
            full = parse_python_runner_output(stdout, runs=runs)
            return RunnerOutput(mean_ms=full.mean_ms, count=full.count)

    m = measure_artifact(
        host, SummaryRunner(write_script(tmp_path / "s.sh", STEADY)), artifact, fast(), info=host_info()
    )
    assert m.sample_kind == "invocation_mean"
    assert len(m.samples_ms) == 3  # at least three invocations for summary-only runners
    assert m.stats.median_ms == pytest.approx(2.02)


def test_crash_and_garbage_are_retried_then_raised(host: HostDevice, tmp_path: Path, artifact: Path) -> None:
    crash = ScriptRunner(write_script(tmp_path / "crash.sh", "echo boom >&2; kill -SEGV $$\n"))
    with pytest.raises(RunnerCrashed) as exc:
        measure_artifact(host, crash, artifact, fast(max_retries=2), info=host_info())
    assert exc.value.rc == 128 + 11
    garbage = ScriptRunner(write_script(tmp_path / "garbage.sh", "echo '\x00\x01 totally not timings'\n"))
    with pytest.raises(OutputParseError) as perr:
        measure_artifact(host, garbage, artifact, fast(), info=host_info())
    assert "phonenas-bench" in perr.value.message and perr.value.cmd


def test_temperature_gate_waits_and_records(
    host: HostDevice, tmp_path: Path, artifact: Path, monkeypatch
) -> None:
    import android_bench.measure as measure

    temps = iter([52.0, 49.0, 44.0, 43.5])
    monkeypatch.setattr(measure, "read_temperature_c", lambda device, info: next(temps))
    slept: list[float] = []
    runner = ScriptRunner(write_script(tmp_path / "r.sh", STEADY))
    m = measure_artifact(
        host,
        runner,
        artifact,
        fast(max_temp_c=45.0, temp_poll_s=5.0, cooldown_s=2.0),
        info=host_info(),
        sleep=slept.append,
    )
    assert m.temp_before_c == 44.0 and m.temp_after_c == 43.5
    assert not m.temp_gate_timed_out
    assert slept == [5.0, 5.0, 2.0]  # two polls while hot, then the cool-down after the item


def test_python_runner_times_tflite_on_host(host: HostDevice) -> None:
    """data/conv8_relu_16x16.tflite: litert_torch.convert(Sequential(Conv2d(8, 8, 3, padding=1), ReLU()),
    (torch.randn(1, 8, 16, 16),)), committed so the test needs no converter (4 KB)."""
    import sys

    from android_bench import PythonRuntimeRunner

    model = Path(__file__).parent / "data" / "conv8_relu_16x16.tflite"
    m = measure_artifact(
        host, PythonRuntimeRunner(interpreter=sys.executable), model, fast(runs=8, cv_threshold=10.0)
    )
    assert m.runtime == "litert" and m.runtime_version
    assert m.sample_kind == "per_run" and len(m.samples_ms) == 8 and min(m.samples_ms) > 0


def test_python_runner_warms_up_for_warmup_s(tmp_path: Path) -> None:
    """The Python runner's --warmup-s: warm-up goes on past --warmup calls until that time has passed
    (a few-microsecond model needs many calls for 0.2 s), then exactly --runs calls are timed."""
    import subprocess
    import sys

    from android_bench.runners import parse_python_runner_output

    script = Path(__file__).parents[2] / "android_bench" / "resources" / "phonenas_bench_runner"
    model = Path(__file__).parent / "data" / "conv8_relu_16x16.tflite"

    def run(*flags: str) -> str:
        cmd = [sys.executable, str(script), str(model), "--warmup", "1", "--runs", "3", *flags]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    plain, timed = run(), run("--warmup-s", "0.2")
    assert plain.count("warmup_ms ") == 1
    assert timed.count("warmup_ms ") > 1 and timed.count("run_ms ") == 3
    assert parse_python_runner_output(timed, runs=3).count == 3
    with pytest.raises(ValueError, match="warmup_s"):
        MeasurementProtocol(warmup_s=-1.0)
