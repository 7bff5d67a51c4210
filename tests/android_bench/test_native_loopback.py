"""`phonenas lut collect --device <serial> --runner phonenas-runner` end to end on the loopback phone.

The loopback phone reports ABI x86_64, so ``--runner phonenas-runner`` resolves to this host's build
(android_bench.native.build_native_runner, compiled automatically); it is pushed once by hash over adb
sync, and ONE runner process times all the blocks of the round from a pushed manifest.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from android_bench.testing import Phone


@pytest.mark.slow
def test_lut_collect_native_runner_batches_on_loopback_phone(
    phone: Phone, tmp_path: Path, artifact_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from latency.collect import MODEL_READINGS
    from latency.store import LUTStore
    from phonenas.cli.main import app

    caplog.set_level(logging.INFO, logger="android_bench")
    store = tmp_path / "lut"
    args = [
        "lut", "collect",
        "--device", phone.adbd.serial, "--adb-port", str(phone.server.port),
        "--runtime", "executorch", "--dtype", "fp32", "--runner", "phonenas-runner",
        "--space", "digits", "--limit", "4", "--runs", "10",
        "--export-workers", "0", "--store", str(store), "--cache", str(artifact_cache),
    ]  # fmt: skip
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert re.search(rf"{re.escape(phone.adbd.serial)}: measured 4\b", res.output), res.output

    runner_cmds = [c for c in phone.adbd.commands if "/phonenas-runner " in c and "--runs=10" in c]
    batches = [c for c in runner_cmds if "--manifest=" in c]
    df = LUTStore(store).frame()
    rows = df[(df["device_id"] == phone.adbd.serial) & (df["entry"] == "layer")]
    # the four blocks: one process; a block the drift reference says was timed while the phone's speed
    # moved is timed again (from that block on, in one more process), and so are blocks whose samples
    # were too noisy (android_bench's CV check: one more batch of them, logged; seen on a loaded host)
    noisy = sum("noisy models in one batch" in r.getMessage() for r in caplog.records)
    allowed = 1 + int(rows["remeasured"].sum()) + noisy
    assert 1 <= len(batches) <= allowed, (runner_cmds, rows["remeasured"].tolist(), noisy)
    assert all(c.startswith("taskset 2 ") for c in batches)  # pinned to the big core like every measurement
    pushed = list((phone.root / "data/local/tmp/phonenas/blobs").rglob("phonenas-runner"))
    assert len(pushed) == 1  # pushed once, by hash
    manifests = [
        m.read_text().split() for m in (phone.root / "data/local/tmp/phonenas/manifests").glob("*.txt")
    ]
    # the first batch holds the round: every block and the call-overhead probe's MODEL_READINGS readings
    # (a repeated artifact is timed at its own places in the same process, not in a process of its own)
    first = max(manifests, key=len)
    assert len(first) == 4 + MODEL_READINGS and len(set(first)) == 4 + 1
    assert all(ln.startswith("../blobs/") and ln.endswith(".pte") for lines in manifests for ln in lines)

    assert len(rows) == 4 and (rows["n"] == 10).all()
    assert set(rows["runtime_version"].astype(str)) == {rows["runtime_version"].iloc[0]}
    assert str(rows["runtime_version"].iloc[0]).startswith("1.5.1")  # printed by the runner
    assert all(
        '"runner": "phonenas-runner"' in p and '"sample_kind": "per_run"' in p for p in rows["protocol"]
    )

    again = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert re.search(rf"{re.escape(phone.adbd.serial)}: measured 0\b", again.output), again.output


@pytest.mark.slow
def test_lut_collect_native_runner_on_host(tmp_path: Path, artifact_cache: Path) -> None:
    """`--device host --runner build/phonenas-runner`: the same binary through HostDevice."""
    from android_bench import build_native_runner
    from latency.store import LUTStore
    from phonenas.cli.main import app

    binary = build_native_runner()
    store = tmp_path / "lut"
    args = [
        "lut", "collect", "--device", "host", "--runner", str(binary),
        "--runtime", "executorch", "--dtype", "fp32",
        "--space", "digits", "--limit", "3", "--runs", "10",
        "--export-workers", "0", "--store", str(store), "--cache", str(artifact_cache),
    ]  # fmt: skip
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert re.search(r"host: measured 3\b", res.output), res.output
    df = LUTStore(store).frame()
    assert set(df["device_id"]) == {"host"} and len(df[df["entry"] == "layer"]) == 3
    assert all('"runner": "phonenas-runner"' in p for p in df["protocol"])
