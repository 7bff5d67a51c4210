"""benchmarks/inmodel_gap.py: the per-model summary of a `phonenas lut explain --json` answer, and its
one-line errors (the explain command itself runs for real in tests/phonenas/test_cli_explain.py)."""

from __future__ import annotations

import pytest

from benchmarks import inmodel_gap
from search.arch import LayerKind
from search.arch.codec import decode_arch
from search.arch.shapes import profile_arch

ARCH = "r64:stem_k3_c16_s2_hs:ir_k3_e3_c24_s2_relu,skip_c24,ir_k5_e6_c24_s1_se_hs:head_c96_h128_hs:n10"


def _explain_answer(arch) -> dict:
    """What explain prints for ``arch``: layer i takes i+1 ms alone and 10% more inside the model."""
    layers = []
    for i, la in enumerate(profile_arch(arch).layers):
        skip = la.kind is LayerKind.SKIP
        alone = None if skip else float(i + 1)
        layers.append({
            "layer": la.name, "lut_entry_ms": 0.0 if skip else alone * 0.9, "alone_now_ms": alone,
            "in_model_ms": 0.0 if skip else alone * 1.1,
        })  # fmt: skip
    now = sum(x["alone_now_ms"] or 0.0 for x in layers)
    return {
        "layers": layers, "measured_median_ms": 1.1 * now, "plain_sum_now_ms": now,
        "plain_sum_ms": 0.9 * now, "predicted_ms": now, "outside_xnnpack_ms": 0.0,
    }  # fmt: skip


def test_summary_buckets_the_in_model_gap_by_layer_weights() -> None:
    arch = decode_arch(ARCH)
    row = inmodel_gap.summarize("m", arch, _explain_answer(arch))
    layers = [la for la in profile_arch(arch).layers if la.kind is not LayerKind.SKIP]
    assert row["whole_over_alone_now"] == pytest.approx(1.1)
    assert row["whole_over_lut_sum"] == pytest.approx(1.1 / 0.9)
    assert row["error_now_pct"] == pytest.approx(100 * (1 / 1.1 - 1))
    # every measured layer's gap (10% of its alone time) lands in its weight bucket; the skip in none
    assert sum(row["gap_ms"].values()) == pytest.approx(0.1 * sum(x for x in (1, 2, 4, 5)))
    assert sum(row["gap_mparams"].values()) == pytest.approx(sum(la.params for la in layers) / 1e6)
    assert row["gap_ms"]["ge0.5M"] == 0.0 and row["heavy_gap_ms_per_mparam"] is None  # a 64 px toy
    assert "| m |" in inmodel_gap.render_md([
        {"run": 1, "dtype": "fp32", "commit": "abc", "cpu": "x", "finished": "now", "runs": 3,
         "load_avg_start": (0.5, 0, 0), "load_avg_end": (0.6, 0, 0), "models": [row]}
    ])  # fmt: skip


def test_summary_refuses_an_answer_for_another_arch() -> None:
    arch = decode_arch(ARCH)
    answer = _explain_answer(arch)
    answer["layers"] = answer["layers"][:-1]
    with pytest.raises(SystemExit, match="explain returned 4 layers, the arch has 5"):
        inmodel_gap.summarize("m", arch, answer)


def test_bad_store_and_unknown_model_fail_in_one_line(tmp_path) -> None:
    with pytest.raises(SystemExit, match="is not a directory; pass a run's real/executorch-<dtype> store"):
        inmodel_gap.main(["--store", str(tmp_path / "nope"), "--run", "0"])
    with pytest.raises(SystemExit, match=r"unknown models \['resnet50'\]; choose from"):
        inmodel_gap.main(["--store", str(tmp_path), "--run", "0", "--models", "resnet50"])


def test_spill_cap_rescore_counts_only_layers_within_the_cap_and_names_bad_input(tmp_path) -> None:
    from benchmarks import spill_cap_rescore as scr

    rows = [(0.5, 0.1, 0.3), (0.4, 0.05, 1.2), (0.9, 0.0, 4.5)]  # (entry ms, boundary Melems, M weights)
    m = scr.calib("m", 2.0, rows, cap_m=1.5)
    assert m.mparams == pytest.approx(1.5) and m.n_layers == 3 and m.entries_ms == (0.5, 0.4, 0.9)
    assert scr.calib("m", 2.0, rows, cap_m=float("inf")).mparams == pytest.approx(6.0)
    with pytest.raises(SystemExit, match="does not exist; pass the results file"):
        scr.main(["--run", f"0={tmp_path}", "--results", str(tmp_path / "none.json")])
    results = tmp_path / "acc.json"
    results.write_text('{"runs": [{"run": 0, "seed": 0, "contexts": []}]}')
    with pytest.raises(SystemExit, match=r"expected N=DIR\[:STORE\]"):
        scr.main(["--run", "x=/nope", "--results", str(results)])
    with pytest.raises(SystemExit, match=r"run 3 is not in .*runs there: \[0\]"):
        scr.main(["--run", f"3={tmp_path}", "--results", str(results)])
