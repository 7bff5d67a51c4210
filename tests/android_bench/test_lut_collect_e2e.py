"""`phonenas lut collect --device <adb-serial>` end to end against the loopback phone.

The CLI exports real blocks (deploy), pushes them over adb sync to the loopback adbd, times them
with the Python-runtime runner through the host's ExecuTorch runtime, and appends LUT rows whose
context is the phone's serial; a second run resumes without measuring anything again.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import Phone
from typer.testing import CliRunner


@pytest.mark.slow
def test_lut_collect_on_loopback_phone(phone: Phone, tmp_path: Path) -> None:
    from latency.store import LUTStore
    from phonenas.cli.main import app

    store = tmp_path / "lut"
    args = [
        "lut", "collect",
        "--device", phone.adbd.serial,
        "--adb-port", str(phone.server.port),
        "--runtime", "executorch", "--dtype", "fp32",
        "--space", "digits", "--limit", "2", "--runs", "10",
        "--export-workers", "0",
        "--store", str(store),
    ]  # fmt: skip
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert re.search(rf"{re.escape(phone.adbd.serial)}: measured 2\b", res.output), res.output

    df = LUTStore(store).frame()
    rows = df[df["device_id"] == phone.adbd.serial]
    assert len(rows) >= 2
    assert set(rows["runtime"].astype(str)) == {"executorch"}
    pushed = [p.name for p in (phone.root / "data/local/tmp/phonenas/blobs").rglob("*.pte")]
    assert len(pushed) >= 2  # the exported blocks really went over adb sync

    again = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert re.search(rf"{re.escape(phone.adbd.serial)}: measured 0\b", again.output), again.output
