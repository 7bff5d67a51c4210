"""ExecuTorch XNNPACK chain: export -> graph op counts -> lower -> delegate count, nothing compute outside
-> run -> numerics; plus the delegation check catching a non-delegated program, and threadpool safety."""

from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from deploy import DeployError, Dtype, get_target
from deploy.capture import capture, quantize_pt2e
from deploy.targets.executorch_runtime import inspect_pte
from deploy.verify import compare, numeric_failure, verify_artifact
from tests.support.deploy_tiny import count_modules, reference, tiny_model

pytestmark = pytest.mark.slow


def _aten_counts(gm: torch.fx.GraphModule) -> Counter:
    return Counter(
        str(n.target).split(".")[1] if "aten" in str(n.target) else str(n.target)
        for n in gm.graph.nodes
        if n.op == "call_function"
    )


@pytest.fixture(scope="module")
def artifacts(model, calib16, tmp_path_factory):
    t = get_target("executorch")
    d = tmp_path_factory.mktemp("et")
    x = calib16[0][:1]
    return {
        dt: t.export(model, x, dt, d / f"m_{dt.value}.pte", calib=calib16) for dt in (Dtype.FP32, Dtype.INT8)
    }


def test_capture_and_quantized_graph_counts(model, calib16):
    x = calib16[0][:1]
    ops = _aten_counts(capture(model, x).graph_module)
    assert ops["conv2d"] == count_modules(model, nn.Conv2d)
    assert ops["linear"] == count_modules(model, nn.Linear)
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    q = quantize_pt2e(
        model, x, XNNPACKQuantizer().set_global(get_symmetric_quantization_config(True)), calib16
    )
    names = Counter(str(n.target) for n in q.graph.nodes if n.op == "call_function")
    assert sum(v for k, v in names.items() if "quantize_per_tensor" in k and "dequantize" not in k) > 0
    assert sum(v for k, v in names.items() if "dequantize_per_channel" in k) == count_modules(
        model, nn.Conv2d
    ) + count_modules(model, nn.Linear)


@pytest.mark.parametrize("dtype", [Dtype.FP32, Dtype.INT8])
def test_lowered_fully_to_xnnpack_and_numerics(artifacts, model, digits16, dtype):
    t = get_target("executorch")
    info = t.inspect(artifacts[dtype])
    assert info.delegates == {"XnnpackBackend": 1}
    assert info.undelegated_compute == {}
    runner = t.load(artifacts[dtype], threads=1)
    out = runner.run(digits16.numpy())
    n = compare(reference(model, digits16), out)
    assert numeric_failure(n, dtype) == "", n
    if dtype is Dtype.INT8:
        assert n.max_abs > 0  # really quantized, not a float copy
    assert runner.runtime_version.startswith("executorch ")


def test_compute_outside_delegate_fails_verification(model, digits16, tmp_path):
    from executorch.exir import to_edge

    x = digits16[:1]
    path = tmp_path / "portable.pte"
    path.write_bytes(to_edge(capture(model, x)).to_executorch().buffer)  # no partitioner: portable kernels
    info = inspect_pte(path)
    assert info.delegates == {}
    assert sum(v for k, v in info.undelegated_compute.items() if "convolution" in k) == count_modules(
        model, nn.Conv2d
    )
    check = verify_artifact(
        get_target("executorch"), Dtype.FP32, path, digits16.numpy(), reference(model, digits16)
    )
    assert check.status == "fail" and "outside the delegate" in check.reason


def test_threadpool_reset_invalidates_older_runner(artifacts, digits16):
    t = get_target("executorch")
    x = digits16[:1].numpy()
    one = t.load(artifacts[Dtype.FP32], threads=1)
    ref = one.run(x)
    two = t.load(artifacts[Dtype.FP32], threads=2)  # resets the pool before loading
    np.testing.assert_allclose(two.run(x), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(DeployError, match="threadpool was reset to 2 threads"):
        one.run(x)
    again = t.load(artifacts[Dtype.FP32], threads=1)
    np.testing.assert_allclose(again.run(x), ref, rtol=1e-5, atol=1e-6)


def test_batch_and_shape_contract(artifacts, digits16):
    runner = get_target("executorch").load(artifacts[Dtype.FP32])
    assert runner.run(digits16[:3].numpy()).shape == (3, 10)
    with pytest.raises(DeployError, match="NCHW"):
        runner.run(np.zeros((1, 16, 16, 1), np.float32))


def test_export_refuses_training_mode(calib16, tmp_path):
    with pytest.raises(DeployError, match="eval"):
        get_target("executorch").export(tiny_model().train(), calib16[0][:1], Dtype.FP32, tmp_path / "m.pte")


def test_fast_pattern_tracing_keeps_move_to_eval_rewrites():
    """quantize_pt2e routes torchao's pattern tracer through the memoized non-strict one; the dropout and
    batch-norm train->eval rewrites it drives must still match (a graph exported in train mode then
    computes exactly what the eager model computes in eval mode)."""
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e import utils as pt2e_utils

    from deploy.capture import _fast_pattern_graph, install_fast_pattern_tracing

    install_fast_pattern_tracing(pt2e_utils, "_get_aten_graph_module_for_pattern")
    assert pt2e_utils._get_aten_graph_module_for_pattern is _fast_pattern_graph
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5), nn.Conv2d(8, 4, 1))
    net.train()
    x = torch.randn(2, 3, 8, 8)
    net(x)  # non-trivial running statistics
    gm = torch.export.export(net, (x,), strict=False).module()
    move_exported_model_to_eval(gm)
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(gm(x), net(x))
        torch.testing.assert_close(gm(x), gm(x))  # dropout gone: deterministic
