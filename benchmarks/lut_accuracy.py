"""LUT accuracy on the host: random digits-space archs + zoo models, predicted from blocks vs measured whole.

For each (runtime, dtype) context: collect the block entries the models need, measure every model
whole on the same runtime, fit the boundary correction on separate calibration archs, and report
nn-Meter's metrics (RMSE, RMSPE, % within +-5/10/15 %) for the plain sum, the sum corrected by the
measured call overhead, and the fitted correction (before/after). Core ML timing needs macOS and is
reported as skipped elsewhere.

    python -m benchmarks.lut_accuracy [--n 20 --calib 8 --zoo-hw 64 --work /tmp/phonenas-lut-bench]

Writes benchmarks/results/lut_accuracy.{json,md} (after each context, so partial runs keep results).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CONTEXTS = ("executorch:fp32", "executorch:int8", "litert:fp32", "litert:int8", "coreml:fp16")
PREDICTOR_LABEL = {
    "plain_sum": "plain sum of block entries",
    "call_overhead": "sum - measured call overhead per extra block",
    "fitted": "sum - fitted boundary correction",
    "fitted_spill": "fitted boundary correction + cache-spill hinge on the model's weights (`--fit-weights`)",
}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contexts", nargs="*", default=list(CONTEXTS), help="runtime:dtype pairs")
    ap.add_argument("--space", default="digits")
    ap.add_argument("--n", type=int, default=20, help="random validation archs")
    ap.add_argument("--calib", type=int, default=8, help="random calibration archs (fit only)")
    ap.add_argument("--zoo-hw", type=int, default=64, help="input resolution of the zoo models (0 = no zoo)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--export-workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument(
        "--work", type=Path, default=Path("/tmp/phonenas-lut-bench"), help="store + artifact cache"
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "lut_accuracy")
    ap.add_argument("--append", action="store_true", help="keep the contexts already in the output JSON")
    ap.add_argument("--statistic", default="median_ms", help="median_ms | trimmed_mean_ms | p10_ms | min_ms")
    ap.add_argument("--zoo-calib", nargs="*", default=[], help="zoo models used for calibration, not scored")
    ap.add_argument("--fit-weights", action="store_true", help="also fit the cold-weight term")
    args = ap.parse_args(argv)

    from latency.export import ArtifactCache, toolchain_versions
    from latency.keys import DType, Runtime
    from latency.meters import HostMeter, RuntimeUnavailable, check_runtime_on_host
    from latency.store import LUTStore
    from latency.validate import sample_validation_archs, validate

    val, cal = sample_validation_archs(
        args.space, args.n, args.calib, args.seed, args.zoo_hw > 0, args.zoo_hw or 32, args.zoo_calib
    )
    store, cache = LUTStore(args.work / "lut"), ArtifactCache(args.work / "artifacts")
    out: dict = {
        "benchmark": "lut_accuracy",
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "toolchain": toolchain_versions(),
        "space": args.space,
        "n_random": args.n,
        "n_calibration": args.calib,
        "zoo_hw": args.zoo_hw,
        "seed": args.seed,
        "threads": args.threads,
        "target": ">= 95% of models within +-10% (nn-Meter 99.0%, LitePred 99.3% on phone CPUs)",
        "statistic": args.statistic,
        "zoo_calibration": args.zoo_calib,
        "fit_weights": args.fit_weights,
        "contexts": [],
    }
    previous = args.out.with_suffix(".json")
    if args.append and previous.exists():
        kept = json.loads(previous.read_text())["contexts"]
        out["contexts"] = [c for c in kept if f"{c['runtime']}:{c['dtype']}" not in args.contexts]
    for spec in args.contexts:
        rt_name, dt_name = spec.split(":")
        runtime, dtype = Runtime(rt_name), DType(dt_name)
        entry: dict = {
            "runtime": runtime.value,
            "dtype": dtype.value,
            "n_random": args.n,
            "zoo_hw": args.zoo_hw,
        }
        t0 = time.time()
        try:
            check_runtime_on_host(runtime)
            res = validate(
                store,
                val,
                cal,
                runtime,
                dtype,
                HostMeter(args.threads),
                cache,
                args.export_workers,
                on_progress=_printer(spec),
                statistic=args.statistic,
                fit_weights=args.fit_weights,
            )
            entry.update(res.to_dict())
            entry["metrics_random"] = {
                p: _asdict(res.metrics(p, names=lambda n: n.startswith("rand"))) for p in res.predictors
            }
            if args.zoo_hw:
                entry["metrics_zoo"] = {
                    p: _asdict(res.metrics(p, names=lambda n: not n.startswith("rand")))
                    for p in res.predictors
                }
            rep = res.collect_report
            entry["collect"] = (
                {
                    "measured": rep.measured,
                    "skipped": rep.skipped,
                    "failed": len(rep.failed),
                    "export_s": rep.export_s,
                    "measure_s": rep.measure_s,
                }
                if rep
                else {}
            )
            entry["status"] = "ok"
        except RuntimeUnavailable as e:
            entry.update(status="skipped", reason=str(e))
        except Exception as e:  # noqa: BLE001 - record and go on with the other contexts
            entry.update(status="error", reason=f"{type(e).__name__}: {e}")
        entry["elapsed_s"] = round(time.time() - t0, 1)
        entry["load_avg_after"] = os.getloadavg()
        out["contexts"].append(entry)
        _write(out, args.out)
        print(f"{spec}: {entry['status']} in {entry['elapsed_s']} s", flush=True)
    return out


def _validation_set(c: dict) -> str:
    val = [m for m in c["models"] if m["role"] == "validation"]
    rand = sum(m["name"].startswith("rand") for m in val)
    zoo = [m for m in val if not m["name"].startswith("rand")]
    hw = ""
    if zoo:
        hw = " @" + zoo[0]["arch"].split(":")[0].lstrip("r")
    stat = c.get("statistic", "median_ms").removesuffix("_ms")
    return f"{rand} random" + (f" + {len(zoo)} zoo{hw}" if zoo else "") + f"; {stat}"


def _asdict(m) -> dict:
    from dataclasses import asdict

    return asdict(m)


def _printer(spec: str):
    last: dict[str, float] = {}

    def cb(phase: str, done: int, total: int) -> None:
        now = time.time()
        if done == total or now - last.get(phase, 0) > 15:
            last[phase] = now
            print(f"  {spec} {phase}: {done}/{total}", flush=True)

    return cb


def _write(out: dict, stem: Path) -> None:
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(out, indent=1))
    stem.with_suffix(".md").write_text(render_md(out))


def render_md(out: dict) -> str:
    lines = [
        "# LUT accuracy on the host",
        "",
        f"Host `{out['host']}` ({out['platform']}, {out['cpus']} CPUs), threads={out['threads']}. "
        f"Validation: random `{out['space']}` archs (+ zoo models at {out['zoo_hw']}x{out['zoo_hw']} where listed); "
        f"{out['n_calibration']} other random archs fit the boundary correction (calibration only, not scored). "
        "`n` per context below.",
        f"Target: {out['target']}.",
        "",
        "Each model: predicted = LUT sum over its layers, measured = the whole model exported through the same "
        "deploy target and timed with the same protocol (median). Predictors:",
        "",
    ]
    lines += [f"- `{k}`: {v}" for k, v in PREDICTOR_LABEL.items()]
    lines += [
        "",
        "| runtime | dtype | validation set | predictor | n | RMSE ms | RMSPE % | within 5% | within 10% | within 15% |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in out["contexts"]:
        if c["status"] != "ok":
            lines.append(
                f"| {c['runtime']} | {c['dtype']} | {c['status']}: {c.get('reason', '')[:150]} | | | | | | | |"
            )
            continue
        for p, m in c["metrics"].items():
            lines.append(
                f"| {c['runtime']} | {c['dtype']} | {_validation_set(c)} | {p} | {m['n']} | {m['rmse_ms']:.4f} | "
                f"{m['rmspe_pct']:.1f} | {m['within_5_pct']:.0f}% | **{m['within_10_pct']:.0f}%** | "
                f"{m['within_15_pct']:.0f}% |"
            )
    lines += ["", "## Fitted corrections and split by model family", ""]
    for c in out["contexts"]:
        if c["status"] != "ok":
            continue
        corr = c["correction"]
        best = c.get("predictors", ["fitted"])[-1]
        lines.append(
            f"- {c['runtime']} {c['dtype']} ({c['context']['runtime_version']}): call {corr['call_ms']:.4f} ms, "
            f"boundary {corr['io_ms_per_melem']:.3f} ms per million elements, "
            f"cache spill {corr.get('weight_ms_per_mparam', 0.0):.4f} ms per million weights above "
            f"{corr.get('free_mparams', 0.0):.2f} M ({corr['method']}; "
            f"calibration: {', '.join(m['name'] for m in c['models'] if m['role'] == 'calibration')}); "
            f"{best} within 10%: random {c['metrics_random'][best]['within_10_pct']:.0f}%"
            + (f", zoo {c['metrics_zoo'][best]['within_10_pct']:.0f}%" if "metrics_zoo" in c else "")
            + f"; load average after: {', '.join(f'{x:.1f}' for x in c['load_avg_after'])}"
        )
    lines += [
        "",
        "## Per model (validation)",
        "",
        "| runtime | dtype | model | measured ms | plain sum | call overhead | fitted | fitted + spill "
        "| error (last) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in out["contexts"]:
        if c["status"] != "ok":
            continue
        best = c.get("predictors", ["fitted"])[-1]
        for m in c["models"]:
            if m["role"] != "validation":
                continue
            p = m["predicted_ms"]
            err = 100 * (p[best] / m["measured_ms"] - 1)
            spill = f"{p['fitted_spill']:.4f}" if "fitted_spill" in p else ""
            lines.append(
                f"| {c['runtime']} | {c['dtype']} | {m['name']} | {m['measured_ms']:.4f} | "
                f"{p['plain_sum']:.4f} | {p['call_overhead']:.4f} | {p['fitted']:.4f} | {spill} | {err:+.1f}% |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
