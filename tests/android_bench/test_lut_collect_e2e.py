"""`phonenas lut collect --device <adb-serial>` end to end against the loopback phone.

The CLI exports real blocks (deploy), pushes them over adb sync to the loopback adbd, times them
with the Python-runtime runner through the host's ExecuTorch runtime, and appends LUT rows whose
context is the phone's serial; a second run resumes without measuring anything again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from android_bench.testing import Phone


def _on_phone(phone: Phone) -> list[str]:
    """CLI options that time ExecuTorch fp32 on the loopback phone through its adb server, with a short
    protocol (the loopback "phone" is this host: no thermal rest needed, and every runner start imports
    torch, so a noisy item is not re-measured)."""
    return [
        "--device", phone.adbd.serial,
        "--adb-port", str(phone.server.port),
        "--runtime", "executorch", "--dtype", "fp32",
        "--runs", "5", "--warmup", "1", "--cooldown", "0", "--remeasure", "0",
    ]  # fmt: skip


@pytest.mark.slow
def test_lut_collect_on_loopback_phone(phone: Phone, tmp_path: Path, artifact_cache: Path) -> None:
    from latency.store import LUTStore
    from phonenas.cli.main import app

    store = tmp_path / "lut"
    args = [
        "lut", "collect", *_on_phone(phone),
        "--space", "digits", "--limit", "1", "--rounds", "2",
        "--export-workers", "0",
        "--store", str(store), "--cache", str(artifact_cache),
    ]  # fmt: skip
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert re.search(rf"{re.escape(phone.adbd.serial)}: measured 1\b", res.output), res.output

    df = LUTStore(store).frame()
    rows = df[df["device_id"] == phone.adbd.serial]
    assert len(rows) >= 1
    assert set(rows["runtime"].astype(str)) == {"executorch"}
    pushed = [p.name for p in (phone.root / "data/local/tmp/phonenas/blobs").rglob("*.pte")]
    assert pushed  # the exported block really went over adb sync
    runs = [c for c in phone.adbd.commands if "phonenas_bench_runner" in c and " --runs " in c]
    assert runs and all(c.startswith("taskset 2 python3 ") for c in runs)  # pinned to the big core
    assert all(" --warmup 1 " in c and " --runs 5" in c for c in runs), runs  # the protocol knobs arrived
    assert all(" --warmup-s 0.02 " in c for c in runs), runs  # and the warm-up time (20 ms by default)
    # --rounds 2 reached the phone's meter (collect's rounds: tests/latency/test_timer.py)
    assert all(json.loads(p)["rounds"] == 2 for p in rows["protocol"]), list(rows["protocol"])

    again = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert re.search(rf"{re.escape(phone.adbd.serial)}: measured 0\b", again.output), again.output


@pytest.mark.slow
def test_lut_validate_fits_a_correction_for_the_phone(
    phone: Phone, tmp_path: Path, artifact_cache: Path
) -> None:
    """`phonenas lut validate --device <serial>`: blocks and whole models timed on the phone, and the fitted
    correction stored under the phone's context (so its LUT predicts whole models, not the host's). Timed
    with phonenas-runner (many artifacts per process): the Python runner, tested above, imports torch per
    launch."""
    from latency.correction import Correction
    from latency.lut import LUT
    from latency.store import LUTStore
    from phonenas.cli.main import app

    store = tmp_path / "lut"
    args = [
        "lut", "validate", *_on_phone(phone),
        "--n", "1", "--calib", "1", "--no-zoo",
        "--runner", "phonenas-runner",
        "--export-workers", "0",
        "--store", str(store), "--cache", str(artifact_cache),
    ]  # fmt: skip
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "fitted" in res.output and phone.adbd.serial in res.output
    (context,) = LUTStore(store).contexts()
    assert context.device_id == phone.adbd.serial
    correction = Correction.load(store, context)
    assert correction is not None and len(correction.models) == 1
    assert LUT.from_store(LUTStore(store), context).correction == correction
    pushed = {p.suffix for p in (phone.root / "data/local/tmp/phonenas/blobs").rglob("*.pte")}
    assert pushed == {".pte"}
