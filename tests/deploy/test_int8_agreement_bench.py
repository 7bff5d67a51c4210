"""benchmarks/int8_agreement_epochs.py on one arch, one target, one epoch: rows, JSON and markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import int8_agreement_epochs as bench


@pytest.mark.slow
def test_int8_agreement_bench_writes_one_row_per_model_epoch_and_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "ARCHS", {"a": bench.ARCHS["searched_a"]})
    monkeypatch.setattr(bench, "TARGETS", ("onnx",))
    out = bench.main(["--epochs", "1", "2", "--out", str(tmp_path / "agree")])
    rows = out["rows"]
    assert [(r["model"], r["epochs"], r["target"]) for r in rows] == [("a", 1, "onnx"), ("a", 2, "onnx")]
    for r in rows:
        assert 0.0 <= r["top1_agreement"] <= 1.0 and 0.9 < r["cosine"] <= 1.0 + 1e-9
        assert r["status"] in {"pass", "fail"} and 0 <= r["margin_p5"] <= r["margin_p50"]
    assert json.loads((tmp_path / "agree.json").read_text())["rows"] == rows
    md = (tmp_path / "agree.md").read_text()
    assert md.count("| a | ") == 2 and "top-1 agreement" in md
