"""The ONNX int8 recipe holds on x86 CPUs without VNNI (AVX2 only): 7-bit weights, activations float
around hard-swish / squeeze-excite, numerics within the deploy bound (benchmarks/onnx_int8_recipe.py)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from deploy import Dtype, get_target
from deploy.targets.onnx import FLOAT_ACT_SE, INT8_RECIPE
from deploy.verify import compare, numeric_failure
from tests.support.deploy_tiny import reference


def test_int8_weights_fit_avx2_pair_sums_and_act_se_stay_float(model, calib16, digits16, tmp_path) -> None:
    t = get_target("onnx")
    path = t.export(model, calib16[0][:1], Dtype.INT8, tmp_path / "m.onnx", calib=calib16)
    proto = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    producer = {o: n for n in proto.graph.node for o in n.output}
    weights = []
    for node in proto.graph.node:
        if node.op_type == "Conv":
            dq = producer[node.input[1]]
            assert dq.op_type == "DequantizeLinear", f"{node.name}: float weights"
            weights.append(inits[dq.input[0]])
    assert weights and all(w.dtype == np.int8 for w in weights)
    # u8 x s8 pair sums stay within int16 (VPMADDUBSW on AVX2): |w| <= 64 -> 2 * 255 * 64 < 32767
    assert max(int(np.abs(w.astype(np.int32)).max()) for w in weights) <= 64
    assert INT8_RECIPE.reduce_range and INT8_RECIPE.activation == "u8" and INT8_RECIPE.weight == "s8"
    # hard-swish (x * HardSigmoid(x)) and the SE gate (Sigmoid -> Mul) compute in float: the
    # gate is not re-quantized before its Mul (only the next Conv's input is)
    consumers: dict[str, list[str]] = {}
    for node in proto.graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node.op_type)
    gates = [n for n in proto.graph.node if n.op_type in {"HardSigmoid", "Sigmoid"}]
    assert gates  # the tiny model has hard-swish and SE
    assert set(FLOAT_ACT_SE) >= {"HardSigmoid", "Sigmoid", "ReduceMean", "Mul"}
    for node in gates:
        after = {op for o in node.output for op in consumers.get(o, [])}
        assert "QuantizeLinear" not in after, f"{node.op_type} {node.name}: output re-quantized ({after})"
    n = compare(reference(model, digits16), t.load(path, threads=1).run(digits16.numpy()))
    assert numeric_failure(n, Dtype.INT8) == "", n


def test_recipe_is_the_one_the_committed_benchmark_picked() -> None:
    """INT8_RECIPE changes only with a re-run of benchmarks/onnx_int8_recipe.py (its rule picks it)."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    results = json.loads((Path(__file__).parents[2] / "benchmarks/results/onnx_int8_recipe.json").read_text())
    picked = results["recipes"][results["chosen_by_rule"]]
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(INT8_RECIPE).items()} == picked
    summary = results["summary"][results["chosen_by_rule"]]
    assert summary["all_pass"] and summary["max_avx2_pair_saturation"] == 0.0
