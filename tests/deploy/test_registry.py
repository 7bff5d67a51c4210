import subprocess
import sys

import pytest
import torch

from deploy import DeployError, Dtype, get_target, runtime_versions, target_names
from deploy.capture import calibration_samples

HEAVY = ("executorch", "coremltools", "litert_torch", "onnxruntime", "ai_edge_litert")


def test_registry_names_and_protocol():
    assert set(target_names()) >= {"executorch", "executorch-coreml", "coreml", "tflite", "onnx"}
    for name in target_names():
        t = get_target(name)
        assert t.name == name
        assert t.suffix.startswith(".") and t.runtime and t.layout in ("nchw", "nhwc")
        assert t.dtypes and all(isinstance(d, Dtype) for d in t.dtypes)
        for attr in ("export", "load", "inspect", "runtime_version"):
            assert callable(getattr(t, attr))


def test_unknown_target_names_choices():
    with pytest.raises(DeployError, match="expected one of executorch"):
        get_target("tensorrt")


def test_dtype_parse():
    assert Dtype.parse(" INT8 ") is Dtype.INT8
    assert Dtype.parse("int8w") is Dtype.INT8_WEIGHTS and Dtype.INT8_WEIGHTS.is_quantized
    with pytest.raises(DeployError, match="expected one of fp32"):
        Dtype.parse("int4")


def test_import_is_light():
    code = (
        "import sys, deploy; deploy.get_target('executorch'); deploy.get_target('coreml'); "
        "deploy.get_target('tflite'); deploy.get_target('onnx'); deploy.runtime_versions(); "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_runtime_versions_has_toolchain():
    v = runtime_versions()
    for pkg in ("torch", "executorch", "coremltools", "litert-torch", "ai-edge-litert", "onnxruntime"):
        assert v[pkg] and v[pkg] != "not installed"


def test_calibration_samples_split_and_validate():
    example = torch.zeros(1, 1, 16, 16)
    samples = calibration_samples(example, [torch.randn(5, 1, 16, 16), torch.randn(3, 1, 16, 16)])
    assert len(samples) == 8 and all(s.shape == (1, 1, 16, 16) for s in samples)
    assert calibration_samples(example, [torch.randn(10, 1, 16, 16)], limit=4).__len__() == 4
    assert calibration_samples(example, None)[0] is example
    with pytest.raises(DeployError, match="resize the calibration data"):
        calibration_samples(example, [torch.randn(2, 3, 16, 16)])
