"""Searched models at three latency targets vs MobileNetV3-Small width-scaled baselines, on the host.

A driver of the library: it runs the stages of ``phonenas demo`` (:mod:`phonenas.pipeline`) with the
benchmark's settings instead of re-implementing them, so the Pareto numbers come from the code users run.

1. :func:`phonenas.pipeline.collect_luts`: a host LUT (resumable) for every candidate layer of the
   ``digits`` space plus the baselines' layers - ExecuTorch XNNPACK, fp32, one thread - and its boundary
   correction fitted on ``--calib-archs`` random children measured whole.
2. :func:`phonenas.pipeline.latency_targets`: three targets at quantiles of the space's LUT-predicted
   latency; :func:`phonenas.pipeline.search_and_train`: one search each (``target`` loss, LUT cost), then
   the derived model is trained.
3. :func:`phonenas.pipeline.baselines`: MobileNetV3-Small at widths 0.25/0.35/0.5/0.75 (32x32, 10 classes)
   trained with the SAME budget (same epochs, data and seeds); with more ``--seeds`` every model is also
   trained with each extra seed (:func:`phonenas.pipeline.train_model`) and accuracy is the mean.
4. :func:`phonenas.pipeline.measure`: every model exported whole and its latency MEASURED on the host
   with :func:`latency.validate.measure_models` (interleaved rounds, lowest median kept - the LUT
   validation protocol), never predicted; the LUT prediction is reported next to it.
5. Writes the Pareto table (``benchmarks/results/search_pareto.{json,md}``) and a PNG plot, with a
   dominance check: every baseline must be matched or beaten in both accuracy and latency by some
   searched model. The machine's load average is recorded at the start and after every stage.

Everything is cached under ``--work`` (a killed run resumes). Run:
``python -m benchmarks.search_pareto [--search-epochs 8 --train-epochs 15 --seeds 0,1]``; the smaller
setting used under load: ``--search-epochs 4 --train-epochs 8 --seeds 0``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from latency.progress import SilentProgress
from phonenas import pipeline
from phonenas.pipeline import DemoConfig, ModelRecord
from search.arch import decode_arch, profile_arch

RESULTS = Path(__file__).resolve().parent / "results"
BASELINE_WIDTHS = (0.25, 0.35, 0.5, 0.75)
TARGET_QUANTILES = (0.2, 0.5, 0.8)
CONTEXT = ("executorch", "fp32")
LABEL = "executorch fp32"


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class _PrintProgress(SilentProgress):
    """Prints each stage and each finished task (the demo renders the same callbacks with rich)."""

    def stage(self, name: str) -> None:
        _log(f"== {name} (load average {_load()})")

    def update(self, task: str, done: int, total: int, info: str = "") -> None:
        if done == total:
            _log(f"{task}: {done}/{total} {info}")


def dominated_by(b: dict, searched: list[dict]) -> str | None:
    for s in searched:
        if s["latency_ms"] <= b["latency_ms"] and s["test_acc"] >= b["test_acc"]:
            return s["name"]
    return None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("runs/search_pareto"), help="Cache (resumable).")
    p.add_argument("--search-epochs", type=int, default=8)
    p.add_argument("--train-epochs", type=int, default=15)
    p.add_argument("--seeds", default="0,1", help="Training seeds (accuracy is their mean).")
    p.add_argument("--calib-archs", type=int, default=6, help="Random children fitting the LUT correction.")
    p.add_argument("--threads", type=int, default=1, help="Runtime threads when timing.")
    p.add_argument("--export-workers", type=int, default=2, help="Processes exporting blocks and models.")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--torch-threads", type=int, default=2, help="torch threads for search and training.")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(args.torch_threads)
    t0 = time.perf_counter()
    load = {"start": _load()}
    stage_s: dict[str, float] = {}
    progress = _PrintProgress()

    def timed(name: str, fn):
        progress.stage(name)
        ts = time.perf_counter()
        value = fn()
        stage_s[name] = round(time.perf_counter() - ts, 1)
        load[name] = _load()
        return value

    cfg = DemoConfig(
        out=args.work,
        space="digits",
        contexts=(CONTEXT,),
        target_quantiles=TARGET_QUANTILES,
        calib_archs=args.calib_archs,
        search_epochs=args.search_epochs,
        train_epochs=args.train_epochs,
        baseline_widths=BASELINE_WIDTHS,
        threads=args.threads,
        export_workers=args.export_workers,
        seed=seeds[0],
    )
    _store, cache, meter, luts = timed("LUT", lambda: pipeline.collect_luts(cfg, progress))
    lut = luts[CONTEXT]
    targets = pipeline.latency_targets(cfg, lut)
    _log(f"targets (LUT ms, quantiles {TARGET_QUANTILES}): {targets}")
    searched = timed("search + train", lambda: pipeline.search_and_train(cfg, lut, targets, progress))
    base = timed("baselines", lambda: pipeline.baselines(cfg, progress))
    models: list[ModelRecord] = searched + base
    accs = {m.name: [m.test_acc] for m in models}

    def more_seeds() -> None:
        for seed in seeds[1:]:
            cfg_s = replace(cfg, out=args.work / f"seed{seed}", seed=seed)
            for m in models:
                accs[m.name].append(pipeline.train_model(cfg_s, m.name, m.kind, m.arch, progress).test_acc)

    timed("more seeds", more_seeds)
    timed("measure", lambda: pipeline.measure(cfg, models, luts, cache, meter, progress))

    rows = []
    for m in models:
        arch = decode_arch(m.arch)
        prof = profile_arch(arch)
        found = {}
        if m.kind == "searched":  # the search stage's cached result: the pick rule
            found = json.loads(
                (args.work / "search" / f"target_{m.target_ms:g}ms" / "result.json").read_text()
            )
        measured = m.measured_ms[LABEL]
        rows.append(
            {
                "name": m.name,
                "kind": m.kind,
                "arch": m.arch,
                "input_hw": arch.input_hw,
                "macs_m": prof.macs / 1e6,
                "params_m": prof.params / 1e6,
                "latency_ms": measured,
                "predicted_ms": m.predicted_ms[LABEL],
                "target_ms": m.target_ms,
                "measured_vs_target": (measured / m.target_ms - 1) if m.target_ms else None,
                "test_acc": statistics.fmean(accs[m.name]),
                "test_acc_std": statistics.stdev(accs[m.name]) if len(accs[m.name]) > 1 else 0.0,
                "rule": found.get("rule"),
            }
        )
    searched_rows = [r for r in rows if r["kind"] == "searched"]
    for r in rows:
        if r["kind"] == "baseline":
            r["dominated_by"] = dominated_by(r, searched_rows)
    payload = {
        "setup": {
            "device": "host",
            "runtime": f"executorch-xnnpack {lut.context.runtime_version}",
            "dtype": CONTEXT[1],
            "threads": args.threads,
            "lut_context": lut.context.label(),
            "lut_correction": lut.correction.method if lut.correction else None,
            "lut_entries": len(lut),
            "calib_archs": args.calib_archs,
            "search_epochs": args.search_epochs,
            "train_epochs": args.train_epochs,
            "seeds": seeds,
            "data": "sklearn digits 8x8 -> 32x32 (train+arch splits for training, test split for accuracy)",
            "latency_protocol": (
                "latency.validate.measure_models (whole model, interleaved rounds, lowest median)"
            ),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
            "torch": torch.__version__,
            "command": " ".join(["python -m benchmarks.search_pareto", *sys.argv[1:]]),
            "nice": os.nice(0),
        },
        "load_average": load,  # (1, 5, 15 min) at the start and after each stage
        "stage_s": stage_s,
        "targets_ms": targets,
        "rows": rows,
        "all_baselines_dominated": all(r.get("dominated_by") for r in rows if r["kind"] == "baseline"),
        "elapsed_s": time.perf_counter() - t0,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search_pareto.json").write_text(json.dumps(payload, indent=1) + "\n")
    write_markdown(payload, args.out / "search_pareto.md")
    plot(rows, args.out / "search_pareto.png")
    _log(
        f"done in {payload['elapsed_s']:.0f}s; all baselines dominated: {payload['all_baselines_dominated']}"
    )


def write_markdown(payload: dict, path: Path) -> None:
    s = payload["setup"]
    loads = payload["load_average"]
    lines = [
        "# Searched models vs MobileNetV3-Small width-scaled (host, measured)",
        "",
        f"Produced by `{s['command']}`"
        + (f" under `nice -n {s['nice']}`" if s.get("nice") else "")
        + f" on {s['machine']}: the stages of `phonenas demo` (phonenas.pipeline) with this benchmark's "
        "settings. "
        f"Latency: whole model exported to ExecuTorch XNNPACK ({s['dtype']}, {s['threads']} thread) and "
        f"timed on this host with {s['latency_protocol']}. "
        f"LUT: {s['lut_entries']} entries, {s['lut_context']}, "
        f"correction: {s.get('lut_correction') or 'n/a'}. "
        f"Accuracy: test split of {s['data']}; every model trained from scratch for {s['train_epochs']} "
        f"epochs, mean over seeds {s['seeds']}. Searches: {s['search_epochs']} epochs each, target loss.",
        "",
        "Load average (1/5/15 min) of this 2-core machine, shared with other jobs, at the start and after "
        "each stage: "
        + "; ".join(f"{k} {v[0]}/{v[1]}/{v[2]}" for k, v in loads.items())
        + (
            ". Absolute latencies are inflated and noisy under that load; the models are measured "
            "interleaved in one run, so compare them with each other."
            if max(v[0] for v in loads.values()) > 1.5
            else "."
        ),
        "",
        "Stage times (s): " + ", ".join(f"{k} {v}" for k, v in payload["stage_s"].items()),
        "",
        "| model | kind | input | MMACs | params (M) | target ms | LUT ms | measured ms | vs target "
        "| test acc | dominated by |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in sorted(payload["rows"], key=lambda r: r["latency_ms"]):
        tgt = f"{r['target_ms']:.3f}" if r["target_ms"] else ""
        vs = f"{100 * r['measured_vs_target']:+.1f}%" if r["measured_vs_target"] is not None else ""
        pred = f"{r['predicted_ms']:.3f}" if r["predicted_ms"] is not None else "n/a"
        lines.append(
            f"| {r['name']} | {r['kind']} | {r['input_hw']} | {r['macs_m']:.2f} | {r['params_m']:.3f} "
            f"| {tgt} | {pred} | {r['latency_ms']:.3f} | {vs} | {100 * r['test_acc']:.2f} ± "
            f"{100 * r['test_acc_std']:.2f} | {r.get('dominated_by') or ''} |"
        )
    lines += [
        "",
        f"All baselines dominated: **{payload['all_baselines_dominated']}**",
        "",
        "Searched archs:",
        "",
    ]
    lines += [f"- {r['name']}: `{r['arch']}`" for r in payload["rows"] if r["kind"] == "searched"]
    path.write_text("\n".join(lines) + "\n")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for kind, marker, color in (("searched", "o", "tab:red"), ("baseline", "s", "tab:blue")):
        pts = sorted((r["latency_ms"], 100 * r["test_acc"], r["name"]) for r in rows if r["kind"] == kind)
        label = "searched (LUT target)" if kind == "searched" else "MobileNetV3-Small x width"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, color=color, label=label)
        for x, y, name in pts:
            ax.annotate(
                name.replace("mbv3s_", "").replace("searched@", "@"),
                (x, y),
                fontsize=7,
                textcoords="offset points",
                xytext=(3, -9),
            )
    ax.set_xlabel("measured latency on host, ExecuTorch XNNPACK fp32 (ms)")
    ax.set_ylabel("test accuracy, digits (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=130)


if __name__ == "__main__":
    main()
