"""benchmarks/demo_refit.py: a finished demo's corrections refitted with every calibration model kept."""

from __future__ import annotations

import json

import pytest

from latency.correction import Correction, calibration_model, select_correction
from latency.keys import BlockKey, keys_from_archs
from latency.lut import LUT
from latency.store import LUTStore
from search.arch import LayerKind, encode_arch, profile_arch
from tests.support.lut_fakes import CTX, fake_row, small_arch


def _demo(tmp_path):
    """A demo output: a store of every layer, a correction that left one calibration model out, and the
    measure stage's readings of two models (one re-measured)."""
    archs = [small_arch(c, se) for c in (16, 24, 32, 40, 96) for se in (False, True)]
    out = tmp_path / "out"
    store = LUTStore(out / "lut")
    store.append([fake_row(CTX, k, 0.5 + 1e-4 * k.to_layer().macs / 1e3) for k in keys_from_archs(archs)])
    raw = LUT.from_store(store, CTX, corrected=False)
    models = []
    for i, a in enumerate(archs[:8]):
        layers = [la for la in profile_arch(a).layers if la.kind is not LayerKind.SKIP]
        entries = [raw.entries[BlockKey.from_layer(la)] for la in layers]
        whole = sum(entries) * (1.4 if i == 2 else 0.9)  # the third read far off the others
        models.append(calibration_model(encode_arch(a), layers, entries, whole))
    saved = select_correction(models, 0.005)
    assert len(saved.outliers) == 1
    saved.save(store.root, CTX)
    (out / "measure").mkdir()
    scored = {"a": archs[8], "b": archs[9]}
    readings = {
        "a": {"arch": encode_arch(archs[8]), "median_ms": 3.0, "speed": {"ratio": 1.1}},
        "b": {
            "arch": encode_arch(archs[9]),
            "median_ms": 4.0,
            "speed": {"ratio": 1.0},
            "recheck": {"arch": encode_arch(archs[9]), "median_ms": 4.4, "speed": {"ratio": 1.2}},
        },
    }
    (out / "measure" / "executorch-fp32.json").write_text(json.dumps(readings))
    return out, store, saved, models, scored


def test_demo_refit_reproduces_the_saved_fit_and_refits_with_every_model(tmp_path):
    from benchmarks.demo_refit import main

    out, store, saved, models, scored = _demo(tmp_path)
    entries = main(["--out", str(out), "--name", "t", "--results", str(tmp_path / "res" / "demo_refit")])
    (entry,) = entries
    (ctx,) = entry["contexts"]
    assert ctx["outliers"] == 1 and "left out 1 outlier(s) of 8" in ctx["method"]["as_run"]
    assert "outlier" not in ctx["method"]["keep_all"]
    lut = LUT.from_store(store, CTX)
    # refitted as the demo fits: with the store's measured call overhead (none in this store)
    every = select_correction(models, lut.call_overhead_ms, weights=True, max_outliers=0.0)
    measured, speed = {"a": 3.0, "b": 4.2}, {"a": 1.1, "b": 1.1}  # b: its two readings averaged
    for m in ctx["models"]:
        arch = scored[m["name"]]
        assert m["measured_ms"] == pytest.approx(measured[m["name"]])
        assert m["speed"] == pytest.approx(speed[m["name"]])
        as_run = lut.predict(arch, ref_ratio=speed[m["name"]]).latency_ms / measured[m["name"]] - 1
        assert m["err_pct"]["as_run"] == pytest.approx(100 * as_run)
        lut.correction = every
        keep = lut.predict(arch, ref_ratio=speed[m["name"]]).latency_ms / measured[m["name"]] - 1
        lut.correction = saved
        assert m["err_pct"]["keep_all"] == pytest.approx(100 * keep)
        assert m["err_pct"]["keep_all"] != pytest.approx(m["err_pct"]["as_run"])
    md = (tmp_path / "res" / "demo_refit.md").read_text()
    assert "| t | executorch | fp32 | 1 | a |" in md and "within +-10%, keep_all" in md
    # a second demo keeps the first's entry; the same name replaces its own
    main(["--out", str(out), "--name", "u", "--results", str(tmp_path / "res" / "demo_refit")])
    again = main(["--out", str(out), "--name", "t", "--results", str(tmp_path / "res" / "demo_refit")])
    assert sorted(e["name"] for e in again) == ["t", "u"]


def test_demo_refit_says_what_is_missing(tmp_path):
    from benchmarks.demo_refit import main

    with pytest.raises(SystemExit, match="holds no finished demo"):
        main(["--out", str(tmp_path), "--name", "t", "--results", str(tmp_path / "r")])
    assert Correction.load(tmp_path, CTX) is None
