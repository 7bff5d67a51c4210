"""The demo end to end on a reduced budget: real LUT, search, training, measurement, deploy and report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploy.pipeline import load_model
from deploy.types import Dtype
from deploy.verify import COSINE_MIN
from latency.timer import TimingProtocol
from phonenas.pipeline import DemoConfig, calibration_baselines, run_demo
from search.arch import Act, HeadSpec, decode_arch, encode_arch
from search.data import load_data
from search.loop import evaluate
from search.space import SearchSpace, StageChoices, StemChoices


def _micro_space() -> SearchSpace:
    """Two width choices and two resolutions: a handful of LUT layers, still a real search."""
    return SearchSpace(
        "demo-micro",
        (16, 24),  # MobileNetV3-Small, the baseline, needs >= 17 px for its five stride-2 layers
        StemChoices((8,)),
        (
            StageChoices((8, 16), 1, 2, (2.0,), (3,)),
            StageChoices((16,), 1, 2, (2.0,), (3,), (False,), (Act.HSWISH,)),
        ),
        HeadSpec(conv_ch=16),
        num_classes=10,
    )


def model_hw(arch: str) -> int:
    return decode_arch(arch).input_hw


class _Recorder:
    def __init__(self) -> None:
        self.stages: list[str] = []
        self.tasks: set[str] = set()
        self.labels: set[str] = set()

    def stage(self, name: str) -> None:
        self.stages.append(name)

    def update(self, task: str, done: int, total: int, info: str = "") -> None:
        assert 0 <= done <= total, (task, done, total)
        self.tasks.add(task.split(" ")[0])
        self.labels.add(task)


@pytest.mark.slow
def test_demo_runs_end_to_end_and_resumes(tmp_path: Path) -> None:
    # Short timing (one round of 10 fixed runs) keeps the test in the minutes; the pipeline is the same.
    cfg = DemoConfig(
        out=tmp_path / "demo",
        space=_micro_space(),
        target_quantiles=(0.5,),
        search_epochs=3,
        train_epochs=1,
        baseline_widths=(0.5,),
        export_workers=0,
        calib_archs=2,
        calib_widths=(0.625,),
        timing=TimingProtocol(warmup=2, min_runs=10, max_runs=10),
        meter_rounds=1,
    )
    rec = _Recorder()
    result = run_demo(cfg, rec)

    assert rec.stages == ["LUT", "search + train", "baselines", "measure", "deploy", "report"]
    assert {"LUT", "search", "train", "deploy"} <= rec.tasks
    # the calibration models are timed among the LUT's blocks, in one session per context
    assert {
        "LUT executorch int8: measure blocks and models",
        "LUT litert fp32: measure blocks and models",
    } <= (rec.labels)
    names = [m.name for m in result.models]
    assert len(names) == 2 and names[0].startswith("searched@") and names[1] == "mbv3s_x0.5"
    for m in result.models:
        assert set(m.measured_ms) == {"executorch int8", "litert fp32"}
        assert all(v > 0 for v in m.measured_ms.values()) and all(v > 0 for v in m.predicted_ms.values())
        assert set(m.speed) == set(m.measured_ms) and all(v > 0 for v in m.speed.values())
        # The reported accuracy is the saved model's on the test split, recomputed here. (One training
        # epoch keeps this test in minutes, and then every micro model is near chance, so a bound above
        # chance cannot be asserted here: tests/search/test_loop.py asserts learning, > 0.5 at 30 epochs.)
        model = load_model(decode_arch(m.arch), cfg.out / "models" / m.name / "weights.pt")
        data = load_data(cfg.data, size=model_hw(m.arch), channels=decode_arch(m.arch).in_ch, seed=cfg.seed)
        assert m.test_acc == pytest.approx(evaluate(model, data.split("test"), model_hw(m.arch)), abs=1e-9)
    # every target got a bundle; each artifact passed or (Core ML off macOS) says why it cannot run here
    deploy = result.deploy
    assert set(deploy["target"]) == {"executorch", "coreml", "tflite", "onnx"}
    # fp32 artifacts must match; an int8 one may fail only on top-1 agreement, with its logits still close:
    # its models are barely trained, their logits near-ties, and the searched arch follows the timing, so
    # int8 rounding flips a few decisions more or fewer from run to run against the check's 98% bound (the
    # likely flake of the 490f53f fresh clone). benchmarks/results/int8_agreement_epochs.md, two searched
    # archs of this test: 1 / 4 / 8 epochs give int8 top-1 agreement 89.5-100% at cosine >= 0.997.
    failed = deploy[deploy["status"] == "fail"]
    shown = failed[["target", "dtype", "cosine", "top1_agree", "note"]].to_dict("records")
    assert (failed["dtype"] == "int8").all(), f"artifacts failed their numeric check: {shown}"
    assert failed["note"].str.contains("top-1 agreement").all(), shown
    assert (failed["cosine"] >= COSINE_MIN[Dtype.INT8]).all(), shown
    assert set(deploy[deploy["status"] == "unavailable"]["target"]) <= {"coreml"}
    assert set(deploy[(deploy["target"] == "executorch")]["dtype"]) == {"fp32", "int8"}
    for bundle in {Path(b) for b in deploy["bundle"]}:
        assert json.loads((bundle / "manifest.json").read_text())["arch"] == result.models[0].arch
    corrections = list((cfg.out / "lut" / "corrections").glob("*.json"))
    assert len(corrections) == 2, corrections  # one fitted boundary correction per context
    (calib_mbv3,) = calibration_baselines(cfg)
    for path in corrections:  # fitted on the space's children and a MobileNetV3-Small between baselines
        fit = json.loads(path.read_text())
        fitted_on = [m["arch"] for m in (*fit["models"], *fit["outliers"])]
        assert len(fitted_on) == 3 and encode_arch(calib_mbv3[1]) in fitted_on
        assert "cache spill" in fit["method"]  # the spill term is fitted (or said to be absent)
    md = result.report_md.read_text()
    assert "searched@" in md and "mbv3s_x0.5" in md and "executorch" in md
    assert {p.name for p in cfg.out.glob("*.png")} == {"pareto.png", "prediction.png", "block_latency.png"}

    # A second run resumes from what is on disk: nothing re-measured, the same results.
    lut_files = sorted(p.name for p in (cfg.out / "lut").iterdir())
    again = run_demo(cfg, _Recorder())
    assert sorted(p.name for p in (cfg.out / "lut").iterdir()) == lut_files
    assert [(m.name, m.measured_ms, m.test_acc) for m in again.models] == [
        (m.name, m.measured_ms, m.test_acc) for m in result.models
    ]
