"""`--runner phonenas-runner` / a phonenas-runner path: which runner each device gets (latency.devices)."""

from pathlib import Path

import pytest

import android_bench as ab
from latency.devices import NATIVE_RUNNER, device_runner, native_runner


def test_native_runner_by_name_and_path(tmp_path: Path) -> None:
    assert native_runner(Path(NATIVE_RUNNER), "executorch") == NATIVE_RUNNER  # resolved per device ABI
    binary = tmp_path / "phonenas-runner"
    binary.write_bytes(b"\x7fELF")
    r = native_runner(binary, "executorch")
    assert isinstance(r, ab.NativeRunner) and r.local_path == binary
    with pytest.raises(ValueError, match="ExecuTorch only"):
        native_runner(binary, "litert")


def test_phone_without_a_cross_build_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(
        ab.NativeBuildError, match=r"android-arm64-v8a/phonenas-runner.*docs/android_runners.md"
    ):
        ab.native.runner_for_abi("arm64-v8a", build_dir=tmp_path)
    cross = tmp_path / "android-arm64-v8a" / "phonenas-runner"
    cross.parent.mkdir()
    cross.write_bytes(b"\x7fELF")
    assert ab.native.runner_for_abi("arm64-v8a", build_dir=tmp_path) == cross


def test_host_resolves_to_the_host_build() -> None:
    r = device_runner(NATIVE_RUNNER, ab.HostDevice())
    assert (
        isinstance(r, ab.NativeRunner) and r.local_path.name == "phonenas-runner" and r.local_path.is_file()
    )
    assert device_runner(None, ab.HostDevice()) is None
