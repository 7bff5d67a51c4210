"""Where a whole model's time differs from the sum of its layers timed alone, layer by layer (ExecuTorch).

For each model (default: the five ``benchmarks/mobile_archs.py`` architectures, FBNetV2-F1..F4,
MobileNetV3-Small/Large and four random ``fbnetv2-f`` children - the real-scale validation models of
``benchmarks/lut_accuracy.py``) it runs ``phonenas lut explain --json`` against one run's store: the
whole model and each of its layer blocks are timed in ONE ``phonenas-runner --profile`` process, the
model's ETDump operator times split into layers. Per model it reports

- ``whole / alone_now``: the model's median over the sum of its blocks timed alone in that process
  (no drift between the two: the model-context effect alone);
- ``whole / lut_sum``: the same model over the sum of the run's LUT entries (what the LUT starts from);
- the prediction's error against the model measured now;
- the in-model minus alone-now time of its layers summed by weight bucket (< 0.1 M, 0.1-0.5 M, >= 0.5 M
  weights) and per million weights of the heavy bucket: a layer that runs slower inside the model than
  alone pays for its weights coming from further away (cache spill), one that runs faster saves the
  boundary (layout copies, the call) it pays alone.

No new LUT entries are measured and nothing in the store changes; the blocks' artifacts come from the
run's export cache. Nothing else should run meanwhile (it times).

    PYTHONPATH=. python -m benchmarks.inmodel_gap --store /tmp/phonenas-lut-acc/run28-*/real/executorch-fp32 \
        --cache /tmp/phonenas-lut-acc/artifacts --dtype fp32 --run 28

Writes ``benchmarks/results/inmodel_gap.{json,md}`` (one entry per run and dtype; re-running replaces it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.lut_accuracy import real_set

RESULTS = Path(__file__).parent / "results"
DEFAULT_MODELS = (
    "mobilenet_v2@96",
    "mnasnet_a1@128",
    "mnasnet_b1@160",
    "efficientnet_b0_hs@192",
    "proxylessnas_mobile@224",
    "fbnetv2_f1",
    "fbnetv2_f2",
    "fbnetv2_f3",
    "fbnetv2_f4",
    "mobilenetv3_small@224",
    "mobilenetv3_large@224",
    "rand0@128",
    "rand1@160",
    "rand2@192",
    "rand3@224",
)
BUCKETS = ((0.0, 0.1, "lt0.1M"), (0.1, 0.5, "0.1-0.5M"), (0.5, float("inf"), "ge0.5M"))


def phonenas_cli() -> list[str]:
    """The ``phonenas`` command of this interpreter's environment."""
    exe = Path(sys.executable).with_name("phonenas")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("phonenas")
    if found is None:
        raise SystemExit("the phonenas command is not installed: pip install -e . first")
    return [found]


def explain(arch: str, args: argparse.Namespace) -> dict:
    cmd = [*phonenas_cli(), "lut", "explain", arch, "--device", "host", "--store", str(args.store)]
    cmd += ["--dtype", args.dtype, "--runs", str(args.runs), "--json"]
    if args.cache is not None:
        cmd += ["--cache", str(args.cache)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "400"})
    if done.returncode != 0:
        raise SystemExit(
            f"phonenas lut explain failed for {arch}: {(done.stderr or done.stdout).strip()[-500:]}"
        )
    return json.loads(done.stdout)


def summarize(name: str, arch, data: dict) -> dict:
    """One model's row: ratios, the prediction's error now and the in-model gap by weight bucket."""
    from search.arch import LayerKind
    from search.arch.shapes import profile_arch

    layers = profile_arch(arch).layers
    rows = data["layers"]
    if len(rows) != len(layers):
        raise SystemExit(f"{name}: explain returned {len(rows)} layers, the arch has {len(layers)}")
    gap = {b: 0.0 for _, _, b in BUCKETS}
    weights = {b: 0.0 for _, _, b in BUCKETS}
    for la, r in zip(layers, rows, strict=True):
        if la.kind is LayerKind.SKIP or r["alone_now_ms"] is None:
            continue
        w = la.params / 1e6
        bucket = next(b for lo, hi, b in BUCKETS if lo <= w < hi)
        gap[bucket] += r["in_model_ms"] - r["alone_now_ms"]
        weights[bucket] += w
    whole, now, lut = data["measured_median_ms"], data["plain_sum_now_ms"], data["plain_sum_ms"]
    return {
        "name": name,
        "mparams": sum(la.params for la in layers) / 1e6,
        "measured_ms": whole,
        "predicted_ms": data["predicted_ms"],
        "error_now_pct": 100.0 * (data["predicted_ms"] / whole - 1.0),
        "plain_sum_now_ms": now,
        "lut_sum_ms": lut,
        "whole_over_alone_now": whole / now,
        "whole_over_lut_sum": whole / lut,
        "outside_xnnpack_ms": data["outside_xnnpack_ms"],
        "gap_ms": gap,
        "gap_mparams": weights,
        "heavy_gap_ms_per_mparam": gap["ge0.5M"] / weights["ge0.5M"] if weights["ge0.5M"] > 0 else None,
        "layers": [
            {
                "layer": r["layer"],
                "mparams": la.params / 1e6,
                **{k: r[k] for k in ("lut_entry_ms", "alone_now_ms", "in_model_ms")},
            }
            for la, r in zip(layers, rows, strict=True)
        ],
    }


def render_md(entries: list[dict]) -> str:
    lines = [
        "# Whole model vs its layers timed alone, per layer (ExecuTorch, ETDump)",
        "",
        "`python -m benchmarks.inmodel_gap` - see its docstring. `whole/alone`: the model's median over the "
        "sum of its layer blocks timed alone in the same runner process; `whole/LUT`: over the run's LUT "
        "entries; `error now`: the run's prediction against the model timed now; `gap`: in-model minus "
        "alone time summed over the layers of < 0.1 M, 0.1-0.5 M and >= 0.5 M weights; `per M`: the heavy "
        "bucket's gap per million weights.",
    ]
    for e in entries:
        lines += [
            "",
            f"## run {e['run']}, ExecuTorch {e['dtype']} ({e['commit']}, {e['cpu']}, {e['finished']}; "
            f"1-min load {e['load_avg_start'][0]:.2f} before, {e['load_avg_end'][0]:.2f} after; "
            f"{e['runs']} runs per file)",
            "",
            "| model | M weights | whole ms | whole/alone | whole/LUT | error now | gap <0.1M | gap 0.1-0.5M "
            "| gap >=0.5M | per M |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for m in e["models"]:
            g = m["gap_ms"]
            per = m["heavy_gap_ms_per_mparam"]
            lines.append(
                f"| {m['name']} | {m['mparams']:.2f} | {m['measured_ms']:.3f} | "
                f"{m['whole_over_alone_now']:.3f} | "
                f"{m['whole_over_lut_sum']:.3f} | {m['error_now_pct']:+.1f}% | {g['lt0.1M']:+.3f} | "
                f"{g['0.1-0.5M']:+.3f} | {g['ge0.5M']:+.3f} | {'-' if per is None else f'{per:+.3f}'} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True, help="a run's real/executorch-<dtype> store")
    ap.add_argument(
        "--cache", type=Path, default=None, help="the run's export cache (default: STORE/artifacts)"
    )
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "int8"])
    ap.add_argument("--run", type=int, required=True, help="the lut_accuracy run the store belongs to")
    ap.add_argument("--seed", type=int, default=0, help="the run's seed (its random children)")
    ap.add_argument("--models", nargs="*", default=list(DEFAULT_MODELS))
    ap.add_argument("--runs", type=int, default=30, help="timed runs per file (phonenas lut explain --runs)")
    ap.add_argument("--out", type=Path, default=RESULTS / "inmodel_gap")
    args = ap.parse_args(argv)
    if not args.store.is_dir():
        raise SystemExit(f"{args.store} is not a directory; pass a run's real/executorch-<dtype> store")
    from benchmarks.lut_accuracy import _commit
    from latency.meters import host_cpu_model

    val = dict(real_set(20, 8, args.seed)[0])
    unknown = [m for m in args.models if m not in val]
    if unknown:
        raise SystemExit(f"unknown models {unknown}; choose from the real validation set: {sorted(val)}")
    from search.arch.codec import encode_arch

    entry = {
        "run": args.run,
        "dtype": args.dtype,
        "store": str(args.store),
        "commit": _commit(),
        "cpu": host_cpu_model(),
        "host": platform.node(),
        "runs": args.runs,
        "load_avg_start": os.getloadavg(),
        "models": [],
    }
    for name in args.models:
        data = explain(encode_arch(val[name]), args)
        entry["models"].append(summarize(name, val[name], data))
        m = entry["models"][-1]
        print(
            f"{name}: whole {m['measured_ms']:.3f} ms, whole/alone {m['whole_over_alone_now']:.3f}, "
            f"error now {m['error_now_pct']:+.1f}%",
            flush=True,
        )
    entry["load_avg_end"] = os.getloadavg()
    entry["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    path = args.out.with_suffix(".json")
    old = json.loads(path.read_text())["entries"] if path.exists() else []
    entries = [e for e in old if (e["run"], e["dtype"]) != (args.run, args.dtype)] + [entry]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": "inmodel_gap", "entries": entries}, indent=1))
    args.out.with_suffix(".md").write_text(render_md(entries))
    return entry


if __name__ == "__main__":
    main()
