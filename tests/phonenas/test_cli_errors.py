"""Errors name the cheapest, most likely cause first, in one line, and quote no device command."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from android_bench.errors import DeviceNotFound
from latency.keys import Context, keys_from_archs
from latency.stats import summarize
from latency.store import LUTStore, Provenance, make_row
from phonenas.cli.lut import _brief
from phonenas.cli.main import one_line, run
from search.arch import decode_arch

ARCH = "r16:stem_k3_c8_s2_hs:ir_k3_e3_c16_s2:head_c32_hs:n10"


def _error_lines(args: list[str], capsys) -> tuple[list[str], str]:
    with pytest.raises(SystemExit) as info:
        run(args)
    assert info.value.code == 2
    captured = capsys.readouterr()
    return [ln for ln in captured.err.splitlines() if ln.startswith("error:")], captured.out


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_missing_weights_are_named_before_any_class_count(capsys) -> None:
    (line,), _ = _error_lines(["deploy", "--arch", "fbnetv2_f1", "--weights", "/nonexistent.pt"], capsys)
    assert line.startswith("error: weights file /nonexistent.pt not found; pass a state_dict")
    assert "classes" not in line


def test_missing_lut_store_for_deploy_is_named_first(tmp_path, capsys) -> None:
    (line,), _ = _error_lines(["deploy", "--arch", ARCH, "--lut", str(tmp_path / "nope")], capsys)
    assert (
        line == f"error: LUT store {tmp_path / 'nope'} not found; "
        "collect one with `phonenas lut collect` or drop --lut"
    )


def test_unknown_target_is_one_line_listing_the_names(capsys) -> None:
    (line,), _ = _error_lines(["deploy", "--arch", ARCH, "--targets", "executorch,tensorrt"], capsys)
    assert line.startswith("error: unknown deploy target 'tensorrt'; expected one of executorch")
    assert "tflite (litert)" in line and "onnx (onnxruntime)" in line


def test_lut_collect_checks_adb_before_enumerating_keys(capsys) -> None:
    """An unreachable adb server is reported before anything else: even a bad --space comes later."""
    port = _closed_port()
    args = ["lut", "collect", "--device", "R58M12ABCDE", "--adb-port", str(port), "--space", "no-such-space"]
    (line,), out = _error_lines(args, capsys)
    assert (
        line == f"error: cannot reach the adb server at 127.0.0.1:{port} (start it with `adb start-server`)"
    )
    assert "layer keys" not in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--runtime", "tflite-nhwc"], "error: tflite-nhwc is not measured for LUTs; measure tflite instead"),
        (
            ["--runtime", "executorch", "--dtype", "fp16"],
            "error: executorch LUTs are measured in fp32 or int8, not fp16",
        ),
        (["--runtime", "tensorrt"], "error: unknown deploy target 'tensorrt'; expected one of executorch"),
        (
            ["--runner", "/no/such/runner"],
            "error: runner /no/such/runner not found; build it as in docs/android_runners.md",
        ),
    ],
)
def test_lut_collect_rejects_bad_names_first(args, expected, capsys) -> None:
    (line,), out = _error_lines(
        ["lut", "collect", "--device", "R58M12ABCDE", "--space", "digits", *args], capsys
    )
    assert line.startswith(expected)
    assert "layer keys" not in out


@pytest.mark.skipif(sys.platform == "darwin", reason="Core ML runs on macOS")
def test_core_ml_timing_off_macos_is_refused_before_any_export(capsys) -> None:
    (line,), out = _error_lines(["lut", "collect", "--runtime", "coreml", "--space", "digits"], capsys)
    assert line.startswith("error: Core ML (.mlpackage) timing needs macOS")
    assert "layer keys" not in out


def test_device_errors_quote_no_command() -> None:
    script = "set -e; cd /data/local/tmp/phonenas && for i in 1 2 3; do taskset 2 ./runner | tail -n 5; done"
    err = DeviceNotFound("device went away", cmd=["sh", "-c", script], rc=255, device_id="R58M12ABCDE")
    assert "taskset" in str(err)  # the log keeps the command...
    assert one_line(err) == "device went away (device R58M12ABCDE)"  # ...the console line does not
    stored = f"DeviceNotFound: {err}"  # how a failed layer is recorded by the collector
    assert _brief(stored) == "DeviceNotFound: device went away | device=R58M12ABCDE | rc=255"


def _store(root: Path, runtime: str) -> None:
    ctx = Context("host", runtime, "v1", "fp32", 1)
    rows = []
    for key in keys_from_archs([decode_arch(ARCH)]):
        samples = [0.1, 0.1, 0.1]
        rows.append(make_row(ctx, key, summarize(samples), samples, Provenance(device_model="test")))
    LUTStore(root).append(rows)


@pytest.mark.parametrize(("typed", "label"), [("onnx", "onnxruntime/cpu"), ("litert", "litert/xnnpack")])
def test_names_users_already_type_still_select_luts(tmp_path, capsys, typed, label) -> None:
    store = tmp_path / "lut"
    _store(store, typed)
    with pytest.raises(SystemExit) as ok:
        run(["lut", "predict", ARCH, "--store", str(store), "--runtime", typed, "--json"])
    assert ok.value.code == 0
    assert '"latency_ms"' in capsys.readouterr().out
    (line,), _ = _error_lines(
        ["lut", "predict", ARCH, "--store", str(store), "--runtime", "executorch"], capsys
    )
    assert line.startswith(
        f"error: no LUT in {store} for the given filters (stored contexts: host {label} (v1)"
    )
