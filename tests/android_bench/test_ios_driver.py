"""The iPhone driver end to end against the fake ``xcrun devicectl`` and the stand-in app.

The shared android_bench code (``measure_artifact``, ``PushCache``) drives an
``IosAppDevice``: files go into the fake phone's app container through ``device copy to``, the app is
launched through ``device process launch`` and really times the files on this host, and its result
file comes back through ``device copy from``. Every error the driver types is provoked here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

import android_bench as ab
from android_bench import ios_app
from android_bench.devicectl import AppNotInstalled, Devicectl, DeviceLocked, HostNotTrusted
from android_bench.ios_app import AppReportedError, IosAppRunner, IosHostUnsupported, open_ios_device
from tests.support import ios_fixtures
from tests.support.ios_fixtures import FAST, IDENTIFIER, UDID, UDID2, FakeIphones, build_app, phone

iphones = ios_fixtures.iphones  # the fixture (fake xcrun on PATH)


def blob(tmp_path: Path, name: str = "block", size: int = 200_000) -> Path:
    """A model-sized file named like a packed Core ML model (the stand-in app times hashing it)."""
    name += ".mlpackage.tar"
    path = tmp_path / "models" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def runner(tmp_path: Path, sha: str = "", **kw: object) -> IosAppRunner:
    return IosAppRunner(app_sha256=sha, thermal_gate=None, stamp_dir=tmp_path / "stamps", **kw)  # type: ignore[arg-type]


def test_devicectl_lists_physical_iphones(iphones: FakeIphones) -> None:
    iphones.write([phone(), phone(UDID2, "7B2C3D4E-aaaa-bbbb-cccc-ddddeeeeffff", reality="simulated")])
    (dev,) = Devicectl().list_devices()
    assert dev.udid == UDID and dev.identifier == IDENTIFIER and dev.model == "iPhone15,2"
    assert (dev.os_version, dev.pairing_state, dev.transport) == ("17.5.1", "paired", "wired")
    listing = ab.list_ios_devices()
    assert listing.source == "devicectl" and listing.available
    assert [(d.udid, d.model, d.ios_version) for d in listing.devices] == [(UDID, "iPhone15,2", "17.5.1")]


def test_happy_path_installs_by_hash_and_measures(iphones: FakeIphones, tmp_path: Path) -> None:
    app = build_app(tmp_path / "build")
    device, info, sha = open_ios_device(UDID, app_path=app, poll_s=0.05)
    assert iphones.count("device", "install", "app") == 1
    assert info.model == "iPhone 14 Pro" and info.os_version == "iOS 17.5.1" and info.manufacturer == "Apple"
    model = blob(tmp_path)
    cache = ab.PushCache()
    m = ab.measure_artifact(device, runner(tmp_path, sha), model, FAST, info=info, cache=cache)
    assert m.device_id == UDID and len(m.samples_ms) == FAST.runs and all(s > 0 for s in m.samples_ms)
    assert m.runtime == "standin-hash" and m.init_ms is not None and m.core_mask is None
    assert "thermal_state nominal -> nominal" in m.notes and "compute_units all" in m.notes
    assert m.runner_sha256 == ab.file_sha256(runner(tmp_path, sha).local_path)
    stored = iphones.container() / "Documents/phonenas/blobs" / m.artifact_sha256[:24] / model.name
    assert stored.read_bytes() == model.read_bytes()  # the model really went into the container
    copies = iphones.count("device", "copy", "to")

    again = ab.measure_artifact(device, runner(tmp_path, sha), model, FAST, info=info, cache=cache)
    assert len(again.samples_ms) == FAST.runs
    assert iphones.count("device", "copy", "to") == copies + 1  # only the new manifest, no model re-push
    assert iphones.count("device", "process", "launch") == 2 and iphones.live_apps() == []

    # same build: not installed again; a new build: installed
    open_ios_device(UDID, app_path=app, poll_s=0.05)
    assert iphones.count("device", "install", "app") == 1
    _, _, sha2 = open_ios_device(UDID, app_path=build_app(tmp_path / "build", version="2"), poll_s=0.05)
    assert sha2 != sha and iphones.count("device", "install", "app") == 2


def test_batch_of_models_in_one_launch(iphones: FakeIphones, tmp_path: Path) -> None:
    device, _, _ = open_ios_device(UDID, app_path=build_app(tmp_path), poll_s=0.05)
    names = []
    for i in range(3):
        m = blob(tmp_path, f"b{i}", 1000 * (i + 1))
        device.ctl.copy_to(UDID, device.bundle_id, m, f"Documents/phonenas/batch/{m.name}", 60)
        names.append(f"phonenas/batch/{m.name}")
    manifest = {"models": names, "warmup": 1, "runs": 4, "threads": 1, "compute_units": "cpuOnly",
                "thermal_gate": None, "thermal_timeout_s": 10}  # fmt: skip
    text = device.run_manifest(manifest, timeout_s=60)
    assert text is not None and device.launches == 1
    results = ios_app.parse_ios_result(text, runs=4)
    assert [r.model for r in results] == names
    assert all(r.output is not None and r.output.compute_units == "cpuOnly" for r in results)


def test_locked_phone_fails_at_once(iphones: FakeIphones, tmp_path: Path) -> None:
    device, info, sha = open_ios_device(UDID, app_path=build_app(tmp_path), poll_s=0.05)
    iphones.update(locked=True)
    with pytest.raises(DeviceLocked, match="is locked: unlock it") as exc:
        ab.measure_artifact(device, runner(tmp_path, sha), blob(tmp_path), FAST, info=info)
    assert "\n" not in str(exc.value) and "could not be, unlocked" in exc.value.stderr + str(exc.value)
    assert iphones.count("device", "process", "launch") == 1  # not retried: unlocking needs a person


def test_untrusted_host(iphones: FakeIphones, tmp_path: Path) -> None:
    iphones.update(pairingState="unpaired")
    with pytest.raises(HostNotTrusted, match="Trust This Computer"):
        open_ios_device(UDID, app_path=build_app(tmp_path), poll_s=0.05)
    with pytest.raises(HostNotTrusted, match="not trusted by iPhone"):
        Devicectl().copy_to(UDID, ios_app.BUNDLE_ID, blob(tmp_path), "Documents/x.bin", 30)


def test_app_not_installed(iphones: FakeIphones, tmp_path: Path) -> None:
    with pytest.raises(AppNotInstalled, match="not installed on iPhone .* --ios-app"):
        open_ios_device(UDID, poll_s=0.05)
    with pytest.raises(AppNotInstalled, match="not installed"):
        Devicectl().launch(UDID, ios_app.BUNDLE_ID, ["--manifest", "x.json"])
    # installed later, then removed behind our back: the driver says so instead of retrying
    device, info, sha = open_ios_device(UDID, app_path=build_app(tmp_path), poll_s=0.05)
    (iphones.state / "phones" / UDID / "apps" / f"{ios_app.BUNDLE_ID}.json").unlink()
    launches = iphones.count("device", "process", "launch")
    with pytest.raises(AppNotInstalled):
        ab.measure_artifact(device, runner(tmp_path, sha), blob(tmp_path), FAST, info=info)
    assert iphones.count("device", "process", "launch") == launches  # failed at the first copy, no retry


def test_unknown_udid(iphones: FakeIphones) -> None:
    with pytest.raises(ab.DeviceNotFound, match=f"devicectl lists: {UDID}"):
        open_ios_device(UDID2)


def test_app_crash_is_retried_then_reported(iphones: FakeIphones, tmp_path: Path) -> None:
    device, info, sha = open_ios_device(UDID, app_path=build_app(tmp_path), poll_s=0.05)
    iphones.update(app_behaviour="crash")
    with pytest.raises(ab.RunnerCrashed, match="exited without writing its result"):
        ab.measure_artifact(device, runner(tmp_path, sha), blob(tmp_path), FAST, info=info)
    assert iphones.count("device", "process", "launch") == 1 + FAST.max_retries


def test_hung_app_times_out_and_is_terminated(iphones: FakeIphones, tmp_path: Path) -> None:
    device, info, sha = open_ios_device(UDID, app_path=build_app(tmp_path), poll_s=0.05)
    iphones.update(app_behaviour="hang")
    protocol = replace(FAST, run_timeout_s=1.5, max_retries=0)
    with pytest.raises(ab.CommandTimeout, match="did not finish within 1.5 s"):
        ab.measure_artifact(device, runner(tmp_path, sha), blob(tmp_path), protocol, info=info)
    assert iphones.count("device", "process", "terminate") >= 1
    assert iphones.live_apps() == []


def test_model_the_app_cannot_load(iphones: FakeIphones, tmp_path: Path) -> None:
    device, info, sha = open_ios_device(UDID, app_path=build_app(tmp_path), poll_s=0.05)
    iphones.update(app_behaviour="bad-model")
    with pytest.raises(AppReportedError, match="could not time .*bad model"):
        ab.measure_artifact(device, runner(tmp_path, sha), blob(tmp_path), FAST, info=info)
    assert iphones.count("device", "process", "launch") == 1  # a bad model is not retried


@pytest.mark.slow
def test_two_iphones_in_parallel(iphones: FakeIphones, tmp_path: Path) -> None:
    """Two iPhones timed at once, one thread each (as latency.collect_many drives devices)."""
    iphones.write([phone(), phone(UDID2, "7B2C3D4E-aaaa-bbbb-cccc-ddddeeeeffff", name="Second")])
    app = build_app(tmp_path)
    opened = [open_ios_device(u, app_path=app, poll_s=0.05) for u in (UDID, UDID2)]
    infos = {d.id: info for d, info, _ in opened}
    models = [blob(tmp_path, f"m{i}", 5000) for i in range(2)]
    results: dict[tuple[str, str], int] = {}

    def measure(device: ab.Device, model: Path) -> ab.Measurement:
        return ab.measure_artifact(device, runner(tmp_path, opened[0][2]), model, FAST, info=infos[device.id])

    def work(device: ab.Device) -> None:
        for model in models:
            results[(device.id, model.name)] = len(measure(device, model).samples_ms)

    with ThreadPoolExecutor(len(opened)) as pool:
        for f in [pool.submit(work, d) for d, _, _ in opened]:
            f.result()  # a failure on either iPhone fails the test with its own error
    assert results == {(u, m.name): FAST.runs for u in (UDID, UDID2) for m in models}


def test_timing_an_iphone_off_macos_needs_xcode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ios_app, "host_is_macos", lambda: False)
    with pytest.raises(IosHostUnsupported, match="needs macOS with Xcode 15") as exc:
        open_ios_device(UDID)
    assert "\n" not in str(exc.value)


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the real (non-macOS) platform")
def test_cli_lut_collect_on_linux_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from phonenas.cli.main import run

    with pytest.raises(SystemExit) as exc:
        run(["lut", "collect", "--device", UDID, "--runtime", "coreml", "--arch",
             "r32:stem_k3_c16_s2_hs:ir_k3_e3_c24_s2:head_c96_hs:n10",
             "--store", str(tmp_path / "lut")])  # fmt: skip
    err = capsys.readouterr().err
    assert exc.value.code == 2
    (line,) = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert "needs macOS with Xcode 15+" in line and UDID in line


_RESUME_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import android_bench as ab
    from android_bench import ios_app
    ios_app.host_is_macos = lambda: True
    out, models, app, stamps = (Path(a) for a in sys.argv[1:5])
    device, info, sha = ios_app.open_ios_device(sys.argv[5], app_path=app, poll_s=0.05)
    runner = ios_app.IosAppRunner(app_sha256=sha, thermal_gate=None, stamp_dir=stamps)
    proto = ab.MeasurementProtocol(warmup=1, runs=3, cooldown_s=0, max_temp_c=None, affinity="none",
                                   cv_threshold=100.0, run_timeout_s=60)
    done = {json.loads(l)["artifact"] for l in out.read_text().splitlines()} if out.exists() else set()
    cache = ab.PushCache()
    for model in sorted(models.glob("*.tar")):
        if model.name in done:
            continue
        m = ab.measure_artifact(device, runner, model, proto, info=info, cache=cache)
        with out.open("a") as f:
            f.write(json.dumps({"artifact": m.artifact, "samples": list(m.samples_ms)}) + "\\n")
    """
)


@pytest.mark.slow
def test_resume_after_the_host_is_killed(iphones: FakeIphones, tmp_path: Path) -> None:
    """Kill the driver while the app is timing; the re-run keeps what was written, measures the rest,
    and the orphaned app run does not disturb it (the next launch terminates any running instance)."""
    for i in range(3):
        blob(tmp_path, f"m{i}", 2000)
    iphones.update(app_behaviour="slow:1.5")
    script = tmp_path / "resume.py"
    script.write_text(_RESUME_SCRIPT)
    out = tmp_path / "results.jsonl"
    argv = [sys.executable, str(script), str(out), str(tmp_path / "models"), str(build_app(tmp_path)),
            str(tmp_path / "stamps"), UDID]  # fmt: skip
    env = {**os.environ, **iphones.env(), "PYTHONPATH": str(Path(ab.__file__).parents[1])}
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out.exists() and out.read_text().count("\n") >= 1):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.05)
    while iphones.count("device", "process", "launch") < 2:  # killed while the second model is timed
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = out.read_text()
    assert first.count("\n") == 1

    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    lines = out.read_text().splitlines()
    assert out.read_text().startswith(first)
    assert sorted(json.loads(ln)["artifact"] for ln in lines) == [f"m{i}.mlpackage.tar" for i in range(3)]
    assert all(len(json.loads(ln)["samples"]) == 3 for ln in lines)
    assert iphones.count("device", "process", "launch") == 4  # 2 in the killed run, 2 in the re-run
    assert iphones.count("device", "install", "app") == 1  # the app was not reinstalled
    time.sleep(0.2)
    assert iphones.live_apps() == []


def test_measure_batch_one_launch_for_many_models(iphones: FakeIphones, tmp_path: Path) -> None:
    from android_bench.ios_batch import measure_batch

    device, info, sha = open_ios_device(UDID, app_path=build_app(tmp_path), poll_s=0.05)
    models = [blob(tmp_path, f"k{i}", 3000 * (i + 1)) for i in range(3)]
    out = measure_batch(device, runner(tmp_path, sha), models, FAST, info=info)
    assert iphones.count("device", "process", "launch") == 1
    for m in models:
        meas = out[m]
        assert isinstance(meas, ab.Measurement) and len(meas.samples_ms) == FAST.runs
        assert meas.artifact == m.name and "timed in a batch of 3" in meas.notes

    # the app dies in the batch: every model is timed alone with measure_artifact's retries, and fails
    iphones.update(app_behaviour="crash")
    before = iphones.count("device", "process", "launch")
    out = measure_batch(device, runner(tmp_path, sha), models[:2], FAST, info=info)
    assert all(isinstance(out[m], ab.RunnerCrashed) for m in models[:2])
    assert iphones.count("device", "process", "launch") - before == 1 + 2 * (1 + FAST.max_retries)

    # a model the app cannot load is reported for that model; a locked phone stops the batch
    iphones.update(app_behaviour="bad-model")
    out = measure_batch(device, runner(tmp_path, sha), models[:1], FAST, info=info)
    assert isinstance(out[models[0]], AppReportedError)
    iphones.update(app_behaviour="ok", locked=True)
    with pytest.raises(DeviceLocked):
        measure_batch(device, runner(tmp_path, sha), models, FAST, info=info)
