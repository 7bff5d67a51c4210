"""Searched models at three latency targets vs MobileNetV3-Small width-scaled baselines, on the host.

1. Collect (or resume) a host LUT for every candidate layer of the ``digits`` space: ExecuTorch
   XNNPACK, fp32, one thread, timed with :class:`latency.meters.HostMeter`.
2. Three targets spread over the LUT-predicted latency range of the space; one search each with the
   ``target`` loss (LUT-backed :class:`latency.cost.LUTCost`).
3. Every model - the three searched ones and MobileNetV3-Small at widths 0.25/0.35/0.5/0.75 (32x32,
   10 classes) - is trained from scratch with the SAME budget (:func:`search.loop.train_dense`, same
   epochs, same data, same seeds) and exported whole to ExecuTorch; its latency is MEASURED on the host
   (two passes in opposite order, mean of the medians), never predicted.
4. Writes the Pareto table (``benchmarks/results/search_pareto.{json,md}``) and a PNG plot, with a
   dominance check: every baseline must be matched or beaten in both accuracy and latency by some
   searched model.

Run: ``python -m benchmarks.search_pareto [--search-epochs 10 --train-epochs 15 --seeds 0,1]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from latency.collect import collect
from latency.cost import LUTCost
from latency.export import ArtifactCache, model_artifact
from latency.keys import DType, Runtime, keys_from_layers
from latency.lut import LUT
from latency.meters import HostMeter
from latency.store import LUTStore
from search.arch import ArchSpec, decode_arch, encode_arch, profile_arch
from search.data import load_data
from search.loop import SearchConfig, run_search, train_dense
from search.loss import SearchLoss
from search.space import get_space
from search.zoo import mobilenet_v3_small

RESULTS = Path(__file__).resolve().parent / "results"
BASELINE_WIDTHS = (0.25, 0.35, 0.5, 0.75)
TARGET_QUANTILES = (0.2, 0.5, 0.8)


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def collect_lut(store_dir: Path, runtime: Runtime, dtype: DType, threads: int) -> LUT:
    space = get_space("digits")
    store = LUTStore(store_dir)
    meter = HostMeter(threads=threads)
    cache = ArtifactCache(store_dir / "artifacts")
    keys = keys_from_layers(space.candidate_layers())
    rep = collect(store, keys, runtime, dtype, meter, cache, export_workers=2)
    assert rep.context is not None
    _log(f"LUT: {rep.measured} measured, {rep.skipped} already stored, {len(rep.failed)} failed")
    if rep.failed:
        raise RuntimeError(f"LUT collection failed for {len(rep.failed)} layers, e.g. {rep.failed[0]}")
    return LUT.from_store(store, rep.context)


def targets_from_lut(cost: LUTCost, n: int = 400, seed: int = 0) -> list[float]:
    space = get_space("digits")
    gen = torch.Generator().manual_seed(seed)
    costs = sorted(
        sum(cost.layer_costs(profile_arch(space.sample_arch(gen)).layers)) + cost.model_overhead()
        for _ in range(n)
    )
    return [costs[int(q * (n - 1))] for q in TARGET_QUANTILES]


def measure_ms(
    archs: dict[str, ArchSpec], cache: ArtifactCache, runtime: Runtime, dtype: DType, threads: int
) -> dict[str, float]:
    """Whole-model host latency: two passes in opposite order, mean of the two medians."""
    meter = HostMeter(threads=threads)
    paths = {name: model_artifact(cache, a, runtime, dtype) for name, a in archs.items()}
    meds: dict[str, list[float]] = {name: [] for name in archs}
    for order in (list(archs), list(reversed(list(archs)))):
        for name in order:
            a = archs[name]
            samples = meter.measure(paths[name], (a.in_ch, a.input_hw, a.input_hw), runtime)
            meds[name].append(statistics.median(samples))
    return {name: statistics.fmean(v) for name, v in meds.items()}


def _search_job(args: tuple) -> tuple:
    """One search in a worker process (1 torch thread); the LUT is re-read from the store."""
    i, target, store_dir, epochs = args
    torch.set_num_threads(1)
    store = LUTStore(store_dir)
    ctx = next(
        c
        for c in store.contexts()
        if c.device_id == "host" and c.target.name == "executorch" and c.dtype is DType.FP32
    )
    cost = LUTCost(LUT.from_store(store, ctx))
    ts = time.perf_counter()
    cfg = SearchConfig(epochs=epochs, loss=SearchLoss("target", target=target), seed=0)
    r = run_search(
        get_space("digits"),
        load_data("digits", size=32, seed=0),
        cost,
        cfg,
        checkpoint=Path(store_dir) / f"search_t{i}_e{epochs}.pt",
    )
    return i, encode_arch(r.arch), r.cost, r.rule, time.perf_counter() - ts


def _train_job(args: tuple) -> tuple:
    name, arch_text, seed, epochs = args
    torch.set_num_threads(1)
    arch = decode_arch(arch_text)
    data = load_data("digits", size=arch.input_hw, seed=0)
    return name, seed, train_dense(arch, data, epochs, seed).test_acc


def dominated_by(b: dict, searched: list[dict]) -> str | None:
    for s in searched:
        if s["latency_ms"] <= b["latency_ms"] and s["test_acc"] >= b["test_acc"]:
            return s["name"]
    return None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", type=Path, default=Path("runs/pareto_lut"), help="LUT store (resumable).")
    p.add_argument("--search-epochs", type=int, default=8)
    p.add_argument("--train-epochs", type=int, default=15)
    p.add_argument("--seeds", default="0,1", help="Training seeds (accuracy is their mean).")
    p.add_argument("--threads", type=int, default=1, help="Runtime threads when timing.")
    p.add_argument("--workers", type=int, default=3, help="Processes for the searches and trainings.")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(2)
    runtime, dtype = Runtime("executorch"), DType.FP32
    t0 = time.perf_counter()

    lut = collect_lut(args.store, runtime, dtype, args.threads)
    cost = LUTCost(lut)
    targets = targets_from_lut(cost)
    _log(f"targets (LUT ms, quantiles {TARGET_QUANTILES}): {[round(t, 4) for t in targets]}")

    import multiprocessing as mp

    pool = mp.get_context("spawn").Pool(args.workers)
    models: dict[str, dict] = {}
    jobs = [(i, t, str(args.store), args.search_epochs) for i, t in enumerate(targets)]
    for i, arch_text, predicted, rule, search_s in pool.imap_unordered(_search_job, jobs):
        models[f"searched@{targets[i]:.4f}ms"] = {
            "kind": "searched",
            "arch": decode_arch(arch_text),
            "target_ms": targets[i],
            "predicted_ms": predicted,
            "rule": rule,
            "search_s": search_s,
            "order": i,
        }
        _log(f"search {i}: {arch_text} predicted {predicted:.4f} ms ({rule}, {search_s:.0f}s)")
    models = dict(sorted(models.items(), key=lambda kv: kv[1]["order"]))
    for w in BASELINE_WIDTHS:
        arch = mobilenet_v3_small(width=w, input_hw=32, num_classes=10)
        try:  # LUT prediction for reference only (its layers are interpolated); latency below is measured
            predicted = lut.predict(arch, interpolate=True).latency_ms
        except (KeyError, ValueError):
            predicted = None
        models[f"mobilenetv3_small_x{w}"] = {
            "kind": "baseline",
            "arch": arch,
            "target_ms": None,
            "predicted_ms": predicted,
        }
    accs: dict[str, list[float]] = {name: [] for name in models}
    train_jobs = [
        (name, encode_arch(m["arch"]), seed, args.train_epochs)
        for seed in seeds
        for name, m in models.items()
    ]
    for name, seed, acc in pool.imap_unordered(_train_job, train_jobs):
        accs[name].append(acc)
        _log(f"trained {name} seed {seed}: test acc {acc:.4f}")
    pool.close()
    pool.join()
    for name, m in models.items():
        m["test_acc"] = statistics.fmean(accs[name])
        m["test_acc_std"] = statistics.stdev(accs[name]) if len(accs[name]) > 1 else 0.0
    lat = measure_ms(
        {n: m["arch"] for n, m in models.items()},
        ArtifactCache(args.store / "artifacts"),
        runtime,
        dtype,
        args.threads,
    )
    rows = []
    for name, m in models.items():
        prof = profile_arch(m["arch"])
        rows.append(
            {
                "name": name,
                "kind": m["kind"],
                "arch": encode_arch(m["arch"]),
                "input_hw": m["arch"].input_hw,
                "macs_m": prof.macs / 1e6,
                "params_m": prof.params / 1e6,
                "latency_ms": lat[name],
                "predicted_ms": m["predicted_ms"],
                "target_ms": m["target_ms"],
                "measured_vs_target": (lat[name] / m["target_ms"] - 1) if m["target_ms"] else None,
                "test_acc": m["test_acc"],
                "test_acc_std": m["test_acc_std"],
                "rule": m.get("rule"),
                "search_s": m.get("search_s"),
            }
        )
    searched = [r for r in rows if r["kind"] == "searched"]
    for r in rows:
        if r["kind"] == "baseline":
            r["dominated_by"] = dominated_by(r, searched)
    payload = {
        "setup": {
            "device": "host",
            "runtime": f"executorch-xnnpack {lut.context.runtime_version}",
            "dtype": "fp32",
            "threads": args.threads,
            "lut_context": lut.context.label(),
            "lut_correction": lut.correction.method,
            "lut_entries": len(lut),
            "search_epochs": args.search_epochs,
            "workers": args.workers,
            "train_epochs": args.train_epochs,
            "seeds": seeds,
            "data": "sklearn digits 8x8 -> 32x32 (train+arch splits for training, test split for accuracy)",
            "machine": platform.machine(),
            "torch": torch.__version__,
        },
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
    lines = [
        "# Searched models vs MobileNetV3-Small width-scaled (host, measured)",
        "",
        f"Latency: whole model exported to ExecuTorch XNNPACK ({s['dtype']}, {s['threads']} thread) and timed on "
        f"this host (mean of two pass medians). LUT: {s['lut_entries']} entries, {s['lut_context']}, "
        f"correction: {s.get('lut_correction', 'n/a')}. "
        f"Accuracy: test split of {s['data']}; every model trained from scratch for {s['train_epochs']} epochs, "
        f"mean over seeds {s['seeds']}. Searches: {s['search_epochs']} epochs each, target loss.",
        "",
        "| model | kind | input | MMACs | params (M) | target ms | LUT ms | measured ms | vs target | test acc |"
        " dominated by |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in sorted(payload["rows"], key=lambda r: r["latency_ms"]):
        tgt = f"{r['target_ms']:.3f}" if r["target_ms"] else ""
        vs = f"{100 * r['measured_vs_target']:+.1f}%" if r["measured_vs_target"] is not None else ""
        pred = f"{r['predicted_ms']:.3f}" if r["predicted_ms"] is not None else "n/a"
        lines.append(
            f"| {r['name']} | {r['kind']} | {r['input_hw']} | {r['macs_m']:.2f} | {r['params_m']:.3f} | {tgt} | "
            f"{pred} | {r['latency_ms']:.3f} | {vs} | {100 * r['test_acc']:.2f} ± "
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
                name.replace("mobilenetv3_small_", "").replace("searched@", "@"),
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
