"""A full-space LUT in minutes: measured designed sample + learned block model + boundary correction.

Per (runtime, dtype) context, into a new store: first the boundary correction, fitted on ``--calib``
children spread over the space's weights and resolutions plus ``--light`` narrowed ones, measured whole
with their layers (the calibration recipe of ``benchmarks/lut_accuracy.py``'s real scale); then
:func:`latency.active.learn_block_latency` over every candidate layer of ``--space`` (designed sample,
then the most uncertain layers, until the held-out error stops improving or the next batch would end
past what is left of ``--budget-min`` after the calibration and ``--margin-min``; predictions stored
for the rest). The calibration goes first because its cost is known only once paid (its exports take
1.6x longer for int8 than for fp32, and twice as long on a machine twice as slow): the loop then spends
what is left, so the context holds its budget on any machine. The calibration models' layers are
candidates too, so the loop trains on them. The wall time covers all of it. Afterwards (not timed):

- ``--heldout`` random candidates the model predicted are measured (``--heldout-rounds`` interleaved
  rounds, 3 by default: they are the truth) for an independent held-out block RMSPE;
- whole models predicted from the LUT as the search sees it (measured layers where there are, learned
  ones elsewhere): ``--whole`` random children of the space over its resolutions and the zoo models
  that are space members (FBNetV2-F1..F4 in ``fbnetv2-f``), none a calibration model, predicted before
  anything of theirs is timed, then timed whole (``--heldout-rounds`` rounds, drift reference on) -
  the end-to-end check of the learned entries: ``whole_within10_pct``, ``whole_rmspe_pct``, with the
  share of their layers that were learned, not measured (``whole_learned_layers_pct``).

Each context records the commit and the CPU it ran on.

    python -m benchmarks.lut_scale --space fbnetv2-f --budget-min 30 --work /tmp/phonenas-lut-scale

Writes ``--out`` .json/.md (default benchmarks/results/lut_scale) with the machine, the settings and the
load average; a smoke run (another space, a small budget) says so in its settings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CONTEXTS = ("executorch:fp32", "executorch:int8", "litert:fp32")
# the integer settings: (flag, default, help)
COUNTS = (
    ("--initial", 300, "designed sample size"),
    ("--batch", 60, "layers measured per active step"),
    ("--calib", 8, "children spread over the space, timed whole for the correction"),
    ("--light", 3, "narrowed children timed whole for the correction"),
    ("--whole", 8, "random children predicted from the finished LUT, then timed whole (not timed; 0: none)"),
    ("--heldout", 40, "predicted layers measured afterwards (not timed)"),
    ("--rounds", 1, "interleaved timing rounds"),
    (
        "--heldout-rounds",
        3,
        "interleaved timing rounds for the held-out layers and whole models (not timed): their readings "
        "are the truth the predictions are scored against, so they get more rounds than the sample",
    ),
)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="fbnetv2-f")
    ap.add_argument("--contexts", nargs="*", default=list(CONTEXTS))
    ap.add_argument("--budget-min", type=float, default=30.0, help="wall budget per context (target <= 30)")
    ap.add_argument(
        "--margin-min",
        type=float,
        default=1.5,
        help="of the budget kept after the active loop for the final fit and the stored predictions",
    )
    for flag, default, what in COUNTS:
        ap.add_argument(flag, type=int, default=default, help=what)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--export-workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/phonenas-lut-scale"))
    ap.add_argument("--out", type=Path, default=RESULTS / "lut_scale")
    ap.add_argument(
        "--append",
        action="store_true",
        help="keep the other contexts already in --out (a context measured again on the same CPU replaces "
        "its entry; one measured on another CPU is kept beside it); each entry keeps its own settings, "
        "load, time, host and CPU",
    )
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.heldout_rounds < 1:
        raise SystemExit("--rounds and --heldout-rounds must be >= 1")
    if min(args.calib, args.light, args.whole, args.heldout) < 0:
        raise SystemExit("--calib, --light, --whole and --heldout must be >= 0")

    from benchmarks.lut_accuracy import _commit
    from latency.export import toolchain_versions
    from latency.meters import host_cpu_label

    commit, cpu = _commit(), host_cpu_label()  # read once, before the long run

    out: dict = {
        "benchmark": "lut_scale",
        "space": args.space,
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "toolchain": toolchain_versions(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "target": "full LUT per context (measured sample + predictor + correction) in <= 30 min wall",
        "load_avg_start": os.getloadavg(),
        "contexts": [],
    }
    root = args.work / time.strftime("%Y%m%d-%H%M%S")
    kept: list[dict] = []
    previous = args.out.with_suffix(".json")
    if args.append and previous.is_file():
        old = json.loads(previous.read_text())
        if old.get("space") != args.space:
            raise SystemExit(f"--append: {previous} is for space {old.get('space')!r}, not {args.space!r}")
        kept = [
            {"settings": old.get("settings"), "load_avg_start": old.get("load_avg_start"), **c}
            for c in old.get("contexts", [])
        ]
    fresh: list[dict] = []
    for spec in args.contexts:
        load_start = os.getloadavg()  # this context's, not the benchmark's (the previous context's tail)
        entry = run_context(spec, root, args)
        entry |= {
            "settings": out["settings"],
            "load_avg_start": load_start,
            "commit": commit,
            "cpu": cpu,
            "host": out["host"],
        }
        entry["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        fresh.append(entry)
        out["contexts"] = merge_contexts(kept, fresh)
        out["load_avg_end"] = os.getloadavg()
        _write(out, args.out)
        print(f"{spec}: {entry}", flush=True)
    return out


def run_context(spec: str, root: Path, args) -> dict:
    import numpy as np

    from latency.active import learn_block_latency
    from latency.block_model import rmspe_pct
    from latency.collect import collect
    from latency.export import ArtifactCache
    from latency.keys import keys_from_layers, resolve_lut
    from latency.lut import LUT
    from latency.meters import HostMeter
    from latency.store import LUTStore
    from latency.validate import validate
    from search.space import get_space

    runtime, dtype = resolve_lut(spec.split(":")[0], spec.split(":")[1])
    space = get_space(args.space)
    store = LUTStore(root / f"{runtime}-{dtype.value}")
    cache = ArtifactCache(root / "artifacts")
    meter = HostMeter(args.threads, rounds=args.rounds)
    t0 = time.perf_counter()
    keys = keys_from_layers(space.candidate_layers())
    whole, calibration = whole_and_calibration(space, args)
    if calibration:  # first: its cost is known only once paid, and the loop spends what is left
        validate(store, [], calibration, runtime, dtype, meter, cache, args.export_workers, fit_weights=True)
    calibration_s = time.perf_counter() - t0
    budget_s = 60 * (args.budget_min - args.margin_min) - calibration_s
    rep = learn_block_latency(
        store,
        keys,
        runtime,
        dtype,
        meter,
        cache,
        budget_s=max(0.0, budget_s),
        initial=args.initial,
        batch=args.batch,
        export_workers=args.export_workers,
        seed=args.seed,
    )
    assert rep.context is not None
    wall_min = (time.perf_counter() - t0) / 60
    lut = LUT.from_store(store, rep.context)
    entry: dict = {
        "runtime": str(rep.context.runtime),
        "dtype": dtype.value,
        "wall_min": round(wall_min, 2),
        "calibration_min": round(calibration_s / 60, 2),
        "loop_min": round(rep.elapsed_s / 60, 2),
        "measured": sum(k in lut.entries for k in keys),
        "predicted": sum(k in lut.predicted for k in keys),
        "model": rep.model,
        "model_version": rep.model_version,
        "cv_heldout_rmspe_pct": rep.heldout_rmspe_pct,
        "model_scores_pct": rep.scores,
        "stop": rep.stop,
        "heldout_block_rmspe_pct": None,
    }
    predicted = sorted(lut.predicted)
    if args.heldout and predicted:
        rng = np.random.default_rng(args.seed + 2)
        check = [predicted[int(i)] for i in rng.permutation(len(predicted))[: args.heldout]]
        truth = HostMeter(args.threads, rounds=args.heldout_rounds)
        collect(store, check, runtime, dtype, truth, cache, args.export_workers)
        after = LUT.from_store(store, rep.context, predicted=False)
        got = [k for k in check if k in after.entries]
        entry["heldout_block_rmspe_pct"] = rmspe_pct(
            np.array([lut.predicted[k] for k in got]), np.array([after.entries[k] for k in got])
        )
        entry["heldout_n"] = len(got)
        entry["heldout_rounds"] = args.heldout_rounds
    if whole:
        entry |= whole_check(lut, whole, runtime, dtype, cache, args)
    entry["load_avg_after"] = os.getloadavg()
    return entry


def whole_and_calibration(space, args) -> tuple[list, list]:
    """(whole-model check, calibration) lists of (name, ArchSpec): ``benchmarks.lut_accuracy.space_set``
    over the space's resolutions, the zoo's space members added to the check."""
    from benchmarks.lut_accuracy import space_set
    from search.zoo import ZOO, get_arch

    if not (args.whole or args.calib or args.light):
        return [], []
    members = [(name, a) for name in ZOO if space.contains(a := get_arch(name))]
    val, cal = space_set(space.name, args.whole, args.calib, args.seed + 1, args.light, members)
    return (val if args.whole else []), cal


def whole_check(lut, models: list, runtime: str, dtype, cache, args) -> dict:
    """Predict ``models`` from ``lut`` (before any of their layers is timed), then time them whole.

    Timed through ``latency.validate.measure_models`` with the drift reference against the LUT's
    nominal reading, each predicted at the device's speed of its own measurement (``lut.scale``), as
    ``benchmarks/lut_accuracy.py`` scores its models. A model with a layer the LUT has no value for
    (measured or learned) is not scored and is listed under ``whole_skipped``."""
    from dataclasses import replace

    from latency.meters import HostMeter
    from latency.stats import summarize
    from latency.validate import accuracy_metrics, measure_models
    from search.arch import profile_arch

    scored, skipped = [], []
    for name, arch in models:
        (skipped if lut.missing(profile_arch(arch).layers) else scored).append((name, arch))
    preds = [lut.predict(a) for _, a in scored]
    timings = measure_models(
        [a for _, a in scored],
        runtime,
        dtype,
        HostMeter(args.threads, rounds=args.heldout_rounds),
        cache,
        args.export_workers,
        nominal_ms=lut.reference_ms,
    )
    rows, predicted, measured = [], [], []
    learned = total = 0
    for (name, arch), pred, t in zip(scored, preds, timings, strict=True):
        # at the device's speed of the model's own measurement (the drift reference's reading)
        p = replace(pred, ref_ratio=lut.scale(t.drift.ref_ratio))
        ms = float(summarize(t).median_ms)
        predicted.append(p.latency_ms)
        measured.append(ms)
        counts = p.counts
        n_layers = sum(v for k, v in counts.items() if k != "identity")
        learned += counts.get("predicted", 0)
        total += n_layers
        rows.append(
            {
                "name": name,
                "input_hw": arch.input_hw,
                "mparams": round(p.mparams, 3),
                "layers": n_layers,
                "learned_layers": counts.get("predicted", 0),
                "predicted_ms": round(p.latency_ms, 6),
                "measured_ms": round(ms, 6),
                "err_pct": round(100.0 * (p.latency_ms / ms - 1.0), 2),
                "ref_ratio": round(t.drift.ref_ratio, 4),
                "remeasured": t.drift.remeasured,
                "unstable": t.drift.unstable,
                "extrapolated": p.extrapolated,
            }
        )
    metrics = accuracy_metrics(predicted, measured) if rows else None
    return {
        "whole_n": len(rows),
        "whole_within10_pct": round(metrics.within_10_pct, 1) if metrics else None,
        "whole_rmspe_pct": round(metrics.rmspe_pct, 2) if metrics else None,
        "whole_learned_layers_pct": round(100.0 * learned / total, 1) if total else None,
        "whole_models": rows,
        "whole_skipped": [name for name, _ in skipped],
    }


def _load(avg) -> str:
    return f"{avg[0]:.1f}" if avg else "?"


def merge_contexts(kept: list[dict], fresh: list[dict]) -> list[dict]:
    """``kept`` (from an earlier results file) and ``fresh`` entries: a fresh one replaces a kept one of the
    same runtime, dtype and CPU; a kept one from another CPU stays (one file, each machine's figures)."""
    done = {_context_key(c) for c in fresh}
    return [c for c in kept if _context_key(c) not in done] + fresh


def _phases(c: dict) -> str:
    if c.get("calibration_min") is None:
        return "-"
    return f"{c['calibration_min']} + {c['loop_min']}"


def _context_key(c: dict) -> tuple[str, str, str | None]:
    return c["runtime"], c["dtype"], c.get("cpu")


def _write(out: dict, stem: Path) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(out, indent=1))
    s = out["settings"]
    lines = [
        f"# Full-space LUT: `{out['space']}`",
        "",
        f"Host `{out['host']}` ({out['platform']}, {out['cpus']} CPUs) for the latest run; each row names "
        "its CPU; "
        f"budget {s['budget_min']} min per context, "
        f"designed sample {s['initial']}, active batch {s['batch']}, {s['calib']} calibration "
        "models, "
        f"rounds {s['rounds']}. Target: {out['target']}. Load: the 1-minute load average when each "
        "context started and ended.",
        "",
        "`calib + loop`: minutes of the wall spent on the calibration models, then on the active loop "
        "(from the commit after e567d17 the calibration goes first and the loop gets what is left; "
        "before, the loop had 80% of the budget and the calibration came after it: `-`).",
        "",
        "| runtime | dtype | wall min | calib + loop | measured | predicted | model "
        "| held-out block RMSPE % (n) "
        "| CV RMSPE % | whole models within 10% (n) | whole RMSPE % | learned layers % | stop "
        "| load start-end | CPU | commit | finished |",
        "| --- " * 17 + "|",
    ]
    for c in out["contexts"]:
        held = c["heldout_block_rmspe_pct"]
        held_s = f"{held:.1f} ({c.get('heldout_n', 0)})" if held is not None else "-"
        cv = c["cv_heldout_rmspe_pct"]
        lines.append(
            f"| {c['runtime']} | {c['dtype']} | {c['wall_min']} | {_phases(c)} | {c['measured']} "
            f"| {c['predicted']} "
            f"| {c['model']} | "
            f"{held_s} | {cv[-1] if cv else float('nan'):.1f} | {_whole(c)} | {c['stop']} | "
            f"{_load(c.get('load_avg_start', out['load_avg_start']))}-{_load(c.get('load_avg_after'))} "
            f"| {c.get('cpu') or 'not recorded'} | {c.get('commit') or 'not recorded'} "
            f"| {c.get('finished', '')} |"
        )
    detail = [c for c in out["contexts"] if c.get("whole_models")]
    if detail:
        lines += [
            "",
            "Whole models predicted from the finished LUT (learned layers where none was measured) before "
            "anything of theirs was timed, then timed whole; none is a calibration model.",
            "",
            "| runtime | dtype | model | px | M weights | learned / layers | predicted ms | measured ms "
            "| error % | ref ratio | re-measured |",
            "| --- " * 11 + "|",
        ]
        for c in detail:
            for m in c["whole_models"]:
                lines.append(
                    f"| {c['runtime']} | {c['dtype']} | {m['name']} | {m['input_hw']} | {m['mparams']} "
                    f"| {m['learned_layers']} / {m['layers']} | {m['predicted_ms']} | {m['measured_ms']} "
                    f"| {m['err_pct']:+.1f} | {m['ref_ratio']} | {m['remeasured']} |"
                )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


def _whole(c: dict) -> str:
    """The whole-model columns of a context (dashes where it ran without the check)."""
    if c.get("whole_within10_pct") is None:
        return "- | - | -"
    pct, n, rmspe = c["whole_within10_pct"], c["whole_n"], c["whole_rmspe_pct"]
    return f"{pct} ({n}) | {rmspe} | {c['whole_learned_layers_pct']}"


if __name__ == "__main__":
    main()
