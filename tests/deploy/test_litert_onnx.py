"""LiteRT and ONNX chains: export -> op counts in the file -> run -> numerics, fp32 and int8."""

from collections import Counter

import pytest
from torch import nn

from deploy import Dtype, get_target
from deploy.verify import compare, numeric_failure
from tests.support.deploy_tiny import count_modules, reference

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "name,dtype",
    [
        ("tflite", Dtype.FP32),
        ("tflite", Dtype.INT8),
        ("tflite-nhwc", Dtype.FP32),
        ("onnx", Dtype.FP32),
        ("onnx", Dtype.INT8),
    ],
)
def test_export_inspect_run(name, dtype, model, calib16, digits16, tmp_path):
    t = get_target(name)
    path = t.export(model, calib16[0][:1], dtype, tmp_path / f"m{t.suffix}", calib=calib16)
    info = t.inspect(path)
    convs = count_modules(model, nn.Conv2d)
    if t.runtime == "litert":
        assert info.ops.get("CONV_2D", 0) + info.ops.get("DEPTHWISE_CONV_2D", 0) == convs
        (shape,) = info.inputs.values()
        assert shape == ([1, 16, 16, 1] if t.layout == "nhwc" else [1, 1, 16, 16])
    else:
        assert info.ops["Conv"] == convs
        assert info.inputs == {"x": [1, 1, 16, 16]} and info.outputs == {"logits": [1, 10]}
        if dtype is Dtype.INT8:
            assert info.ops["QuantizeLinear"] > 0 and info.ops["DequantizeLinear"] >= convs
    runner = t.load(path, threads=1)
    n = compare(reference(model, digits16), runner.run(digits16.numpy()))
    assert numeric_failure(n, dtype) == "", n


def test_tflite_int8_has_int8_kernels(model, calib16, tmp_path):
    t = get_target("tflite")
    info = t.inspect(t.export(model, calib16[0][:1], Dtype.INT8, tmp_path / "q.tflite", calib=calib16))
    fp = t.inspect(t.export(model, calib16[0][:1], Dtype.FP32, tmp_path / "f.tflite"))
    assert Counter(info.ops) != Counter(fp.ops)
    assert "QUANTIZE" in info.ops or "DEQUANTIZE" in info.ops


@pytest.mark.parametrize("dtype", [Dtype.FP32, Dtype.INT8])
def test_tflite_timed_call_is_the_bare_interpreter_invoke(dtype, model, calib16, digits16, tmp_path):
    """Latency measurement times ``timed_call``: the interpreter's ``Invoke`` alone, its input set
    once in the artifact's own format (no per-call resize / copy-in / copy-out of the signature
    runner, no numpy conversion), as benchmark_model and the phone runner time it; it computes what
    ``run`` computes, on every call."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    t = get_target("tflite")
    path = t.export(model, calib16[0][:1], dtype, tmp_path / "m.tflite", calib=calib16)
    runner = t.load(path, threads=1)
    x = digits16[:1].numpy()
    call = runner.timed_call(x)
    assert getattr(call, "__func__", None) is Interpreter.invoke
    out = runner.run(x)  # the signature runner, on the same interpreter
    for _ in range(2):
        assert call() is None
        raw = runner.timed_output()
        if raw.dtype.kind in "iu":  # int8 I/O: run() dequantizes with the output's scale / zero point
            scale, zero = runner._out_q
            raw = (raw.astype(np.float32) - zero) * scale
        np.testing.assert_allclose(raw, out, rtol=1e-6, atol=1e-6)
