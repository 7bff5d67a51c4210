"""`phonenas lut validate` says which scored models it predicted outside the correction's fitted range."""

from __future__ import annotations

from typer.testing import CliRunner

from latency.correction import Correction
from latency.keys import Context
from latency.validate import ModelResult, ValidationResult


def _result(far: str | None) -> ValidationResult:
    res = ValidationResult(Context("host", "executorch", "1.5.1", "fp32", 1), Correction.none())
    preds = {p: 1.0 for p in res.predictors}
    res.models = [
        ModelResult("c0", "a", "calibration", 1.0, preds),
        ModelResult("near", "a", "validation", 1.02, preds),
        ModelResult("big@224", "a", "validation", 1.05, preds, extrapolated=far),
    ]
    return res


def _validate(monkeypatch, tmp_path, far: str | None) -> str:
    from latency import validate
    from phonenas.cli.main import app

    monkeypatch.setattr(validate, "sample_validation_archs", lambda *a, **k: ([], []))
    monkeypatch.setattr(validate, "validate", lambda *a, **k: _result(far))
    args = ["lut", "validate", "--no-zoo", "--store", str(tmp_path / "lut")]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res.output


def test_lut_validate_warns_about_models_scored_outside_the_calibration_range(monkeypatch, tmp_path):
    out = _validate(monkeypatch, tmp_path, "outside the correction's calibration range (...)")
    assert "1 scored model(s) outside the correction's calibration range (big@224)" in out
    assert "near" not in out.split("warning:")[1]
    assert "warning" not in _validate(monkeypatch, tmp_path, None)


def test_lut_validate_passes_edges_to_the_calibration_sample(monkeypatch, tmp_path):
    from latency import validate
    from phonenas.cli.main import app

    seen = []
    monkeypatch.setattr(validate, "sample_validation_archs", lambda *a, **k: seen.append(a) or ([], []))
    monkeypatch.setattr(validate, "validate", lambda *a, **k: _result(None))
    base = ["lut", "validate", "--space", "fbnetv2-f", "--no-zoo", "--store", str(tmp_path / "lut")]
    for extra in ([], ["--edges", "2"]):
        res = CliRunner().invoke(app, base + extra, env={"COLUMNS": "200"})
        assert res.exit_code == 0, res.output + repr(res.exception)
    assert [a[0] for a in seen] == ["fbnetv2-f", "fbnetv2-f"]
    assert [a[-1] for a in seen] == [0, 2]
    bad = CliRunner().invoke(app, base + ["--edges", "-1"], env={"COLUMNS": "200"})
    assert bad.exit_code != 0 and "--edges" in bad.output
