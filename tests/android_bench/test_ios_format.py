"""The iPhone app's result format (pure parser), the model packing, and the host/app contract.

``data/ios_app_result.txt`` is written to the format ios/PhoneNASBench/Sources/BenchmarkRun.swift
produces (a Core ML model, a model the app failed to load, an ExecuTorch model); it was not captured
from a phone (none was available). Since Swift cannot be compiled here, the contract tests read the
Swift sources and check both sides name the same manifest keys and result lines.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import pytest

from android_bench import OutputParseError, parse_python_runner_output
from android_bench.devicectl import classify_failure, parse_device_list
from android_bench.ios_app import (
    AppReportedError,
    IosAppRunner,
    looks_like_ios_udid,
    pack_model,
    parse_ios_result,
)

DATA = Path(__file__).parent / "data"
APP = Path(__file__).resolve().parents[2] / "ios" / "PhoneNASBench"


def test_batch_result_sections() -> None:
    coreml, failed, et = parse_ios_result((DATA / "ios_app_result.txt").read_text())
    assert coreml.output is not None and coreml.model.endswith("block.mlpackage.tar")
    assert coreml.output.samples_ms == (0.28125, 0.279583, 0.283042, 0.280125)
    assert coreml.output.runtime == "coreml"
    assert coreml.output.runtime_version == "iOS 17.5.1 (computeUnits cpuAndNeuralEngine)"
    assert coreml.output.init_ms == pytest.approx(412.733958) and coreml.output.first_ms == pytest.approx(
        1.912042
    )
    assert (coreml.output.thermal_before, coreml.output.thermal_after) == ("nominal", "fair")
    assert coreml.output.notes == ("thermal_state nominal -> fair", "compute_units cpuAndNeuralEngine")
    assert failed.output is None and "Invalid program" in failed.error and failed.model.endswith("block.pte")
    assert et.output is not None and et.output.runtime_version == "1.5.1 (iOS 17.5.1)"
    assert et.output.compute_units == "" and et.output.count == 4


def test_a_section_is_also_python_runner_output() -> None:
    text = (DATA / "ios_app_result.txt").read_text()
    first = text.split("phonenas-bench 1")[1]
    out = parse_python_runner_output("phonenas-bench 1" + first, runs=4)
    assert out.count == 4 and out.runtime == "coreml"


def test_runner_parse_single_model_and_errors() -> None:
    runner = IosAppRunner()
    text = (DATA / "ios_app_result.txt").read_text()
    with pytest.raises(OutputParseError, match="expected one model"):
        runner.parse(text, "", warmup=2, runs=4)
    sections = text.split("phonenas-bench 1\n")[1:]
    out = runner.parse("phonenas-bench 1\n" + sections[0], "", warmup=2, runs=4)
    assert out.mean_ms == pytest.approx(sum(out.samples_ms) / 4)
    with pytest.raises(AppReportedError, match="could not time .*Invalid program"):
        runner.parse("phonenas-bench 1\n" + sections[1], "", warmup=2, runs=4)
    with pytest.raises(OutputParseError, match="expected 5 runs"):
        runner.parse("phonenas-bench 1\n" + sections[2], "", warmup=1, runs=5)


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "no 'phonenas-bench 1' header"),
        ("phonenas-bench 1\nmodel a.pte\nrun_ms 1.0\n", "truncated"),
        ("phonenas-bench 1\nmodel a.pte\nrun_ms 0\nend 1\n", "non-positive"),
        ("phonenas-bench 1\nthermal_state_before toasty\nrun_ms 1\nend 1\n", "unknown thermal state"),
    ],
)
def test_garbage_is_rejected(text: str, match: str) -> None:
    with pytest.raises(OutputParseError, match=match):
        parse_ios_result(text)


def test_runner_argv_and_validation(tmp_path: Path) -> None:
    r = IosAppRunner(compute_units="cpuAndNeuralEngine", stamp_dir=tmp_path)
    argv = r.argv("Documents/phonenas/blobs/x/phonenas_ios_app.json", "Documents/phonenas/blobs/y/b.pte",
                  warmup=3, runs=7, threads=2)  # fmt: skip
    assert argv[1:9] == ["--model", "Documents/phonenas/blobs/y/b.pte", "--warmup", "3", "--runs", "7",
                         "--threads", "2"]  # fmt: skip
    assert argv[argv.index("--compute-units") + 1] == "cpuAndNeuralEngine"
    assert argv[argv.index("--thermal-gate") + 1] == "nominal"
    assert r.runtime_for(Path("a.pte")) == "executorch" and r.runtime_for(Path("b.mlpackage")) == "coreml"
    with pytest.raises(ValueError, match="times .pte"):
        r.runtime_for(Path("m.tflite"))
    with pytest.raises(ValueError, match="compute units must be one of"):
        IosAppRunner(compute_units="npu")
    # the stamp (the "runner" file) names the app build, so runner_sha256 changes with the app
    a = IosAppRunner(app_sha256="a" * 64, stamp_dir=tmp_path).local_path
    b = IosAppRunner(app_sha256="b" * 64, stamp_dir=tmp_path).local_path
    assert a.read_text() != b.read_text() and json.loads(a.read_text())["app_sha256"] == "a" * 64


def test_udid_recognition() -> None:
    for udid in ("00008110-001A2B3C4D5E801E", "a" * 40, "6A1B2C3D-1111-2222-3333-444455556666"):
        assert looks_like_ios_udid(udid)
    for serial in ("emulator-5554", "R58M12ABCDE", "192.168.1.20:5555", "host", "0123456789ABCDEF"):
        assert not looks_like_ios_udid(serial)


def test_pack_model_is_reproducible_ustar(tmp_path: Path) -> None:
    pkg = tmp_path / "block.mlpackage"
    (pkg / "Data/com.apple.CoreML/weights").mkdir(parents=True)
    (pkg / "Manifest.json").write_text('{"fileFormatVersion": "1.0.0"}')
    (pkg / "Data/com.apple.CoreML/model.mlmodel").write_bytes(b"\x08\x09" * 100)
    (pkg / "Data/com.apple.CoreML/weights/weight.bin").write_bytes(bytes(range(256)) * 8)
    one = pack_model(pkg, tmp_path / "a").read_bytes()
    two = pack_model(pkg, tmp_path / "b").read_bytes()
    assert one == two  # same folder, same bytes: the file cache on the phone dedups by hash
    with tarfile.open(tmp_path / "a" / "block.mlpackage.tar") as tar:
        members = tar.getmembers()
        assert members[0].name == "block.mlpackage" and members[0].isdir()  # what Tar.swift takes as the top
        assert {m.type for m in members} <= {tarfile.REGTYPE, tarfile.DIRTYPE}  # all Tar.swift handles
        assert (
            tar.extractfile("block.mlpackage/Data/com.apple.CoreML/weights/weight.bin").read()
            == bytes(range(256)) * 8
        )
    plain = tmp_path / "x.pte"
    plain.write_bytes(b"pte")
    assert pack_model(plain, tmp_path / "c") == plain


def test_devicectl_failure_classification() -> None:
    def failure(*texts: str, domain: str = "com.apple.dt.CoreDeviceError", code: int = 10002) -> dict:
        info: dict = {}
        for t in reversed(texts):
            inner = {"NSLocalizedDescription": {"string": t}}
            if info:
                inner["NSUnderlyingError"] = {"error": {"code": 1, "domain": "X", "userInfo": info}}
            info = inner
        return {"info": {"outcome": "failed"}, "error": {"code": code, "domain": domain, "userInfo": info}}

    locked = failure("The application failed to launch.", "Unable to launch because the device was not, "
                     "or could not be, unlocked.")  # fmt: skip
    assert type(classify_failure(locked, "", ["x"], 1, "U", "B")).__name__ == "DeviceLocked"
    unpaired = failure("Failed to connect.", "The device must be paired before it can be connected.")
    assert type(classify_failure(unpaired, "", ["x"], 1, "U")).__name__ == "HostNotTrusted"
    missing = failure("The application failed to launch.",
                      'Application info provider (FBSApplicationLibrary) returned nil for "B"')  # fmt: skip
    assert type(classify_failure(missing, "", ["x"], 1, "U", "B")).__name__ == "AppNotInstalled"
    gone = failure("The specified device was not found.", code=1000)
    assert type(classify_failure(gone, "", ["x"], 1, "U")).__name__ == "DeviceNotFound"
    other = classify_failure(None, "ERROR: something else\n", ["x"], 1, "U")
    assert type(other).__name__ == "DeviceError" and "something else" in str(other)


def test_device_list_tolerates_missing_fields() -> None:
    payload = {"result": {"devices": [
        {"identifier": "ID1", "hardwareProperties": {"udid": "U1", "platform": "iOS", "reality": "physical"}},
        {"identifier": "ID2", "hardwareProperties": {"platform": "watchOS"}},
        {"identifier": "ID3"},
    ]}}  # fmt: skip
    devices = parse_device_list(payload)
    assert [(d.identifier, d.udid, d.model) for d in devices] == [("ID1", "U1", ""), ("ID3", "", "")]
    assert parse_device_list({}) == []


# ---- the host/app contract, read from the Swift sources ------------------------------------------
def _swift(name: str) -> str:
    return (APP / "Sources" / name).read_text()


def test_manifest_keys_match_the_swift_decoder(tmp_path: Path) -> None:
    """The keys IosAppDevice.run_manifest writes are exactly the Swift Manifest's CodingKeys."""
    swift = _swift("Manifest.swift")
    block = swift[swift.index("enum CodingKeys") : swift.index("}", swift.index("enum CodingKeys"))]
    renamed = dict(re.findall(r'case (\w+) = "(\w+)"', block))
    plain = [k for line in re.findall(r"case ([\w, ]+)\n", block) for k in line.replace(" ", "").split(",")]
    swift_keys = set(plain) | set(renamed.values())
    from android_bench.ios_app import IosAppDevice

    written: dict = {}

    class Capture:
        def copy_to(self, udid, bundle, local, remote, timeout_s):  # noqa: ANN001
            written.update(json.loads(Path(local).read_text()))
            raise RuntimeError("stop after the manifest")

    device = IosAppDevice("U", devicectl=Capture())  # type: ignore[arg-type]
    argv = IosAppRunner(stamp_dir=tmp_path).argv("Documents/phonenas/s/phonenas_ios_app.json",
                                                 "Documents/phonenas/m.pte",
                                                 warmup=1, runs=2, threads=1)  # fmt: skip
    with pytest.raises(RuntimeError, match="stop after"):
        device.shell(argv, timeout_s=5)
    assert set(written) == swift_keys
    assert written["format"] in swift and written["models"] == ["phonenas/m.pte"]
    for units in re.findall(r'case "(\w+)": return \.', swift):
        IosAppRunner(compute_units=units)  # every unit the app accepts is one the host accepts


def test_result_lines_the_app_writes_are_parsed() -> None:
    swift = _swift("BenchmarkRun.swift")
    keys = set(re.findall(r'"(\w+) \\\(', swift)) | set(re.findall(r'\["(\w+) \\\(', swift))
    assert {"runtime", "threads", "load_ms", "warmup_ms", "run_ms", "end", "thermal_state_before",
            "thermal_state_after", "compute_units", "error", "model"} <= keys  # fmt: skip
    assert '"phonenas-bench 1"' in swift
    launch = _swift("PhoneNASBenchApp.swift")
    assert '"--manifest"' in launch and "exit(" in launch
    tar = _swift("Tar.swift")
    assert 'UInt8(ascii: "5")' in tar and 'UInt8(ascii: "0")' in tar and "345" in tar  # ustar prefix field
