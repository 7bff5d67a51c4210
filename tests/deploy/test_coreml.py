"""Core ML (.mlpackage) and ExecuTorch Core ML delegate: convert and validate structurally on Linux;
prediction needs macOS, so load() must raise TargetUnavailable here (never a fake result)."""

import platform

import numpy as np
import pytest
from torch import nn

from deploy import Dtype, TargetUnavailable, VerificationError, get_target
from deploy.verify import verify_artifact
from tests.support.deploy_tiny import count_modules

pytestmark = pytest.mark.slow
off_mac = pytest.mark.skipif(platform.system() == "Darwin", reason="Core ML runs on macOS")


@pytest.mark.parametrize("dtype", [Dtype.FP16, Dtype.INT8_WEIGHTS])
def test_mlpackage_structure(dtype, model, calib16, tmp_path):
    t = get_target("coreml")
    path = t.export(model, calib16[0][:1], dtype, tmp_path / "m.mlpackage", calib=calib16)
    assert path.is_dir() and (path / "Manifest.json").is_file()
    info = t.inspect(path)
    assert info.inputs and list(info.inputs.values())[0] == [1, 1, 16, 16]
    assert info.outputs == {"logits": [1, 10]}
    assert info.ops["conv"] == count_modules(model, nn.Conv2d) and info.ops["linear"] == 1
    if dtype is Dtype.INT8_WEIGHTS:
        assert info.ops["constexpr_affine_dequantize"] >= count_modules(model, nn.Conv2d)


@off_mac
def test_coreml_load_is_unavailable_off_macos(model, calib16, digits16, tmp_path):
    t = get_target("coreml")
    path = t.export(model, calib16[0][:1], Dtype.FP32, tmp_path / "m.mlpackage")
    with pytest.raises(TargetUnavailable, match="needs macOS"):
        t.load(path)
    check = verify_artifact(t, Dtype.FP32, path, digits16.numpy(), np.zeros((len(digits16), 10), np.float32))
    assert check.status == "unavailable" and check.numerics is None


def test_coreml_inspect_rejects_garbage(tmp_path):
    bad = tmp_path / "bad.mlpackage"
    bad.mkdir()
    (bad / "Manifest.json").write_text("{not json")
    with pytest.raises(VerificationError, match="not a readable .mlpackage"):
        get_target("coreml").inspect(bad)


@off_mac
def test_executorch_coreml_delegate(model, calib16, tmp_path):
    t = get_target("executorch-coreml")
    path = t.export(model, calib16[0][:1], Dtype.FP16, tmp_path / "m.pte")
    info = t.inspect(path)
    assert info.delegates == {"CoreMLBackend": 1} and info.undelegated_compute == {}
    with pytest.raises(TargetUnavailable, match="CoreMLBackend"):
        t.load(path)
