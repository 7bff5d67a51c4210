"""The end-to-end pipeline behind ``phonenas demo``: LUT -> search -> train -> measure -> deploy -> report.

Every stage writes its result under ``out`` and is skipped on a re-run when that result exists, so a
killed demo resumes where it stopped (the LUT store and the search checkpoints resume mid-stage too).
Stages only compose the four packages; the library code lives there.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from deploy.registry import default_targets, resolve
from phonenas.report import ReportData, write_report

if TYPE_CHECKING:
    from latency.progress import Progress
    from latency.timer import TimingProtocol
    from search.arch import ArchSpec
    from search.space import SearchSpace

log = logging.getLogger(__name__)

# (runtime, dtype) pairs the demo measures (runtime: any name of deploy's registry, see
# docs/runtimes.md); the first one drives the search.
DEMO_CONTEXTS: tuple[tuple[str, str], ...] = (("executorch", "int8"), ("litert", "fp32"))


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("phonenas-out")
    space: str | SearchSpace = "digits"  # a preset name or a SearchSpace
    data: str = "digits"
    contexts: tuple[tuple[str, str], ...] = DEMO_CONTEXTS
    target_quantiles: tuple[float, ...] = (
        0.25,
        0.7,
    )  # latency targets: quantiles of the space's predicted latency
    # random children measured whole to fit each LUT's boundary correction, spread over the space's
    # weights at each of its resolutions (calibration_archs)
    calib_archs: int = 8
    # MobileNetV3-Small widths measured whole for the correction too (never scored): between and beyond
    # the baselines', so that it is fitted over every size the report predicts (the baselines have 2-3x
    # the layers of the space's children)
    calib_widths: tuple[float, ...] = (0.375, 0.625, 0.875, 1.125)
    search_epochs: int = 12
    train_epochs: int = 15
    baseline_widths: tuple[float, ...] = (0.5, 0.75, 1.0)  # MobileNetV3-Small width multipliers
    deploy_targets: tuple[str, ...] = field(default_factory=default_targets)
    threads: int = 1
    export_workers: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))
    seed: int = 0
    timing: TimingProtocol | None = None  # how the host times each artifact (None: HostMeter's default)
    # interleaved timing rounds per artifact, lowest median kept (HostMeter.rounds): 3 left a fresh-clone
    # demo 6 of 10 within 10% (MobileNetV3-Small blocks kept slow readings); the LUT benchmark uses 5
    meter_rounds: int = 5
    # a model whose prediction misses its measurement by more than this (%) is measured once more, with
    # the calibration models, in a session of its own (0: never); the two sessions are averaged
    recheck_pct: float = 10.0
    # so is a searched model measured more than this (%) from its latency target (0: never)
    target_recheck_pct: float = 5.0

    def __post_init__(self) -> None:
        if not self.contexts:
            raise ValueError("the demo needs at least one (runtime, dtype) context")
        if not all(0 < q < 1 for q in self.target_quantiles):
            raise ValueError(f"target quantiles must lie in (0, 1), got {self.target_quantiles}")
        if self.search_epochs < 1 or self.train_epochs < 1:
            raise ValueError("search_epochs and train_epochs must be >= 1")


@dataclass
class ModelRecord:
    name: str
    kind: str  # "searched" | "baseline"
    arch: str
    val_acc: float
    test_acc: float
    target_ms: float | None = None
    measured_ms: dict[str, float] = field(default_factory=dict)  # "runtime dtype" -> ms
    predicted_ms: dict[str, float] = field(default_factory=dict)  # at the speed of the measuring session
    speed: dict[str, float] = field(default_factory=dict)  # that session's speed / the LUT's (1: same)
    notes: dict[str, str] = field(default_factory=dict)  # re-measured or unstable measurements


@dataclass
class DemoResult:
    config: DemoConfig
    models: list[ModelRecord]
    block_latency: pd.DataFrame
    deploy: pd.DataFrame
    stage_s: dict[str, float]
    report_html: Path
    report_md: Path


def resolve_space(cfg: DemoConfig) -> SearchSpace:
    from search.space import SearchSpace, get_space

    return cfg.space if isinstance(cfg.space, SearchSpace) else get_space(cfg.space)


def _label(runtime: str, dtype: str) -> str:
    return f"{runtime} {dtype}"


def _json_cache(path: Path, compute: Callable[[], dict]) -> dict:
    """Return the JSON at ``path``, or compute, write atomically and return it."""
    if path.exists():
        return json.loads(path.read_text())
    value = compute()
    _write_json(path, value)
    return value


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1, default=str))
    os.replace(tmp, path)


def collect_luts(cfg: DemoConfig, progress: Progress):
    """Stage 1: measure every candidate layer of the space on the host for each context and fit each
    LUT's boundary correction on ``cfg.calib_archs`` children spread over the space's sizes and
    MobileNetV3-Small at ``cfg.calib_widths`` (:func:`calibration_baselines`), measured whole among the
    blocks, in the collection's rounds (never scored). The fit includes the cache-spill term: at the
    demo's 32 px the MobileNetV3-Small calibration models (0.6-2 M weights) run up to 40% slower whole
    than their boundary-corrected entries say, a cost that grows with their weights (fresh-clone demo,
    2-core VM)."""
    import torch

    from latency.collect import collect
    from latency.correction import Correction
    from latency.export import OVERHEAD_KEY, ArtifactCache
    from latency.keys import keys_from_archs, keys_from_layers, resolve_lut
    from latency.lut import LUT
    from latency.meters import HostMeter
    from latency.store import LUTStore
    from latency.validate import validate
    from search.arch import decode_arch

    space = resolve_space(cfg)
    store = LUTStore(cfg.out / "lut")
    cache = ArtifactCache(cfg.out / "lut" / "artifacts")
    meter = HostMeter(threads=cfg.threads, rounds=cfg.meter_rounds)
    if cfg.timing is not None:
        meter.protocol = cfg.timing
    # the space's candidates, plus the baselines' layers so that every model of the report is predicted
    keys = keys_from_layers(space.candidate_layers())
    keys += keys_from_archs([decode_arch(a) for a in baseline_archs(cfg).values()])
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    calibration = [(f"calib{i}", a) for i, a in enumerate(calibration_archs(space, cfg.calib_archs, gen))]
    calibration += calibration_baselines(cfg)
    luts = {}
    for runtime, dtype in cfg.contexts:
        name = _label(runtime, dtype)
        rt, dt = resolve_lut(runtime, dtype)
        context = meter.context(rt, dt, cache.get(OVERHEAD_KEY, rt, dt))
        if calibration and Correction.load(store.root, context) is None:
            # every block and the calibration models in one session, the models among the blocks (as
            # benchmarks/lut_accuracy.py times them): fitted on blocks timed minutes before the models,
            # the correction took the VM's change of speed in between for a boundary cost (fresh-clone
            # demo at 8540a8f: the calibration models' own blocks, timed with them 4.5 min after the
            # others, read 1.4x; leave-one-out error 21%, baselines predicted 33-62% low)
            rep = validate(
                store,
                [],
                calibration,
                runtime,
                dtype,
                meter,
                cache,
                cfg.export_workers,
                on_progress=_phase_progress(progress, f"LUT {name}: "),
                fit_weights=True,
                keys=keys,
            ).collect_report
        else:
            rep = collect(
                store,
                keys,
                runtime,
                dtype,
                meter,
                cache,
                cfg.export_workers,
                on_progress=_layer_progress(progress, f"LUT {name}"),
            )
        if rep is None or rep.context is None:
            raise RuntimeError(f"LUT {name}: the collection reported no context")
        if rep.failed:
            first = rep.failed[0]
            raise RuntimeError(
                f"LUT {name}: {len(rep.failed)} layers failed, e.g. {first[0].label()}: {first[1]}"
            )
        log.info("LUT %s: %d measured, %d reused in %.0f s", name, rep.measured, rep.skipped, rep.elapsed_s)
        luts[(runtime, dtype)] = LUT.from_store(store, rep.context)
    store.compact()
    return store, cache, meter, luts


def _layer_progress(progress: Progress, prefix: str) -> Callable:
    return lambda p: progress.update(f"{prefix} ({p.phase})", p.done, p.total, p.key.label())


def _phase_progress(progress: Progress, prefix: str, suffix: str = "") -> Callable[[str, int, int], None]:
    def report(phase: str, done: int, total: int) -> None:
        progress.update(f"{prefix}{phase}{suffix}", done, total)

    return report


def latency_targets(cfg: DemoConfig, lut) -> list[float]:
    """Targets at quantiles of the predicted latency of random children of the space (seeded)."""
    import numpy as np
    import torch

    space = resolve_space(cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    preds = [lut.predict(space.sample_arch(gen)).latency_ms for _ in range(300)]
    return [round(float(np.quantile(preds, q)), 4) for q in cfg.target_quantiles]


def search_and_train(cfg: DemoConfig, lut, targets: list[float], progress: Progress) -> list[ModelRecord]:
    """Stages 2-3: one search per latency target (LUT cost), then train each derived model."""
    from latency.cost import LUTCost
    from search.arch import encode_arch
    from search.data import load_data
    from search.loop import SearchConfig, run_search
    from search.loss import SearchLoss

    space = resolve_space(cfg)
    bundle = load_data(cfg.data, size=max(space.resolutions), seed=cfg.seed)
    records = []
    for target in targets:
        name = f"searched@{target:g}ms"
        run_dir = cfg.out / "search" / f"target_{target:g}ms"

        def compute(target=target, run_dir=run_dir, name=name) -> dict:
            search_cfg = SearchConfig(
                epochs=cfg.search_epochs,
                loss=SearchLoss("target", target=target, lam=2.0, ref=1.0),
                seed=cfg.seed,
            )
            result = run_search(
                space,
                bundle,
                LUTCost(lut),
                search_cfg,
                run_dir / "checkpoint.pt",
                on_step=lambda s, t: progress.update(f"search {name}", s, t),
            )
            return {"arch": encode_arch(result.arch), "predicted_ms": result.cost, "rule": result.rule}

        found = _json_cache(run_dir / "result.json", compute)
        records.append(train_model(cfg, name, "searched", found["arch"], progress, target_ms=target))
    return records


def train_model(
    cfg: DemoConfig, name: str, kind: str, arch_text: str, progress: Progress, target_ms: float | None = None
) -> ModelRecord:
    """Train ``arch_text`` for ``cfg.train_epochs`` on the data at its resolution; cached per model."""
    from search.arch import decode_arch

    model_dir = cfg.out / "models" / name

    def compute() -> dict:
        import torch

        from search.data import load_data
        from search.loop import train_dense

        arch = decode_arch(arch_text)
        data = load_data(cfg.data, size=arch.input_hw, channels=arch.in_ch, seed=cfg.seed)
        res = train_dense(
            arch,
            data,
            cfg.train_epochs,
            cfg.seed,
            on_epoch=lambda e, _loss: progress.update(f"train {name}", e, cfg.train_epochs),
        )
        model_dir.mkdir(parents=True, exist_ok=True)
        torch.save(res.model.state_dict(), model_dir / "weights.pt")
        return {"arch": arch_text, "val_acc": res.val_acc, "test_acc": res.test_acc}

    got = _json_cache(model_dir / "train.json", compute)
    return ModelRecord(name, kind, got["arch"], got["val_acc"], got["test_acc"], target_ms)


def baseline_archs(cfg: DemoConfig) -> dict[str, str]:
    """MobileNetV3-Small width-scaled baselines at the space's largest resolution, as arch strings."""
    from search.arch import encode_arch
    from search.zoo import mobilenet_v3_small

    space = resolve_space(cfg)
    hw = max(space.resolutions)
    return {
        f"mbv3s_x{w:g}": encode_arch(mobilenet_v3_small(w, hw, space.num_classes, space.in_ch))
        for w in cfg.baseline_widths
    }


def calibration_archs(space: SearchSpace, n: int, generator) -> list[ArchSpec]:
    """``n`` children of ``space`` for the corrections' fit: spread over its weights
    (:func:`latency.validate.calibration_children`), the resolutions taken in turn along that order
    (highest first), so that every resolution gets light and heavy children. Drawn at random, the
    digits space's gave five at 24 px and one at 32 px, where the searched models are: the fitted
    boundary cost, mostly set by the 24-px ones, put the two searched 32-px models 7-12% low on
    ExecuTorch int8 while every 24-px child was within 2.5% (fresh-clone demo, 2026-12-03)."""
    from latency.validate import calibration_children

    res = sorted(space.resolutions, reverse=True)
    spread = calibration_children(space, n, generator)
    picked = [a.with_input_hw(res[i % len(res)]) for i, a in enumerate(reversed(spread))]
    return list(dict.fromkeys(picked))


def calibration_baselines(cfg: DemoConfig) -> list[tuple[str, ArchSpec]]:
    """MobileNetV3-Small at ``cfg.calib_widths`` (the baselines' resolution), for the correction's fit;
    a width whose arch coincides with a baseline's is left out (those are scored)."""
    from search.arch import encode_arch
    from search.zoo import mobilenet_v3_small

    space = resolve_space(cfg)
    scored = set(baseline_archs(cfg).values())
    out = []
    for w in cfg.calib_widths:
        arch = mobilenet_v3_small(w, max(space.resolutions), space.num_classes, space.in_ch)
        if encode_arch(arch) not in scored:
            out.append((f"calib_mbv3s_x{w:g}", arch))
    return out


def baselines(cfg: DemoConfig, progress: Progress) -> list[ModelRecord]:
    """Train the baselines with the same budget as the searched models."""
    return [train_model(cfg, name, "baseline", arch, progress) for name, arch in baseline_archs(cfg).items()]


def measure(cfg: DemoConfig, models: list[ModelRecord], luts, cache, meter, progress: Progress) -> None:
    """Stage 4: measure every model whole on the host per context and predict it from the LUT.

    The LUT's calibration models (never scored) are timed in the same session, interleaved with the
    models: their measured now / measured then is the device's speed now against the LUT's, read per model
    off the calibration models nearest it in weights (:func:`latency.validate.model_speed` with ``like``:
    heavy models can run slower than light ones in a later session), and each model's prediction and
    latency target is scaled by its speed. A model whose prediction misses its reading by more than
    ``cfg.recheck_pct`` (or a searched model measured more than ``cfg.target_recheck_pct`` from its latency
    target) is timed once more, with the calibration models, in a session of its own: the two
    readings (each at its session's speed) are averaged, and the console and report say so, and call the
    device unstable where they lie more than 10% apart. Medians are kept per (context, model name, arch)
    in OUT/measure/ with the speed of their session; only models not yet measured are measured."""
    from latency.keys import resolve_lut
    from latency.stats import summarize
    from latency.validate import measure_models, model_speed
    from search.arch import decode_arch

    for (runtime, dtype), lut in luts.items():
        label = _label(runtime, dtype)
        path = cfg.out / "measure" / f"{runtime}-{dtype}.json"
        done = json.loads(path.read_text()) if path.exists() else {}
        todo = [m for m in models if done.get(m.name, {}).get("arch") != m.arch]
        calib = [decode_arch(c.arch) for c in lut.correction.models]

        def session(
            these: list[ModelRecord], lut=lut, runtime=runtime, dtype=dtype, calib=calib, label=label
        ) -> list[dict]:
            """Time ``these`` with the calibration models in one session; one reading per model."""
            timings = measure_models(
                [decode_arch(m.arch) for m in these] + calib,
                *resolve_lut(runtime, dtype),
                meter,
                cache,
                cfg.export_workers,
                on_progress=_phase_progress(progress, "", f" {label}"),
                nominal_ms=lut.reference_ms,
            )
            own, cal = timings[: len(these)], timings[len(these) :]
            cal_ms = [summarize(s).median_ms for s in cal]
            return [
                {
                    "arch": m.arch,
                    "median_ms": summarize(s).median_ms,
                    "ref_ratio": s.drift.ref_ratio,
                    "remeasured": s.drift.remeasured,
                    "unstable": s.drift.unstable,
                    # the speed of models of its weight: heavy ones can run off the light ones' speed
                    "speed": model_speed(lut, calib, cal_ms, like=decode_arch(m.arch)).to_dict()
                    if calib
                    else None,
                }
                for m, s in zip(these, own, strict=True)
            ]

        if todo:
            done |= {m.name: reading for m, reading in zip(todo, session(todo), strict=True)}
            _write_json(path, done)
        # a miss is measured once more in a session of its own (with the calibration models, so at that
        # session's speed): one reading taken in a stretch where the device ran off the calibration
        # models' speed is then visible as two readings that disagree, and is averaged out
        # (only models measured in this call: a resumed run re-measures nothing); so is a searched model
        # that landed more than cfg.target_recheck_pct from its latency target in the search's context,
        # so that a target missed in a slow stretch shows as two readings that disagree
        why = {}
        for m in todo if lut.correction.models else []:
            off = _target_miss(m, done[m.name], lut) if label == _label(*cfg.contexts[0]) else None
            if cfg.recheck_pct > 0 and abs(_reading_error(lut, done[m.name])) > cfg.recheck_pct / 100:
                why[m.name] = "prediction"
            elif off is not None and cfg.target_recheck_pct > 0 and abs(off) > cfg.target_recheck_pct / 100:
                why[m.name] = "target"
        missed = [m for m in todo if m.name in why]
        if missed:
            for m, reading in zip(missed, session(missed), strict=True):
                done[m.name]["recheck"] = reading
                done[m.name]["recheck_why"] = why[m.name]
            _write_json(path, done)
        for m in models:
            got = done[m.name]
            again = got.get("recheck")
            # each reading at the speed of its session (averaged where the model was measured twice)
            readings = [got, again] if again else [got]
            m.measured_ms[label] = sum(float(r["median_ms"]) for r in readings) / len(readings)
            m.speed[label] = sum(_reading_speed(lut, r) for r in readings) / len(readings)
            if again:
                target = m if got.get("recheck_why") == "target" else None
                m.notes[label] = _recheck_note(lut, got, again, target)
                log.warning("%s %s: %s", m.name, label, m.notes[label])
            elif got.get("unstable"):
                m.notes[label] = (
                    "the device was unstable while it was measured (drift reference or CPU contention), "
                    f"even after {got.get('remeasured', 0)} re-measurements"
                )
                log.warning("%s %s: %s", m.name, label, m.notes[label])
            elif got.get("remeasured"):
                m.notes[label] = (
                    f"re-measured {got['remeasured']}x (the device was unstable or busy at first)"
                )
            pred = lut.predict(decode_arch(m.arch), ref_ratio=m.speed[label])
            m.predicted_ms[label] = pred.latency_ms
            if pred.extrapolated:
                log.warning("%s %s: LUT prediction %s", m.name, label, pred.extrapolated)
            if pred.on_cliff:
                said = f"prediction uncertain, {pred.on_cliff}"
                m.notes[label] = f"{m.notes[label]}; {said}" if label in m.notes else said
                log.warning("%s %s: %s", m.name, label, said)


def _reading_speed(lut, reading: dict) -> float:
    """The speed of the session a reading was taken in: read off the calibration models timed with it,
    else (no calibration) what the drift reference's ratio stands for (``lut.scale``)."""
    speed = reading.get("speed")
    return float(speed["ratio"]) if speed else lut.scale(float(reading.get("ref_ratio", 1.0)))


def _reading_error(lut, reading: dict) -> float:
    """LUT prediction at the reading's session speed / the reading - 1."""
    from search.arch import decode_arch

    pred = lut.predict(decode_arch(reading["arch"]), ref_ratio=_reading_speed(lut, reading)).latency_ms
    return pred / float(reading["median_ms"]) - 1.0


def _target_miss(m: ModelRecord, reading: dict, lut) -> float | None:
    """How far a reading of ``m`` landed from its latency target at that session's speed (None: no
    target)."""
    if m.target_ms is None:
        return None
    return float(reading["median_ms"]) / (m.target_ms * _reading_speed(lut, reading)) - 1.0


def _recheck_note(lut, first: dict, again: dict, searched: ModelRecord | None = None) -> str:
    """What the console and report say about a model measured twice because its first reading missed its
    prediction (or, for ``searched``, its latency target)."""
    ms = [float(r["median_ms"]) for r in (first, again)]
    sp = [_reading_speed(lut, r) for r in (first, again)]
    apart = (ms[0] / sp[0]) / (ms[1] / sp[1]) - 1.0  # in the LUT's units: each at its session's speed
    if searched is not None:
        off, err = _target_miss(searched, first, lut) or 0.0, _reading_error(lut, first)
        miss = f"landing {100 * off:+.0f}% from its target (prediction {100 * err:+.0f}%)"
    else:
        miss = f"a {100 * _reading_error(lut, first):+.0f}% miss"
    said = (
        f"re-measured after {miss}: {ms[0]:.4g} ms at "
        f"{sp[0]:.2f}x the LUT's speed, then {ms[1]:.4g} ms at {sp[1]:.2f}x (prediction "
        f"{100 * _reading_error(lut, again):+.0f}%); the two readings, averaged here, lie "
        f"{100 * abs(apart):.0f}% apart"
    )
    if abs(apart) > 0.10:
        return said + " - the device was unstable while it was measured"
    return said


def deploy_models(cfg: DemoConfig, models: list[ModelRecord], progress: Progress) -> pd.DataFrame:
    """Stage 5: int8 bundles for every target for the searched models, each artifact verified."""
    from deploy import Dtype
    from deploy.data import eval_data
    from deploy.pipeline import DeployRequest, deploy, load_model
    from search.arch import decode_arch

    rows = []
    searched = [m for m in models if m.kind == "searched"]
    for i, m in enumerate(searched):
        arch = decode_arch(m.arch)
        out_dir = cfg.out / "bundles" / m.name

        def compute(m=m, arch=arch, out_dir=out_dir, i=i) -> dict:
            model = load_model(arch, cfg.out / "models" / m.name / "weights.pt")
            request = DeployRequest(
                arch,
                cfg.deploy_targets,
                (Dtype.INT8,),
                out_dir,
                eval_data(cfg.data, arch),
                weights=f"phonenas demo, {cfg.train_epochs} epochs on {cfg.data}",
                device="host",
                threads=cfg.threads,
            )
            results = deploy(
                request, model, on_step=lambda s: progress.update(f"deploy {m.name}: {s}", i, len(searched))
            )
            return {
                "rows": [
                    {
                        "model": m.name,
                        "target": r.target,
                        "dtype": c.dtype.value,
                        "status": c.status,
                        "size_kb": round(r.size_bytes.get(c.dtype.value, 0) / 1024, 1),
                        "export_s": round(r.export_s.get(c.dtype.value, float("nan")), 2),
                        "host_ms": c.latency_ms,
                        "cosine": c.numerics.cosine if c.numerics else None,
                        "top1_agree": c.numerics.top1_agreement if c.numerics else None,
                        "acc_drop_pts": c.numerics.accuracy_drop_pts if c.numerics else None,
                        "note": (c.reason or "; ".join(c.warnings))[:140],
                        "bundle": str(r.path),
                    }
                    for r in results
                    for c in r.checks
                ]
            }

        rows += _json_cache(out_dir / "deploy.json", compute)["rows"]
    return pd.DataFrame(rows)


def block_table(models: list[ModelRecord], luts) -> pd.DataFrame:
    """Per-layer LUT latency of the searched models, per context (the heat map)."""
    from search.arch import decode_arch, profile_arch

    rows = []
    for m in (m for m in models if m.kind == "searched"):
        layers = profile_arch(decode_arch(m.arch)).layers
        for (runtime, dtype), lut in luts.items():
            for cost in lut.layer_costs(layers):
                rows.append(
                    {
                        "layer": f"{m.name} {cost.name} {cost.key.label()}"[:70],
                        "context": _label(runtime, dtype),
                        "latency_ms": cost.cost_ms,
                    }
                )
    return pd.DataFrame(rows)


def run_demo(cfg: DemoConfig, progress: Progress | None = None) -> DemoResult:
    """Run (or resume) the whole demo and write the report; returns everything the report shows."""
    from latency.progress import SilentProgress

    progress = progress or SilentProgress()
    cfg.out.mkdir(parents=True, exist_ok=True)
    stage_s: dict[str, float] = {}

    def timed(name: str, fn: Callable):
        progress.stage(name)
        t0 = time.perf_counter()
        value = fn()
        stage_s[name] = round(time.perf_counter() - t0, 1)
        return value

    _store, cache, meter, luts = timed("LUT", lambda: collect_luts(cfg, progress))
    search_lut = luts[cfg.contexts[0]]
    targets = latency_targets(cfg, search_lut)
    searched = timed("search + train", lambda: search_and_train(cfg, search_lut, targets, progress))
    base = timed("baselines", lambda: baselines(cfg, progress))
    models = searched + base
    timed("measure", lambda: measure(cfg, models, luts, cache, meter, progress))
    deploy_df = timed("deploy", lambda: deploy_models(cfg, models, progress))
    blocks = block_table(models, luts)
    html, md = timed(
        "report", lambda: write_report(_report_data(cfg, models, blocks, deploy_df, stage_s), cfg.out)
    )
    (cfg.out / "summary.json").write_text(
        json.dumps(
            {
                "config": {k: str(v) for k, v in asdict(cfg).items()},
                "stage_s": stage_s,
                "models": [asdict(m) for m in models],
            },
            indent=1,
        )
    )
    return DemoResult(cfg, models, blocks, deploy_df, stage_s, html, md)


def _not_runnable_here(targets: tuple[str, ...]) -> list[str]:
    """A note per deployed target whose runtime cannot execute on this system (from the descriptors)."""
    import platform

    system = platform.system()
    names = {"Darwin": "macOS"}
    notes = []
    for spec in dict.fromkeys(resolve(t) for t in targets):
        if not spec.runs_here(system):
            where = " or ".join(names.get(s, s) for s in spec.runs_on)
            notes.append(
                f"{spec.title} artifacts are converted and checked structurally here; "
                f"predicting or timing them needs {where}."
            )
    return notes


def _target_now(m: ModelRecord, label: str) -> float | None:
    """``m``'s latency target at the speed of the session it was measured in (targets are in the LUT's
    units; None: no target)."""
    if m.target_ms is None:
        return None
    return m.target_ms * m.speed.get(label, 1.0)


def _vs_target_pct(m: ModelRecord, label: str) -> float | None:
    """How far ``m`` measured from its target at that speed, in percent (None: no target)."""
    now = _target_now(m, label)
    return None if now is None else 100 * (m.measured_ms[label] / now - 1)


def _report_data(
    cfg: DemoConfig,
    models: list[ModelRecord],
    blocks: pd.DataFrame,
    deploy_df: pd.DataFrame,
    stage_s: dict[str, float],
) -> ReportData:
    pareto, prediction = [], []
    search_ctx = _label(*cfg.contexts[0])  # the targets are in its LUT's units
    for m in models:
        for label, ms in m.measured_ms.items():
            runtime, dtype = label.split(" ")
            pareto.append(
                {
                    "model": m.name,
                    "kind": m.kind,
                    "runtime": runtime,
                    "dtype": dtype,
                    "latency_ms": ms,
                    "accuracy": m.test_acc,
                    "target_ms": m.target_ms,
                    # the target at the speed the model was measured at, and how far it landed from it
                    "target_now_ms": _target_now(m, label) if label == search_ctx else None,
                    "vs_target_pct": _vs_target_pct(m, label) if label == search_ctx else None,
                    "arch": m.arch,
                }
            )
            prediction.append(
                {
                    "model": m.name,
                    "runtime": runtime,
                    "dtype": dtype,
                    "predicted_ms": m.predicted_ms[label],
                    "measured_ms": ms,
                    "speed": m.speed.get(label),
                    "note": m.notes.get(label, ""),
                }
            )
    notes = [
        f"Searched on the {search_ctx} LUT of this computer; latency targets are quantiles "
        f"{cfg.target_quantiles} of the space's predicted latency. Accuracy is test-split top-1 after "
        f"{cfg.train_epochs} epochs for every model (same budget for baselines).",
        "Predictions and targets are scaled by `speed`: the device's speed while the models were measured "
        "over its speed while the LUT was collected, read off the LUT's calibration models (never "
        "scored) timed with them - for each model, the two whose weights bracket its own (interpolated).",
        *_not_runnable_here(cfg.deploy_targets),
    ]
    summary = {
        "device": "host (this computer)",
        "space": resolve_space(cfg).name,
        "data": cfg.data,
        "contexts": ", ".join(_label(*c) for c in cfg.contexts),
        "stage times (s)": ", ".join(f"{k} {v}" for k, v in stage_s.items()),
    }
    return ReportData(
        "PhoneNAS demo report",
        pd.DataFrame(pareto),
        pd.DataFrame(prediction),
        blocks,
        deploy_df,
        summary,
        notes,
    )
