"""The block-latency model: synthetic latency functions (stated held-out error), design, active loop."""

from __future__ import annotations

import re

import numpy as np
import pytest

from latency.active import learn_block_latency
from latency.block_model import design_sample, features, fit_block_model, most_uncertain, rmspe_pct
from latency.collect import ReferenceSettings
from latency.export import ArtifactCache
from latency.keys import Context, keys_from_layers
from latency.lut import LUT
from latency.store import LUTStore
from search.space import get_space
from tests.support.drift_fakes import DriftingMeter, true_ms
from tests.support.drift_fakes import export_label as _export

CTX = Context("syn", "executorch", "0", "fp32", 1, "")


@pytest.fixture(scope="module")
def space_keys():
    keys = keys_from_layers(get_space("fbnetv2-f").candidate_layers())
    rng = np.random.default_rng(0)
    return [keys[i] for i in rng.permutation(len(keys))[:1200]]


def compute_bound(k) -> float:
    """Latency linear in MACs and bytes moved, with SE and hard-swish surcharges."""
    x = features([k])[0]
    return 0.01 + 2.5e-3 * x[8] * (1.3 if k.se else 1.0) * (1.1 if k.act.value == "hs" else 1.0) + 0.04 * x[9]


def cache_cliff(k) -> float:
    """Memory-bound past a working-set size (bytes-moved cost doubles), 5x5 kernels 1.5x the MACs."""
    x = features([k])[0]
    moved = x[9]
    return 0.02 + 2e-3 * x[8] * (1.5 if k.kernel == 5 else 1.0) + 0.03 * moved * (2.0 if moved > 0.3 else 1.0)


@pytest.mark.parametrize("truth_fn", [compute_bound, cache_cliff])
def test_model_hits_its_stated_heldout_error_on_synthetic_latency(space_keys, truth_fn):
    """Stated target: <= 5% RMSPE on the unmeasured layers vs the true function, from a 250-layer designed
    sample of 1200 fbnetv2-f candidates with 2% measurement noise; it beats neighbour interpolation."""
    rng = np.random.default_rng(1)
    truth = {k: truth_fn(k) for k in space_keys}
    train = design_sample(space_keys, 250, seed=0)
    model = fit_block_model({k: truth[k] * float(np.exp(rng.normal(0, 0.02))) for k in train}, CTX)
    test = [k for k in space_keys if k not in set(train)]
    pred, spread = model.predict(test)
    err = rmspe_pct(pred, np.array([truth[k] for k in test]))
    assert err <= 5.0, (model.name, model.scores, err)
    assert model.name != "interpolation" and model.scores[model.name] < model.scores["interpolation"]
    assert np.all(np.isfinite(spread)) and np.all(spread >= 0)
    assert model.version.startswith(model.name)


def test_design_sample_covers_every_layer_type_at_grid_corners_and_middle(space_keys):
    sample = design_sample(space_keys, 300, seed=0)
    assert len(sample) == 300 and len(set(sample)) == 300
    groups = {(k.kind, k.kernel, k.se, k.act, k.stride) for k in space_keys}
    assert {(k.kind, k.kernel, k.se, k.act, k.stride) for k in sample} == groups
    for g in groups:
        members = [k for k in space_keys if (k.kind, k.kernel, k.se, k.act, k.stride) == g]
        got = {k.in_hw for k in sample if (k.kind, k.kernel, k.se, k.act, k.stride) == g}
        assert {min(k.in_hw for k in members), max(k.in_hw for k in members)} <= got
    assert design_sample(space_keys, 300, seed=0) == sample  # deterministic


def test_most_uncertain_picks_the_widest_ensemble_spread(space_keys):
    train = design_sample(space_keys, 120, seed=0)
    model = fit_block_model({k: compute_bound(k) for k in train}, CTX, models=("forest",))
    rest = [k for k in space_keys if k not in set(train)]
    picked = most_uncertain(model, rest, 10)
    _, spread = model.predict(rest)
    assert min(model.predict(picked)[1]) >= np.sort(spread)[-10] - 1e-12


def _fake_learn(tmp_path, store: LUTStore, **kw):
    """:func:`learn_block_latency` over the digits space's candidates on the fake exporter and a fake
    device that never drifts (``tests.support.drift_fakes``: each block takes its ``true_ms``)."""
    keys = keys_from_layers(get_space("digits").candidate_layers())
    meter = DriftingMeter(lambda t, calls: 1.0)
    meter.by_label.update({k.label(): k for k in keys})
    cache = ArtifactCache(tmp_path / "art", ("t",), _export)
    reference = ReferenceSettings(clock=meter.clock)
    rep = learn_block_latency(store, keys, "executorch", "fp32", meter, cache, reference=reference, **kw)
    return keys, rep


def test_active_loop_measures_a_sample_and_stores_predictions_for_the_rest(tmp_path):
    store = LUTStore(tmp_path / "lut")
    keys, rep = _fake_learn(tmp_path, store, budget_s=1e9, initial=40, batch=10, models=("linear", "forest"))
    assert rep.stop in ("converged", "exhausted") and rep.measured + rep.predicted == len(keys)
    assert 40 <= rep.measured < len(keys) and rep.predicted > 0
    df = store.frame()
    pred = df[df["entry"] == "predicted"]
    assert len(pred) == rep.predicted and (pred["source"] == "predicted").all()
    assert (pred["model_version"] == rep.model_version).all() and pred["uncertainty"].notna().all()
    lut = LUT.from_store(store, rep.context, corrected=False)
    assert len(lut.entries) == rep.measured and len(lut.predicted) == rep.predicted
    truth = np.array([true_ms(k) for k in lut.predicted])
    assert rmspe_pct(np.array(list(lut.predicted.values())), truth) <= 5.0
    # a second run (resume) measures nothing new and supersedes the predictions with a refit
    _, rep2 = _fake_learn(tmp_path, store, budget_s=0.0, initial=40, models=("linear",))
    assert rep2.measured == rep.measured and rep2.stop == "budget"
    assert len(LUT.from_store(store, rep.context).predicted) == rep.predicted


def test_active_loop_does_not_start_a_batch_that_would_end_past_its_budget(tmp_path):
    """A clock on which each measured layer costs 1 s: with 40 + 10 per batch and 65 s, the loop measures
    60 (a fourth batch would end at 70 s) - it used to check only the time spent, and ended at 70."""
    store = LUTStore(tmp_path / "lut")

    def clock() -> float:  # seconds = layers measured so far
        return float(len(store.frame())) if store.parts() else 0.0

    _, rep = _fake_learn(
        tmp_path,
        store,
        budget_s=65.0,
        initial=40,
        batch=10,
        patience=1000,  # never converges: only the budget stops it
        models=("linear",),
        clock=clock,
    )
    assert rep.stop == "budget" and rep.measured == 60


@pytest.mark.slow
def test_real_tiny_collection_predicts_the_unmeasured_layers(tmp_path):
    """ExecuTorch fp32 on this host: 16 digits layers at 8-16 px, 10 measured (designed), 6 predicted."""
    from latency.meters import HostMeter
    from latency.timer import TimingProtocol

    keys = [k for k in keys_from_layers(get_space("digits").candidate_layers()) if k.in_hw in (8, 16)][:16]
    store = LUTStore(tmp_path / "lut")
    cache = ArtifactCache(tmp_path / "art")
    meter = HostMeter(protocol=TimingProtocol(warmup=3, min_runs=10, max_runs=30, max_time_s=0.3), rounds=1)
    rep = learn_block_latency(
        store,
        keys,
        "executorch",
        "fp32",
        meter,
        cache,
        budget_s=0.0,
        initial=10,
        models=("linear", "forest", "interpolation"),
    )
    assert rep.stop == "budget" and rep.measured >= 10 and rep.measured + rep.predicted == len(keys)
    lut = LUT.from_store(store, rep.context)
    assert len(lut.predicted) == rep.predicted and all(v > 0 for v in lut.predicted.values())
    assert set(rep.scores) == {"linear", "forest", "interpolation"} and rep.model in rep.scores
    assert all(np.isfinite(v) for v in rep.scores.values())


def test_cli_collect_budget_learns_and_predicts_the_rest(tmp_path, monkeypatch, capsys):
    """`lut collect --budget-min`: the block model behind the CLI (fake device and exporter): a designed
    sample measured, the rest stored as predicted entries, `lut show` counting both."""
    import dataclasses

    from typer.testing import CliRunner

    import latency.export as export_mod
    import phonenas.cli.lut as cli_lut
    from phonenas.cli.main import app
    from tests.support.cli import cli_error

    keys = keys_from_layers(get_space("digits").candidate_layers())
    meter = DriftingMeter(lambda t, calls: 1.0)
    meter.by_label.update({k.label(): k for k in keys})
    monkeypatch.setattr(cli_lut, "_meters", lambda devices, options: [meter])

    @dataclasses.dataclass
    class FakeCache(export_mod.ArtifactCache):
        exporter: object = _export

    monkeypatch.setattr(export_mod, "ArtifactCache", FakeCache)
    store = tmp_path / "lut"
    # a budget spent by the designed sample: the model is fitted once and predicts every other layer
    args = ["lut", "collect", "--space", "digits", "--budget-min", "0.001", "--sample", "40"]
    args += ["--export-workers", "0", "--store", str(store)]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output + repr(res.exception)
    line = " ".join(res.output.split())  # the console may wrap at its width
    found = re.findall(r"drift: measured (\d+), predicted (\d+) of (\d+)", line)
    assert found, line
    measured, predicted, total = (int(x) for x in found[0])
    assert total == len(keys) and measured + predicted == total and 40 <= measured < total and predicted > 0
    assert "held-out block RMSPE" in line and "time budget spent" in line
    df = LUTStore(store).frame()
    assert (df["entry"] == "predicted").sum() == predicted
    shown = CliRunner().invoke(app, ["lut", "show", "--store", str(store)], env={"COLUMNS": "200"})
    assert f"{measured} (+{predicted}" in shown.output and "predicted)" in shown.output, shown.output

    err = cli_error(
        ["lut", "collect", "--space", "digits", "--budget-min", "0", "--store", str(store)], capsys
    )
    assert "--budget-min needs a positive number" in err
    two = ["lut", "collect", "--space", "digits", "--budget-min", "5", "--device", "host", "--device", "x"]
    assert "exactly one --device" in cli_error([*two, "--store", str(store)], capsys)
