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
