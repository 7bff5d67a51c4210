"""`phonenas lut collect --runner PATH` picks the native runner of the runtime and rejects bad paths."""

from pathlib import Path

import pytest

import android_bench as ab
from phonenas.cli.lut import _runner
from phonenas.errors import PhoneNASError


def test_runner_kind_follows_runtime(tmp_path: Path) -> None:
    binary = tmp_path / "runner"
    binary.write_bytes(b"\x7fELF")
    assert isinstance(_runner(binary, "executorch"), ab.ExecutorRunner)
    assert isinstance(_runner(binary, "litert"), ab.BenchmarkModelRunner)
    assert _runner(None, "executorch") is None  # the device's Python runtimes
    with pytest.raises(PhoneNASError, match="not onnx"):
        _runner(binary, "onnx")


def test_missing_runner_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(PhoneNASError, match=r"not found; build it as in docs/android_runners.md"):
        _runner(tmp_path / "executor_runner", "executorch")


def test_collect_summary_says_what_was_re_measured_and_why():
    from latency.collect import CollectReport
    from phonenas.cli.lut import _remeasure_line

    assert _remeasure_line(CollectReport()) is None
    line = _remeasure_line(CollectReport(remeasured=7, contended=5))
    assert line is not None and line.startswith("re-measured 7x (5 timing(s) dropped because they waited")
    assert "unstable" not in line
    line = _remeasure_line(CollectReport(remeasured=9, contended=0, unstable=2))
    assert line is not None and "2 block(s) kept although still unstable" in line and "--store" in line
