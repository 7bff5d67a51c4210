"""`phonenas lut explain`: splitting a model's ETDump operators into its layers, and the command end to end
on this host (phonenas-runner built automatically)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phonenas.cli.explain import is_compute_op, segment_ops

# XNNPACK operator names as they appear in phonenas-runner profiles (tests/android_bench/data/
# phonenas_runner_profile.txt): "<operator> #<n>".
MODEL = [
    ("Transpose (ND, X32) #1", 0.001),
    ("Convolution (NHWC, F32) IGEMM #1", 0.010),  # stem
    ("HardSwish (NC) #1", 0.002),
    ("Fully Connected (NC, F32) GEMM #1", 0.004),  # block 1 expand (1x1 conv lowered to a GEMM)
    ("Convolution (NHWC, F32) DWConv #1", 0.003),
    ("Fully Connected (NC, F32) GEMM #2", 0.002),  # block 1 project
    ("Add (ND) #1", 0.001),
    ("Convolution (NHWC, F32) GEMM #2", 0.005),  # head
    ("Mean (ND) Reduce2 #1", 0.001),
    ("Fully Connected (NC, F32) GEMM #3", 0.001),
]


def test_compute_ops() -> None:
    assert is_compute_op("Convolution (NHWC, QC8) IGEMM #4") and is_compute_op(
        "Fully Connected (NC, F32) GEMM #1"
    )
    assert not is_compute_op("HardSwish (NC) #1") and not is_compute_op("Transpose (ND, X32) #1")


def test_segment_ops_by_layer_compute_counts() -> None:
    s = segment_ops(MODEL, [1, 3, 0, 2])  # stem, block, a skip layer, head
    assert [len(x.ops) for x in s] == [3, 4, 0, 3]
    assert s[0].ops[0].startswith("Transpose")  # the input layout op goes to the first layer
    assert s[1].ops[-1] == "Add (ND) #1"  # the residual add stays with its block
    assert s[0].ms == pytest.approx(0.013) and s[3].ms == pytest.approx(0.007)
    assert sum(x.ms for x in s) == pytest.approx(sum(ms for _, ms in MODEL))


def test_segment_ops_refuses_a_mismatch() -> None:
    with pytest.raises(ValueError, match="lowered differently"):
        segment_ops(MODEL, [1, 2, 2])


@pytest.mark.slow
def test_lut_explain_on_host(tmp_path: Path, artifact_cache: Path) -> None:
    from phonenas.cli.main import app

    arch = "r64:stem_k3_c16_s2_hs:ir_k3_e3_c24_s2_relu,ir_k5_e6_c24_s1_se_hs:head_c96_h128_hs:n10"
    store = tmp_path / "lut"
    common = ["--device", "host", "--store", str(store)]
    collect = ["lut", "collect", *common, "--runner", "phonenas-runner", "--arch", arch, "--runs", "10",
               "--export-workers", "0", "--cache", str(artifact_cache)]  # fmt: skip
    res = CliRunner().invoke(app, collect, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output + repr(res.exception)
    out = CliRunner().invoke(
        app, ["lut", "explain", arch, *common, "--runs", "10", "--json"], env={"COLUMNS": "200"}
    )
    assert out.exit_code == 0, out.output + repr(out.exception)
    data = json.loads(out.output)
    assert data["runtime_version"].startswith("1.5.1") and data["measured_median_ms"] > 0
    layers = data["layers"]
    assert [la["layer"] for la in layers][0].startswith("stem")
    measured = [la for la in layers if la["ops"]]
    assert len(measured) >= 4 and all(la["in_model_ms"] >= 0 for la in measured)
    assert any(any(o.startswith("Convolution") for o in la["ops"]) for la in measured)
    # every measured layer's block was timed alone in the same process, and they sum to the plain sum now
    assert all(la["alone_now_ms"] > 0 for la in measured)
    assert data["plain_sum_now_ms"] == sum(la["alone_now_ms"] or 0.0 for la in layers)
    table = CliRunner().invoke(app, ["lut", "explain", arch, *common, "--runs", "5"], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert re.search(r"predicted [\d.]+ ms .* measured median [\d.]+ ms", table.output.replace("\n", " "))
