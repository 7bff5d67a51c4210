"""`phonenas deploy --lut` writes the LUT-predicted latency of each artifact into its bundle manifest."""

from __future__ import annotations

import json

import pytest

from latency.keys import Context, keys_from_archs
from latency.lut import LUT
from latency.stats import summarize
from latency.store import LUTStore, Provenance, make_row
from phonenas.cli.main import run
from search.arch import decode_arch

# 1x16x16 digits model: exports in seconds
TINY = "r16c1:stem_k3_c8_s1_hs:ir_k3_e1_c8_s1_se_relu|ir_k3_e3_c16_s2_hs:head_c32_hs:n10"


@pytest.mark.slow
def test_deploy_lut_writes_predicted_latency_into_the_manifest(tmp_path, capsys) -> None:
    arch = decode_arch(TINY)
    store = LUTStore(tmp_path / "lut")
    ctx = Context("host", "onnx", "onnxruntime 1.32.0", "fp32", 1)
    rows = []
    for key in keys_from_archs([arch]):
        ms = 0.01 + key.to_layer().macs / 1e8  # test data, not timings
        samples = [ms, ms * 1.01, ms * 0.99]
        rows.append(make_row(ctx, key, summarize(samples), samples, Provenance(device_model="test")))
    store.append(rows)
    expected = LUT.from_store(store, ctx).predict(arch).latency_ms

    out = tmp_path / "bundles"
    args = ["deploy", "--arch", TINY, "--targets", "onnxruntime", "--quantize", "none", "--n-verify", "20"]
    with pytest.raises(SystemExit) as done:
        run([*args, "--lut", str(store.root), "--out", str(out)])
    assert done.value.code == 0, capsys.readouterr().err
    manifest = json.loads((out / "onnx" / "manifest.json").read_text())  # the alias names the target
    (artifact,) = manifest["artifacts"]
    assert artifact["dtype"] == "fp32"
    assert artifact["latency_ms"]["predicted"] == pytest.approx(expected)
    assert artifact["latency_ms"]["measured_host"] > 0

    # with --threads 2 no stored LUT matches: the manifest says so (null) and the console warns
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        run([*args, "--lut", str(store.root), "--out", str(tmp_path / "t2"), "--threads", "2"])
    assert done.value.code == 0
    assert "no LUT in" in capsys.readouterr().err
    (artifact,) = json.loads((tmp_path / "t2" / "onnx" / "manifest.json").read_text())["artifacts"]
    assert artifact["latency_ms"]["predicted"] is None
