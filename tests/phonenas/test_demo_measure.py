"""The demo's measure stage: predictions at the speed read off the calibration models timed with them."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from latency.correction import CalibrationModel, Correction
from latency.keys import Context
from latency.lut import LUT
from latency.progress import SilentProgress
from latency.store import Drift
from latency.validate import ModelTiming
from phonenas.pipeline import DemoConfig, ModelRecord, _report_data, measure
from search.arch import encode_arch
from tests.support.drift_fakes import ARCHS, KEYS, true_ms

CTX = ("executorch", "int8")


# how far each calibration model measured from the LUT's prediction when the correction was fitted
# (a poor fit: their median is 0.95, so measured/predicted now would read the speed 5% low)
RESIDUALS = (1.3, 0.8, 1.1, 0.7)


def _lut() -> LUT:
    ctx = Context("host", "executorch", "0", "int8", 1, "")
    plain = LUT(ctx, {k: true_ms(k) for k in KEYS})
    calib = tuple(
        CalibrationModel(encode_arch(a), r * plain.predict(a).latency_ms, (), 0.0, 1)
        for a, r in zip(ARCHS[:4], RESIDUALS, strict=True)
    )
    return LUT(ctx, plain.entries, correction=Correction(models=calib), reference_ms=0.2)


def _models() -> list[ModelRecord]:
    # the searched model's target: its own prediction (the search lands on it in the LUT's units)
    target = _lut().predict(ARCHS[6]).latency_ms
    return [
        ModelRecord("searched@1ms", "searched", encode_arch(ARCHS[6]), 0.9, 0.9, target_ms=target),
        ModelRecord("base", "baseline", encode_arch(ARCHS[9]), 0.9, 0.9),
    ]


def test_measure_scales_predictions_and_targets_by_the_calibration_models_speed(tmp_path, monkeypatch):
    from latency import validate
    from search.arch import decode_arch

    lut = _lut()
    timed: list[list[str]] = []

    def fake_measure_models(archs, runtime, dtype, meter, cache, workers, on_progress=None, nominal_ms=None):
        timed.append([encode_arch(a) for a in archs])
        # the whole session runs 1.25x slower than the LUT; the small reference thinks it is faster
        then = {m.arch: m.whole_ms for m in lut.correction.models}  # calibration models: as when fitted
        out = []
        for i, a in enumerate(archs):
            ms = 1.25 * then.get(encode_arch(a), lut.predict(a).latency_ms) * (1.0 + 0.01 * (i % 3 - 1))
            out.append(
                ModelTiming([ms] * 5, Drift(0.15, 0.75, remeasured=2 if i == 1 else 0, unstable=i == 1))
            )
        return out

    monkeypatch.setattr(validate, "measure_models", fake_measure_models)
    cfg = DemoConfig(out=tmp_path, contexts=(CTX,))
    models = _models()
    measure(cfg, models, {CTX: lut}, None, None, SilentProgress())
    # the scored models and the four calibration models in one session, the scored ones first
    assert timed == [[m.arch for m in models] + [encode_arch(a) for a in ARCHS[:4]]]
    label = "executorch int8"
    for m in models:
        assert m.speed[label] == pytest.approx(1.25, rel=0.011)
        assert m.predicted_ms[label] == pytest.approx(m.measured_ms[label], rel=0.03)
        # scaled by the small reference instead, the prediction would be 40% low
        assert lut.predict(decode_arch(m.arch), ref_ratio=0.75).latency_ms < 0.65 * m.measured_ms[label]
    assert "unstable" in models[1].notes[label] and "2 re-measurements" in models[1].notes[label]
    assert label not in models[0].notes
    blocks = pd.DataFrame(columns=["layer", "context", "latency_ms"])
    rows = _report_data(cfg, models, blocks, pd.DataFrame(), {})
    pareto = rows.pareto.set_index("model")
    target_now = models[0].target_ms * models[0].speed[label]
    assert pareto.loc["searched@1ms", "target_now_ms"] == pytest.approx(target_now)
    assert pareto.loc["searched@1ms", "vs_target_pct"] == pytest.approx(
        100 * (models[0].measured_ms[label] / target_now - 1)
    )
    assert rows.prediction.set_index("model").loc["base", "note"] == models[1].notes[label]

    # a re-run measures nothing again and predicts the same from what OUT/measure holds
    timed.clear()
    again = _models()
    measure(cfg, again, {CTX: lut}, None, None, SilentProgress())
    assert timed == []
    assert [m.predicted_ms for m in again] == [m.predicted_ms for m in models]
    assert [m.notes for m in again] == [m.notes for m in models]


def test_each_model_gets_the_speed_of_the_calibration_models_of_its_weight(tmp_path, monkeypatch):
    """A later session runs heavy models slower than light ones (weights streamed from memory): the
    speed read off the calibration models bracketing a model's weights predicts it where the median over
    all of them would miss; past the heaviest one, the heaviest one's speed is used."""
    import math

    from latency import validate
    from latency.lut import arch_mparams
    from search.arch import decode_arch

    lut = _lut()
    then = {m.arch: m.whole_ms for m in lut.correction.models}
    light = min(arch_mparams(a) for a in ARCHS[:4])

    def slowdown(arch) -> float:  # linear in log weights: 1.0 for the lightest calibration model
        return 1.0 + 0.8 * math.log(arch_mparams(arch) / light)

    def fake_measure_models(archs, runtime, dtype, meter, cache, workers, on_progress=None, nominal_ms=None):
        return [
            ModelTiming(
                [slowdown(a) * then.get(encode_arch(a), lut.predict(a).latency_ms)] * 5, Drift(0.2, 1.0)
            )
            for a in archs
        ]

    monkeypatch.setattr(validate, "measure_models", fake_measure_models)
    models = _models()
    measure(DemoConfig(out=tmp_path, contexts=(CTX,)), models, {CTX: lut}, None, None, SilentProgress())
    label = "executorch int8"
    searched, base = models
    # inside the calibration models' weights: exact, where the median of the four would be 6% off
    assert arch_mparams(ARCHS[0]) < arch_mparams(decode_arch(searched.arch)) < arch_mparams(ARCHS[3])
    assert searched.speed[label] == pytest.approx(slowdown(ARCHS[6]), rel=1e-6)
    assert searched.predicted_ms[label] == pytest.approx(searched.measured_ms[label], rel=1e-6)
    median = sorted(slowdown(a) for a in ARCHS[:4])[1:3]
    assert abs(sum(median) / 2 / slowdown(ARCHS[6]) - 1) > 0.05
    # heavier than every calibration model: the heaviest one's speed (no extrapolation)
    heaviest = max(ARCHS[:4], key=arch_mparams)
    assert base.speed[label] == pytest.approx(slowdown(heaviest), rel=1e-6)
    saved = json.loads((tmp_path / "measure" / "executorch-int8.json").read_text())
    assert saved["searched@1ms"]["speed"]["basis"] == "nearest in weights"
    assert saved["searched@1ms"]["speed"]["n"] == 2 and saved["base"]["speed"]["n"] == 1


def test_a_model_on_the_cache_cliff_says_its_prediction_is_uncertain(tmp_path, monkeypatch):
    """A model whose weights lie inside the cliff's ramp (between a calibration model that did not spill
    and one that spilled all) is told so on the console and in the report; one past it is not."""
    from dataclasses import replace

    from latency import validate
    from latency.lut import arch_mparams

    lut = _lut()
    lo, hi = arch_mparams(ARCHS[0]), arch_mparams(ARCHS[3])
    lut.correction = replace(
        lut.correction, spill_shape="cliff", weight_ms_per_mparam=1.0, free_mparams=lo, full_mparams=hi
    )

    def fake_measure_models(archs, runtime, dtype, meter, cache, workers, on_progress=None, nominal_ms=None):
        then = {m.arch: m.whole_ms for m in lut.correction.models}
        ms = [then.get(encode_arch(a), lut.predict(a).latency_ms) for a in archs]
        return [ModelTiming([t] * 5, Drift(0.2, 1.0)) for t in ms]

    monkeypatch.setattr(validate, "measure_models", fake_measure_models)
    models = _models()
    measure(DemoConfig(out=tmp_path, contexts=(CTX,)), models, {CTX: lut}, None, None, SilentProgress())
    searched, base = models
    label = "executorch int8"
    assert lo < arch_mparams(ARCHS[6]) < hi < arch_mparams(ARCHS[9])
    assert searched.notes[label].startswith("prediction uncertain, on the cache cliff")
    assert label not in base.notes


@pytest.mark.parametrize(("ratio", "speed"), [(1.3, 1.3), (1.15, 1.1), (1.05, 1.0)])
def test_measure_without_calibration_models_falls_back_to_the_drift_reference(
    tmp_path, monkeypatch, ratio, speed
):
    """The reference's level as the LUT reads it (LUT.scale): within its noise band of the usual level
    it is 1, past twice the band it is taken as it is, in between it ramps."""
    from latency import validate

    lut = _lut()
    lut.correction = Correction()

    def fake_measure_models(archs, runtime, dtype, meter, cache, workers, on_progress=None, nominal_ms=None):
        return [ModelTiming([1.0] * 5, Drift(0.2, ratio)) for _ in archs]

    monkeypatch.setattr(validate, "measure_models", fake_measure_models)
    models = _models()
    measure(DemoConfig(out=tmp_path, contexts=(CTX,)), models, {CTX: lut}, None, None, SilentProgress())
    assert all(m.speed["executorch int8"] == pytest.approx(speed) for m in models)


def test_calibration_covers_the_baselines_sizes_and_never_includes_a_scored_model(tmp_path):
    from phonenas.pipeline import baseline_archs, calibration_baselines
    from search.arch import decode_arch, profile_arch

    def weights(arch) -> float:
        return sum(la.params for la in profile_arch(arch).layers)

    cfg = DemoConfig(out=tmp_path)
    calib = calibration_baselines(cfg)
    scored = [decode_arch(a) for a in baseline_archs(cfg).values()]
    assert [n for n, _ in calib] == [
        "calib_mbv3s_x0.375",
        "calib_mbv3s_x0.625",
        "calib_mbv3s_x0.875",
        "calib_mbv3s_x1.125",
    ]
    assert not {a for _, a in calib} & set(scored)
    # lighter and heavier than every baseline: the smallest one was predicted 11% low when the
    # lightest calibration width (0.625) lay above it
    assert min(weights(a) for _, a in calib) < min(weights(a) for a in scored)
    assert max(weights(a) for _, a in calib) > max(weights(a) for a in scored)
    # a width that builds a baseline's arch is left out
    assert calibration_baselines(DemoConfig(out=tmp_path, calib_widths=(0.75, 1.125))) == calib[3:]


def test_calibration_children_cover_every_resolution_light_and_heavy(tmp_path):
    """The space's children for the corrections' fit: at each resolution of the space, from the light to
    the heavy end of its weights (drawn at random the digits space gave one 32-px child of six, and the
    searched models are 32-px ones)."""
    import torch

    from latency.lut import arch_mparams
    from phonenas.pipeline import calibration_archs, resolve_space

    space = resolve_space(DemoConfig(out=tmp_path))
    archs = calibration_archs(space, 8, torch.Generator().manual_seed(1))
    assert len(set(archs)) == 8 and all(space.contains(a) for a in archs)
    weights = sorted(arch_mparams(a) for a in archs)
    for hw in space.resolutions:
        mine = [arch_mparams(a) for a in archs if a.input_hw == hw]
        assert len(mine) == 4, hw
        assert min(mine) <= weights[1] and max(mine) >= weights[-2], hw


def _searched_slow(monkeypatch, lut: LUT, first: float, later: float) -> list[list[str]]:
    """Fake timing sessions: every model reads as when the LUT was collected (calibration models their
    fitted reading, others their prediction) except the searched arch (``ARCHS[6]``), which reads
    ``first`` times that in the first session and ``later`` times in the ones after. Returns the list
    each session's archs are appended to."""
    from latency import validate

    then = {m.arch: m.whole_ms for m in lut.correction.models}
    sessions: list[list[str]] = []

    def fake_measure_models(archs, runtime, dtype, meter, cache, workers, on_progress=None, nominal_ms=None):
        sessions.append([encode_arch(a) for a in archs])
        slow = first if len(sessions) == 1 else later
        out = []
        for a in archs:
            text = encode_arch(a)
            ms = then.get(text, lut.predict(a).latency_ms) * (slow if text == encode_arch(ARCHS[6]) else 1.0)
            out.append(ModelTiming([ms] * 5, Drift(0.2, 1.0)))
        return out

    monkeypatch.setattr(validate, "measure_models", fake_measure_models)
    return sessions


@pytest.mark.parametrize("second_slow", [1.0, 1.4])
def test_a_missed_prediction_is_measured_again_in_a_session_of_its_own(tmp_path, monkeypatch, second_slow):
    """First session: the searched model reads 1.4x its true speed (a slow stretch the calibration
    models, timed at other moments, did not see). It is timed once more with the calibration models;
    where the second reading is right the two lie 29% apart and the device is called unstable, where it
    is as slow again the miss stands and nothing is called unstable."""
    from search.arch import decode_arch

    lut = _lut()
    sessions = _searched_slow(monkeypatch, lut, 1.4, second_slow)
    cfg = DemoConfig(out=tmp_path, contexts=(CTX,))
    models = _models()
    measure(cfg, models, {CTX: lut}, None, None, SilentProgress())
    calib = [encode_arch(a) for a in ARCHS[:4]]
    assert sessions == [[m.arch for m in models] + calib, [models[0].arch] + calib]
    label = "executorch int8"
    searched, base = models
    pred = lut.predict(decode_arch(searched.arch)).latency_ms
    assert searched.measured_ms[label] == pytest.approx(pred * (1.4 + second_slow) / 2)
    assert searched.predicted_ms[label] == pytest.approx(pred)
    note = searched.notes[label]
    assert note.startswith("re-measured after a -29% miss")
    assert ("unstable" in note) == (second_slow == 1.0)
    assert label not in base.notes and base.measured_ms[label] == pytest.approx(base.predicted_ms[label])

    # a re-run measures nothing again: both readings are kept in OUT/measure
    sessions.clear()
    again = _models()
    measure(cfg, again, {CTX: lut}, None, None, SilentProgress())
    assert sessions == []
    assert again[0].notes == searched.notes and again[0].measured_ms == searched.measured_ms

    # both rechecks off: one session, the miss stands as measured
    sessions.clear()
    once = _models()
    measure(
        DemoConfig(out=tmp_path / "once", contexts=(CTX,), recheck_pct=0, target_recheck_pct=0),
        once,
        {CTX: lut},
        None,
        None,
        SilentProgress(),
    )
    assert len(sessions) == 1 and once[0].measured_ms[label] == pytest.approx(1.4 * pred)


@pytest.mark.parametrize("second", [1.08, 1.0])
def test_a_searched_model_off_its_target_is_measured_again(tmp_path, monkeypatch, second):
    """The searched model's first reading lands 8% over its target while its prediction is within 10%:
    it is timed once more with the calibration models and the note says why; two readings that agree
    leave the miss standing (not called unstable), a second reading on target averages it out."""
    from search.arch import decode_arch

    lut = _lut()
    pred = lut.predict(ARCHS[6]).latency_ms
    sessions = _searched_slow(monkeypatch, lut, 1.08, second)
    models = _models()
    assert models[0].target_ms == pytest.approx(pred)
    measure(DemoConfig(out=tmp_path, contexts=(CTX,)), models, {CTX: lut}, None, None, SilentProgress())
    calib = [encode_arch(a) for a in ARCHS[:4]]
    assert sessions == [[m.arch for m in models] + calib, [models[0].arch] + calib]
    label = "executorch int8"
    note = models[0].notes[label]
    assert note.startswith("re-measured after landing +8% from its target (prediction -7%)")
    assert "unstable" not in note
    assert models[0].measured_ms[label] == pytest.approx(pred * (1.08 + second) / 2)
    assert decode_arch(models[0].arch) == ARCHS[6]

    # off: one session, the reading stands
    sessions.clear()
    once = _models()
    cfg = DemoConfig(out=tmp_path / "once", contexts=(CTX,), target_recheck_pct=0)
    measure(cfg, once, {CTX: lut}, None, None, SilentProgress())
    assert len(sessions) == 1 and label not in once[0].notes
