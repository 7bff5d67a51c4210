"""`phonenas devices` and `phonenas lut collect --device <iPhone UDID>` against the fake devicectl.

The CLI runs in this process with ``host_is_macos`` answering True (the ``iphones`` fixture): the
listing goes through ``xcrun devicectl list devices``, and collection exports real blocks, installs the
stand-in app by hash, copies the blocks into its container and has it time them (ExecuTorch on this
host for ``.pte``; Core ML packages are packed into ``.mlpackage.tar`` and only hashed, as this host
has no Core ML runtime). Re-running resumes: nothing stored is measured again.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support import ios_fixtures
from tests.support.ios_fixtures import UDID, FakeIphones, build_app

iphones = ios_fixtures.iphones

ARCH = "r32:stem_k3_c16_s2_hs:ir_k3_e3_c24_s2:head_c96_hs:n10"


def test_devices_lists_iphones_through_devicectl(iphones: FakeIphones) -> None:
    from phonenas.cli.main import app

    iphones.update(pairingState="unpaired")
    res = CliRunner().invoke(app, ["devices", "--adb-port", "1", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output[res.output.index("{") :])
    assert payload["ios"]["available"] and payload["ios"]["source"] == "devicectl"
    (dev,) = payload["ios"]["devices"]
    assert (dev["udid"], dev["model"], dev["ios_version"], dev["connection"]) == (
        UDID, "iPhone15,2", "17.5.1", "wired"
    )  # fmt: skip
    assert "Trust This Computer" in dev["note"]
    table = CliRunner().invoke(app, ["devices", "--adb-port", "1"], env={"COLUMNS": "200"})
    assert "(iOS, devicectl)" in table.output and UDID in table.output


def _collect(store: Path, app_path: Path, runtime: str, dtype: str, *extra: str) -> list[str]:
    return ["lut", "collect", "--device", UDID, "--runtime", runtime, "--dtype", dtype, "--arch", ARCH,
            "--limit", "1", "--runs", "5", "--remeasure", "0", "--cooldown", "0", "--export-workers", "0",
            "--store", str(store), "--ios-app", str(app_path), *extra]  # fmt: skip


@pytest.mark.slow
def test_lut_collect_executorch_on_an_iphone(
    iphones: FakeIphones, tmp_path: Path, artifact_cache: Path
) -> None:
    from latency.store import LUTStore
    from phonenas.cli.main import app

    store, app_path = tmp_path / "lut", build_app(tmp_path / "build")
    args = _collect(store, app_path, "executorch", "fp32", "--cache", str(artifact_cache))
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert re.search(rf"{re.escape(UDID)}: measured 1\b", res.output), res.output
    df = LUTStore(store).frame()
    rows = df[df["device_id"] == UDID]
    assert len(rows) >= 2 and set(rows["runtime"].astype(str)) == {"executorch"}  # the block + call overhead
    assert all(n == 5 for n in rows["n"])
    pushed = list((iphones.container() / "Documents/phonenas/blobs").rglob("*.pte"))
    assert pushed  # the exported blocks really went into the app container
    launches = iphones.count("device", "process", "launch")

    again = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert re.search(rf"{re.escape(UDID)}: measured 0\b", again.output), again.output
    assert iphones.count("device", "install", "app") == 1  # same build: not installed again
    # only the runtime-version probe ran (re-measured at most twice when this busy host made it noisy)
    assert 1 <= iphones.count("device", "process", "launch") - launches <= 3


@pytest.mark.slow
def test_lut_collect_coreml_packs_the_mlpackage(iphones: FakeIphones, tmp_path: Path) -> None:
    from latency.store import LUTStore
    from phonenas.cli.main import app

    store = tmp_path / "lut"
    args = [*_collect(store, build_app(tmp_path / "build"), "coreml", "fp16"), "--compute-units", "cpuOnly"]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output + repr(res.exception)
    packed = sorted((iphones.container() / "Documents/phonenas/blobs").rglob("*.mlpackage.tar"))
    assert packed
    with tarfile.open(packed[0]) as tar:
        assert any(m.name.endswith("Manifest.json") for m in tar.getmembers())
    rows = LUTStore(store).frame()
    assert set(rows["runtime"].astype(str)) == {"coreml"} and set(rows["device_id"]) == {UDID}
    manifests = [
        json.loads(p.read_text()) for p in (iphones.container() / "Documents/phonenas/manifests").iterdir()
    ]
    assert {m["compute_units"] for m in manifests} == {"cpuOnly"}


def test_litert_is_refused_on_an_iphone(iphones: FakeIphones, tmp_path: Path) -> None:
    from phonenas.cli.main import app

    res = CliRunner().invoke(app, _collect(tmp_path / "lut", build_app(tmp_path), "litert", "fp32"))
    assert res.exit_code != 0
    assert "iPhones time coreml or executorch" in str(res.exception)


def test_protocol_options_reach_the_iphone_meter(iphones: FakeIphones, tmp_path: Path) -> None:
    """--warmup / --cooldown / --remeasure apply on iPhones as on adb phones (they were dropped: a noisy
    item was re-measured twice under --remeasure 0)."""
    from latency.devices import MeterOptions, meter_for

    opts = MeterOptions(runs=7, warmup=1, cooldown_s=0.0, remeasure=0, ios_app=build_app(tmp_path / "build"))
    proto = meter_for(UDID, opts).protocol
    assert proto is not None
    assert (proto.runs, proto.warmup, proto.cooldown_s, proto.remeasure_attempts) == (7, 1, 0.0, 0)
    default = meter_for(UDID, MeterOptions()).protocol
    assert default is not None and default.remeasure_attempts == 2 and default.cooldown_s > 0


def test_rounds_option_reaches_every_meter(iphones: FakeIphones, tmp_path: Path) -> None:
    """--rounds (interleaved timing rounds, fastest kept) sets the host meter's and the iPhone meter's
    rounds; their defaults stay 3 (host) and 1 (phones); a round count below 1 is refused."""
    from latency.devices import MeterOptions, meter_for
    from latency.meters import DeviceMeter

    app = build_app(tmp_path / "build")
    assert meter_for("host", MeterOptions()).rounds == 3
    assert meter_for("host", MeterOptions(rounds=5)).rounds == 5
    assert meter_for(UDID, MeterOptions(ios_app=app)).rounds == 1
    assert meter_for(UDID, MeterOptions(ios_app=app, rounds=4)).rounds == 4
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        meter_for("host", MeterOptions(rounds=0))
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        meter_for(UDID, MeterOptions(ios_app=app, rounds=0))
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        DeviceMeter(object(), runner=object(), rounds=0)  # type: ignore[arg-type]
