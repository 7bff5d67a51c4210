"""The real-scale validation set of benchmarks/lut_accuracy.py is what the issue lists (no timing)."""

from __future__ import annotations

import pytest

from benchmarks.lut_accuracy import REAL_RES, real_set
from benchmarks.mobile_archs import TABLES, mobile_arch
from latency.lut import arch_mparams
from latency.validate import _n_blocks as _blocks
from search.arch import profile_arch
from search.space import get_space
from search.zoo import ZOO


def test_real_set_composition_and_calibration_never_scored():
    val, cal = real_set(20, 8, seed=0)
    names = [n for n, _ in val]
    rand = [a for n, a in val if n.startswith("rand")]
    assert len(rand) == 20 and {a.input_hw for a in rand} == set(REAL_RES)
    assert {"fbnetv2_f1", "fbnetv2_f2", "fbnetv2_f3", "fbnetv2_f4"} <= set(names)
    assert {a.input_hw for n, a in val if n.startswith("mobilenetv3")} == {224}
    others = [a for n, a in val if n.split("@")[0] in TABLES]
    assert len(others) == 5 and all(96 <= a.input_hw <= 224 for a in others)
    assert not {a for _, a in cal} & {a for _, a in val} and len(cal) == 8 + 3 + 2 + 2
    # the calibration spans the validation models' weights: narrowed children below the space's lightest
    weights = {n: arch_mparams(a) for n, a in val + cal}
    light = [weights[n] for n, _ in cal if n.startswith("light")]
    lightest_val = min(weights[n] for n, _ in val)
    assert len(light) == 3 and min(light) <= lightest_val < max(light)
    assert max(light) < min(weights[n] for n, _ in cal if n.startswith("calib"))
    # runs 15-18 scored with the spread and the light children only: still the same models
    assert real_set(20, 8, seed=0, heavy=0, short=0) == (val, cal[:11])
    zoo = set(ZOO.values())
    space = get_space("fbnetv2-f")
    for a in others:  # neither zoo nor (at this resolution) a space member
        assert a not in zoo and a.stem.out_ch not in space.stem.widths


def test_real_set_calibration_reaches_the_validation_sets_edges():
    """Runs 16-18 scored MobileNetV3-Small (11 blocks), MobileNetV2@96 and ProxylessNAS@224 outside the
    correction's calibration range (layer counts, entry sums): the heavy and short children reach them."""
    val, cal = real_set(20, 8, seed=0)
    macs = {n: profile_arch(a).macs for n, a in val + cal}
    weights = {n: arch_mparams(a) for n, a in val + cal}
    heavy = [(n, a) for n, a in cal if n.startswith("heavy")]
    short = [(n, a) for n, a in cal if n.startswith("short")]
    assert len(heavy) == 2 and len(short) == 2
    top = max(macs[n] for n, _ in val)
    for n, a in heavy:  # above every validation resolution, 2x its heaviest compute, inside its weights
        assert a.input_hw > max(v.input_hw for _, v in val) and a.input_hw % 32 == 0
        assert 2 * top <= macs[n] and profile_arch(a.with_input_hw(a.input_hw - 32)).macs < 2 * top
        assert min(weights[v] for v, _ in val) <= weights[n] <= max(weights[v] for v, _ in val)
    fewest = min(_blocks(a) for _, a in val)
    assert fewest == _blocks(dict(val)["mobilenetv3_small@224"]) == 11
    assert all(_blocks(a) <= fewest - 2 for _, a in short)
    assert [a.input_hw for _, a in short] == [96, 224]  # the validation set's lowest and highest
    assert min(macs[n] for n, _ in short) < min(macs[n] for n, _ in val)
    assert not {a for _, a in cal} & {a for _, a in val}


def test_mobile_archs_match_their_published_compute():
    macs = {n: sum(la.macs for la in profile_arch(mobile_arch(n)).layers) / 1e6 for n in TABLES}
    published = {
        "mobilenet_v2": 300,
        "mnasnet_a1": 312,
        "mnasnet_b1": 315,
        "efficientnet_b0_hs": 390,
        "proxylessnas_mobile": 320,
    }
    for n, m in published.items():
        assert abs(macs[n] / m - 1) < 0.05, (n, macs[n])


def _fake_context(spec, scale, val, cal, root, cache, args):
    runtime, dtype = spec.split(":")
    models = [
        {"name": n, "role": "validation", "measured_ms": 1.0, "predicted_ms": 1.02, "remeasured": False}
        for n, _ in val[:2]
    ]
    return {
        "runtime": runtime,
        "dtype": dtype,
        "scale": scale,
        "n": len(val),
        "status": "ok",
        "within10_pct": 100.0,
        "within5_pct": 100.0,
        "rmspe_pct": 2.0,
        "models": models,
        "elapsed_s": 1.0,
        "load_avg_after": (0.5, 0.5, 0.5),
        "root": str(root),
    }


def test_append_adds_contexts_and_runs_without_dropping_earlier_ones(tmp_path, monkeypatch):
    import json
    from pathlib import Path

    import pytest

    from benchmarks import lut_accuracy

    monkeypatch.setattr(lut_accuracy, "run_context", _fake_context)
    out = tmp_path / "acc"
    common = ["--scales", "toy", "--toy-n", "2", "--toy-calib", "2", "--work", str(tmp_path / "w")]
    lut_accuracy.main(["--runs", "1", "--contexts", "executorch:fp32", "--out", str(out), *common])
    lut_accuracy.main(["--runs", "2", "--contexts", "litert:fp32", "--out", str(out), "--append", *common])
    lut_accuracy.main(
        ["--runs", "1", "--first-run", "1", "--contexts", "executorch:fp32", "--out", str(out), "--append",
         *common]
    )  # fmt: skip
    runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    assert [r["run"] for r in runs] == [0, 1]
    assert sorted(c["runtime"] for c in runs[0]["contexts"]) == ["executorch", "litert"]
    assert sorted(c["runtime"] for c in runs[1]["contexts"]) == ["executorch", "litert"]
    for r in runs:  # every run collects into its own new stores (one per context below that root)
        assert {Path(c["root"]).parent.name.split("-")[0] for c in r["contexts"]} == {f"run{r['run']}"}
    assert all("load_avg_start" in c and "finished" in c for r in runs for c in r["contexts"])
    md = out.with_suffix(".md").read_text()
    assert md.count("| toy |") == 4 + 2 and "**100%**" in md  # + run to run, per context
    # replacing a result keeps one row per (run, scale, runtime, dtype)
    lut_accuracy.main(["--runs", "1", "--contexts", "litert:fp32", "--out", str(out), "--append", *common])
    runs = json.loads(out.with_suffix(".json").read_text())["runs"]
    assert sum(len(r["contexts"]) for r in runs) == 4
    with pytest.raises(SystemExit, match="seed"):  # run 1 scored other models
        lut_accuracy.main(
            ["--runs", "1", "--first-run", "1", "--vary-models", "--contexts", "litert:fp32", "--out",
             str(out), "--append", *common]
        )  # fmt: skip


def test_reproducibility_reports_how_far_apart_the_runs_put_each_model():
    from benchmarks.lut_accuracy import reproducibility

    def ctx(measured, predicted):
        models = [
            {"name": f"m{i}", "role": "validation", "measured_ms": m, "predicted_ms": p, "remeasured": 0}
            for i, (m, p) in enumerate(zip(measured, predicted, strict=True))
        ]
        models.append({"name": "cal", "role": "calibration", "measured_ms": 9.0, "predicted_ms": 1.0})
        return {"scale": "real", "runtime": "executorch", "dtype": "fp32", "status": "ok", "models": models}

    out = {
        "runs": [
            {"run": 0, "contexts": [ctx([1.0, 2.0], [1.0, 2.0])]},
            {"run": 1, "contexts": [ctx([1.3, 2.1], [1.0, 2.0])]},
            {
                "run": 2,
                "contexts": [{"scale": "real", "runtime": "litert", "dtype": "fp32", "status": "error"}],
            },
        ]
    }
    (row,) = reproducibility(out)  # litert: one run (and not ok): nothing to compare
    assert (row["runs"], row["n"]) == (2, 2)
    assert row["measured"]["max_spread_pct"] == pytest.approx(30.0)
    assert row["measured"]["max_spread_model"] == "m0"
    assert row["measured"]["median_spread_pct"] == pytest.approx(17.5)
    assert row["measured"]["agree10_pct"] == 50.0  # m0's runs are 1.3/1.15 - 1 = 13% off their median
    assert row["predicted"]["max_spread_pct"] == 0.0 and row["predicted"]["agree10_pct"] == 100.0
    out["runs"][1]["contexts"][0]["models"][0]["name"] = "other"  # other models: not comparable
    assert reproducibility(out) == []


def test_models_after_scores_the_same_lut_on_models_timed_after_the_collection(tmp_path, monkeypatch):
    from argparse import Namespace

    from benchmarks.lut_accuracy import models_after, render_md
    from deploy import Dtype
    from latency import validate
    from latency.collect import ReferenceSettings, collect
    from latency.export import ArtifactCache
    from latency.store import LUTStore
    from tests.support.drift_fakes import ARCHS, KEYS, ModelMeter, export_label, model_artifacts

    monkeypatch.setattr(validate, "model_artifact", model_artifacts(tmp_path))
    meter = ModelMeter(slow_s=10_000.0)  # blocks 1.3x slow while collected, the reference never
    store, cache = LUTStore(tmp_path / "lut"), ArtifactCache(tmp_path / "art", ("t",), export_label)
    rep = collect(
        store, KEYS, "executorch", "fp32", meter, cache, reference=ReferenceSettings(clock=meter.clock)
    )
    val = [(f"a{i}", a) for i, a in enumerate(ARCHS[:4])]
    args = Namespace(export_workers=0)
    slow = models_after(store, rep.context, val, "executorch", Dtype.FP32, meter, cache, args)
    assert slow["within10_pct"] == 100.0 and [m["name"] for m in slow["models"]] == ["a0", "a1", "a2", "a3"]
    meter.slow_s = meter.t  # the device is fast again: the LUT of the slow minutes is 30% over
    fast = models_after(store, rep.context, val, "executorch", Dtype.FP32, meter, cache, args)
    assert fast["within10_pct"] == 0.0
    for m in fast["models"]:
        assert m["predicted_ms"] / m["measured_ms"] > 1.15  # the slow minutes' LUT (+ its call overhead)
    # the results file's table: among the blocks vs after, and the ratio of the two measurements
    models = [{**m, "role": "validation", "remeasured": 0, "unstable": False} for m in slow["models"]]
    ctx = {"scale": "real", "runtime": "executorch", "dtype": "fp32", "status": "ok", "n": 4,
           "within10_pct": 100.0, "within5_pct": 100.0, "rmspe_pct": 1.0, "models": models,
           "load_avg_after": [1.0], "elapsed_s": 1.0, "after": fast}  # fmt: skip
    settings = {"threads": 1, "rounds": 3, "real_n": 4, "real_calib": 0, "real_others": 0, "toy_n": 0,
                "toy_calib": 0, "seed": 0}  # fmt: skip
    out = {"host": "h", "platform": "p", "cpus": 2, "target": "t", "load_avg_start": [1.0],
           "settings": settings, "runs": [{"run": 0, "contexts": [ctx]}]}  # fmt: skip
    md = render_md(out)
    assert "| 0 | real | executorch | fp32 | 100% / 1.0 | 0% / " in md
    assert "| 0.769 (0.769-0.769) |" in md  # measured after / among the blocks = 1 / 1.3


def test_contexts_default_to_five_timing_rounds_and_the_table_says_how_many():
    """`--rounds` unset: 5 interleaved rounds (3 left 23-68% of the VM's int8 blocks at a slow reading);
    given, it applies to every context; each row of the table shows its own rounds."""
    from benchmarks.lut_accuracy import main, render_md, rounds_for

    assert (rounds_for(None), rounds_for(2)) == (5, 2)
    with pytest.raises(SystemExit):
        main(["--rounds", "0"])
    models = [{"name": "a", "role": "validation", "measured_ms": 1.0, "predicted_ms": 1.05, "remeasured": 0}]
    ctx = {"scale": "real", "runtime": "executorch", "status": "ok", "n": 1, "within10_pct": 100.0,
           "within5_pct": 100.0, "rmspe_pct": 5.0, "models": models, "load_avg_after": [1.0],
           "elapsed_s": 1.0}  # fmt: skip
    settings = {"threads": 1, "rounds": None, "real_n": 1, "real_calib": 0, "real_others": 0, "toy_n": 0,
                "toy_calib": 0, "seed": 0}  # fmt: skip
    rows = [ctx | {"dtype": "int8", "rounds": 5}, ctx | {"dtype": "fp32", "rounds": 3}]
    runs = [{"run": 0, "contexts": rows}]
    md = render_md({"host": "h", "platform": "p", "cpus": 2, "target": "t", "load_avg_start": [1.0],
                    "settings": settings, "runs": runs})  # fmt: skip
    assert "rounds=5," in md
    assert "| int8 | 1 | **100%** |" in md and "| off | 5 | 1.0 -> 1.0 |" in md
    assert "| off | 3 | 1.0 -> 1.0 |" in md


def test_the_table_names_the_models_scored_outside_the_calibration_range():
    """Each row says which validation models applied the correction outside its fitted range; rows from
    before the column was recorded say `-`, not 0."""
    from benchmarks.lut_accuracy import render_md

    models = [{"name": "a", "role": "validation", "measured_ms": 1.0, "predicted_ms": 1.05, "remeasured": 0}]
    ctx = {"scale": "real", "runtime": "executorch", "dtype": "fp32", "status": "ok", "n": 1,
           "within10_pct": 100.0, "within5_pct": 100.0, "rmspe_pct": 5.0, "models": models,
           "load_avg_after": [1.0], "elapsed_s": 1.0, "rounds": 5, "commit": "abc"}  # fmt: skip
    settings = {"threads": 1, "rounds": None, "real_n": 1, "real_calib": 0, "real_others": 0, "toy_n": 0,
                "toy_calib": 0, "seed": 0}  # fmt: skip
    runs = [
        {"run": 0, "contexts": [ctx]},
        {"run": 1, "contexts": [ctx | {"extrapolated": ["big@224", "a"]}]},
        {"run": 2, "contexts": [ctx | {"extrapolated": []}]},
    ]
    md = render_md({"host": "h", "platform": "p", "cpus": 2, "target": "t", "load_avg_start": [1.0],
                    "settings": settings, "runs": runs})  # fmt: skip
    rows = [line for line in md.splitlines() if line.startswith(("| 0 | real", "| 1 | real", "| 2 | real"))]
    assert [r.rsplit("|", 2)[-2].strip() for r in rows] == ["-", "2: big@224, a", "0"]
    assert md.count("| --- ") >= 16 and "| commit | extrapolated |" in md


def test_the_drift_load_starts_busy_processes_per_cpu_and_stops_them():
    """--drift's competing load: ``per_cpu`` busy processes per CPU (one per CPU left a pinned timing
    thread a core of its own on the 2-core VM), started ``start_s`` after the collection's timing phase
    began (the progress printer arms it; exports before it are not what the test is about), all gone
    after ``length_s``; counts below 1 are refused."""
    import os
    import time

    from benchmarks.lut_accuracy import CompetingLoad, _printer, main

    idle = CompetingLoad(0.0, 30.0).start()
    time.sleep(0.8)
    idle.stop()
    assert idle.procs == [] and idle.events == []  # never armed: never loaded
    load = CompetingLoad(0.0, 30.0, per_cpu=2).start()
    progress = _printer("real executorch:fp32", load)
    progress("export blocks", 5, 10)
    time.sleep(0.8)
    assert not load.procs and not load.events
    progress("measure blocks and models", 1, 100)
    deadline = time.time() + 20
    while len(load.events) < 2 and time.time() < deadline:
        time.sleep(0.02)
    procs = list(load.procs)
    assert len(procs) == 2 * (os.cpu_count() or 1)
    assert all(p.poll() is None for p in procs)  # busy until stopped, not after their 30 s
    load.stop()
    assert all(p.poll() is not None for p in procs)
    assert [e for e, _ in load.events] == ["timing started", f"load on ({len(procs)} processes)", "load off"]
    with pytest.raises(ValueError, match="per_cpu"):
        CompetingLoad(0.0, 1.0, per_cpu=0)
    with pytest.raises(SystemExit):
        main(["--drift-per-cpu", "0"])


def test_cliff_rescore_names_a_wrong_store_or_run_in_one_line(tmp_path):
    import json

    import pytest

    from benchmarks import cliff_rescore

    with pytest.raises(SystemExit, match="has no real/ stores; pass the run<i>-<time> folder"):
        cliff_rescore.main(["--store", str(tmp_path), "--run", "0"])
    (tmp_path / "real").mkdir()
    results = tmp_path / "acc.json"
    results.write_text(json.dumps({"runs": [{"run": 0, "seed": 0, "contexts": []}]}))
    with pytest.raises(SystemExit, match=r"run 7 is not in .*runs there: \[0\]"):
        cliff_rescore.main(["--store", str(tmp_path), "--run", "7", "--results", str(results)])
    # a run without real-scale contexts re-scores nothing and writes an empty table
    out = tmp_path / "res"
    assert (
        cliff_rescore.main(
            ["--store", str(tmp_path), "--run", "0", "--results", str(results), "--out", str(out)]
        )
        == []
    )
    assert out.with_suffix(".md").read_text().startswith("# Real-scale runs re-scored")


def test_reference_rescore_reproduces_the_old_rule_and_reads_a_bimodal_reference_as_noise(tmp_path):
    """Blocks and whole models timed while the small reference flipped between modes 6% apart that the
    device did not follow: the old rule (every ratio as it is) scales each by its mode and misses by up to
    ~6%; ``device_scale`` reads the modes as noise and predicts the models as they ran."""
    import json

    import pytest

    from benchmarks import reference_rescore
    from latency.keys import BlockKey
    from latency.stats import summarize
    from latency.store import Drift, LUTStore, Provenance, make_row
    from search.arch import encode_arch
    from tests.support.drift_fakes import ARCHS, KEYS, true_ms
    from tests.support.lut_fakes import CTX

    store = LUTStore(tmp_path / "lut")
    rows = []
    for i, k in enumerate(KEYS):
        samples = [true_ms(k)] * 5
        ratio = 1.0 if i % 2 else 0.94
        rows.append(make_row(CTX, k, summarize(samples), samples, Provenance(), drift=Drift(0.1, ratio)))
    store.append(rows)
    archs = {f"m{i}": a for i, a in enumerate(ARCHS)}
    # the whole model costs the sum of its layers (no boundary effects in this fake), whatever the mode
    truth = {
        n: sum(true_ms(BlockKey.from_layer(la)) for la in profile_arch(a).layers if la.kind.value != "skip")
        for n, a in archs.items()
    }
    models = [
        {
            "name": n,
            "role": "calibration" if i < 6 else "validation",
            "measured_ms": truth[n],
            "ref_ratio": 1.0 if i % 3 else 0.94,
        }
        for i, n in enumerate(archs)
    ]
    old = reference_rescore.refit(store, CTX, models, archs, 1.0, 0.0)
    new = reference_rescore.refit(store, CTX, models, archs, None, None)
    assert new["ratio_center"] == pytest.approx(0.94) and old["ratio_center"] == 1.0
    assert new["rmspe_pct"] < 0.5 < old["rmspe_pct"], (old, new)
    assert new["within10_pct"] == 100.0
    assert encode_arch(ARCHS[0])  # the archs round-trip (the correction stores their text)
    with pytest.raises(SystemExit, match="has no real/ stores"):
        reference_rescore.main(["--store", str(tmp_path), "--run", "0"])
    (tmp_path / "real").mkdir()
    with pytest.raises(SystemExit, match="does not exist; pass the results file"):
        reference_rescore.main(
            ["--store", str(tmp_path), "--run", "0", "--results", str(tmp_path / "no.json")]
        )
    results = tmp_path / "acc.json"
    results.write_text(json.dumps({"runs": [{"run": 0, "seed": 0, "contexts": []}]}))
    with pytest.raises(SystemExit, match=r"run 7 is not in .*runs there: \[0\]"):
        reference_rescore.main(["--store", str(tmp_path), "--run", "7", "--results", str(results)])


def test_fit_rescore_refits_the_correction_on_the_runs_own_measurements(tmp_path, monkeypatch):
    """The stored entries, the run's whole-model readings: whole models that ran 0.004 ms faster per
    inner boundary than their layers' entries sum to. The run scored a plain sum (its stored correction
    none); the refit finds the per-block saving from the calibration models and predicts the validation
    models exactly. A wrong store, results file, run or scale is named in one line."""
    import json

    import pytest

    from benchmarks import fit_rescore
    from latency.keys import BlockKey
    from latency.stats import summarize
    from latency.store import Drift, LUTStore, Provenance, make_row
    from search.arch import LayerKind
    from tests.support.drift_fakes import ARCHS, KEYS, true_ms
    from tests.support.lut_fakes import CTX

    store = LUTStore(tmp_path / "toy" / "executorch-fp32")
    rows = [
        make_row(CTX, k, summarize([true_ms(k)] * 5), [true_ms(k)] * 5, Provenance(), drift=Drift(0.1, 1.0))
        for k in KEYS
    ]
    store.append(rows)
    saving = 0.004
    archs = {f"m{i}": a for i, a in enumerate(ARCHS)}

    def whole(a):
        layers = [la for la in profile_arch(a).layers if la.kind is not LayerKind.SKIP]
        return sum(true_ms(BlockKey.from_layer(la)) for la in layers) - saving * (len(layers) - 1)

    models = [
        {
            "name": n,
            "role": "calibration" if i < 8 else "validation",
            "measured_ms": whole(a),
            "predicted_ms": 0.0,
            "ref_ratio": 1.0,
        }
        for i, (n, a) in enumerate(archs.items())
    ]
    out = fit_rescore.refit(store, CTX, models, archs)
    assert out["within10_pct"] == 100.0 and out["rmspe_pct"] < 1e-6, out
    assert out["call_ms"] == pytest.approx(saving, rel=1e-6) and out["missed"] == []
    # main(): the run's contexts, its settings' model sets (monkeypatched: the fake archs) and the table
    monkeypatch.setattr(fit_rescore, "model_sets", lambda scale, settings, seed: archs)
    ctx = {"runtime": CTX.runtime, "dtype": str(CTX.dtype.value), "scale": "toy", "status": "ok"}
    ctx |= {"within10_pct": 0.0, "rmspe_pct": 50.0, "correction": {"method": "none"}, "models": models}
    results = tmp_path / "acc.json"
    results.write_text(json.dumps({"runs": [{"run": 3, "seed": 0, "contexts": [ctx]}]}))
    out_path = tmp_path / "fr"
    entries = fit_rescore.main(
        [
            "--store",
            str(tmp_path),
            "--run",
            "3",
            "--scale",
            "toy",
            "--results",
            str(results),
            "--out",
            str(out_path),
        ]
    )
    assert [e["refit"]["within10_pct"] for e in entries] == [100.0]
    assert "| acc.json | 3 | toy |" in out_path.with_suffix(".md").read_text()
    with pytest.raises(SystemExit, match="no real run 3 in"):
        fit_rescore.main(["--store", str(tmp_path), "--run", "3", "--results", str(results)])
    with pytest.raises(SystemExit, match="does not exist; pass the results file"):
        fit_rescore.main(["--store", str(tmp_path), "--run", "3", "--results", str(tmp_path / "no.json")])
    results.write_text(json.dumps({"runs": [{"run": 3, "seed": 0, "contexts": [ctx | {"scale": "real"}]}]}))
    with pytest.raises(SystemExit, match="has no real/ stores; pass the run<i>-<time> folder"):
        fit_rescore.main(["--store", str(tmp_path), "--run", "3", "--results", str(results)])


def test_toy_residuals_blames_the_layer_the_missed_models_share_and_shows_its_siblings():
    """Models built on one layer miss together; the layer's mean error says so, and its standalone
    entry is shown next to the keys that differ only in output width (where a slow-alone layer shows)."""
    import pytest

    from benchmarks import toy_residuals
    from latency.keys import BlockKey
    from search.arch import Act, LayerKind

    def ir(out):
        return BlockKey(LayerKind.IR, 3, 16, 48, out, 16, 2, False, Act.RELU)

    other = BlockKey(LayerKind.IR, 5, 16, 48, 24, 16, 2, False, Act.RELU)
    layers_of = {"a": [ir(24), ir(16)], "b": [ir(24)], "c": [ir(16), other], "d": [other]}
    errs = {"a": 16.0, "b": 18.0, "c": -2.0, "d": 0.0}
    att = toy_residuals.layer_attribution(errs, layers_of)
    assert att[ir(24)][0] == pytest.approx(17.0) and att[ir(16)][0] == pytest.approx(7.0)
    assert att[other][0] == pytest.approx(-1.0)
    entries = {ir(24): 0.0179, ir(16): 0.0119, ir(32): 0.0125, other: 0.019}
    assert toy_residuals.siblings(entries, ir(24)) == {16: 0.0119, 24: 0.0179, 32: 0.0125}
    assert toy_residuals.label(ir(24)) == "IR3 16-48-24@16/2"
    ctx = {
        "models": [
            {"name": "a", "role": "validation", "measured_ms": 0.1, "predicted_ms": 0.11},
            {"name": "z", "role": "validation", "measured_ms": 2.0, "predicted_ms": 1.0},
            {"name": "k", "role": "calibration", "measured_ms": 0.1, "predicted_ms": 0.2},
        ]
    }
    assert toy_residuals.errors(ctx, max_ms=0.2) == {"a": pytest.approx(10.0)}
    with pytest.raises(SystemExit, match="expected RESULTS.json:RUN:STORE_FOLDER"):
        toy_residuals.parse_run("results.json:x")
