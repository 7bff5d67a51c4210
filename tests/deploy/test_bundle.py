"""Bundles end to end on the fast ONNX target: manifest contents, verify, and tamper/truncate detection."""

import json

import pytest

from deploy import Dtype, VerificationError
from deploy.bundle import MANIFEST, find_bundles, verify_bundle
from deploy.data import eval_data
from deploy.pipeline import DeployRequest, deploy
from phonenas.cli.main import run
from search.arch import decode_arch
from tests.support.deploy_tiny import TINY, tiny_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle_root(tmp_path_factory):
    arch = decode_arch(TINY)
    out = tmp_path_factory.mktemp("bundles")
    data = eval_data("digits", arch, n_calib=32, n_verify=60)
    request = DeployRequest(
        arch,
        ("onnx",),
        (Dtype.INT8,),
        out,
        data,
        device="pixel8",
        predicted_latency_ms={("onnx", "fp32"): 0.5},
    )
    (result,) = deploy(request, tiny_model())
    assert result.path == out / "pixel8-onnx"
    assert [c.status for c in result.checks] == ["pass", "pass"], [c.reason for c in result.checks]
    return out


def test_manifest_contents(bundle_root):
    m = json.loads((bundle_root / "pixel8-onnx" / MANIFEST).read_text())
    assert (
        m["arch"] == TINY
        and m["target"] == "onnx"
        and m["runtime"] == "onnxruntime"
        and m["device"] == "pixel8"
    )
    assert m["input"]["shape"] == [1, 1, 16, 16] and m["input"]["layout"] == "nchw"
    assert m["input"]["normalization"]["mean"] and m["labels"] == [str(i) for i in range(10)]
    assert m["toolchain"]["onnxruntime"] and m["toolchain"]["torch"]
    arts = {a["dtype"]: a for a in m["artifacts"]}
    assert set(arts) == {"fp32", "int8"}
    assert arts["fp32"]["latency_ms"]["predicted"] == 0.5 and arts["fp32"]["latency_ms"]["measured_host"] > 0
    assert arts["int8"]["check"]["numerics"]["accuracy"] is not None
    assert set(m["files"]) == {"model_fp32.onnx", "model_int8.onnx", "reference.npz"}
    assert all(len(f["sha256"]) == 64 for f in m["files"].values())


def test_verify_passes_then_catches_tamper_and_truncation(bundle_root, capsys):
    bundle = bundle_root / "pixel8-onnx"
    assert find_bundles(bundle_root) == [bundle]
    assert verify_bundle(bundle).ok
    with pytest.raises(SystemExit) as ok:
        run(["deploy", "verify", str(bundle_root)])
    assert ok.value.code == 0

    artifact = bundle / "model_int8.onnx"
    original = artifact.read_bytes()
    try:
        flipped = bytearray(original)
        flipped[len(flipped) // 2] ^= 0xFF
        artifact.write_bytes(bytes(flipped))
        with pytest.raises(VerificationError, match="model_int8.onnx: sha256 mismatch"):
            verify_bundle(bundle)
        artifact.write_bytes(original[: len(original) // 3])
        with pytest.raises(
            VerificationError, match=r"model_int8.onnx: truncated \(\d+ bytes, manifest says \d+\)"
        ):
            verify_bundle(bundle)
        capsys.readouterr()
        with pytest.raises(SystemExit) as bad:
            run(["deploy", "verify", str(bundle)])
        assert bad.value.code == 2
        err = capsys.readouterr().err
        assert "truncated" in err and len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1
    finally:
        artifact.write_bytes(original)
    assert verify_bundle(bundle).ok


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(VerificationError, match="no manifest.json"):
        find_bundles(tmp_path)


def test_deploy_cli_needs_arch(capsys):
    with pytest.raises(SystemExit) as e:
        run(["deploy"])
    assert e.value.code == 2 and "pass --arch" in capsys.readouterr().err
