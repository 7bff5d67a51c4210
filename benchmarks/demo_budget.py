"""`phonenas demo` budget: wall time per stage of a fresh demo run with the default settings.

Target (issue: demo): the whole flow (LUT -> search at two targets -> train -> measure -> deploy ->
report) in under 15 minutes on 2 CPU cores.

    python -m benchmarks.demo_budget [--out /tmp/phonenas-demo-bench]

Writes benchmarks/results/demo_budget.{json,md}: stage times, total, load average before/after, and
the model table (accuracy, measured and LUT-predicted latency per runtime).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path


def platform_summary() -> str:
    """CPU model and count, so a result says which machine it came from."""
    from latency.meters import host_cpu_model

    return f"{host_cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


RESULTS = Path(__file__).resolve().parent / "results"
BUDGET_S = 15 * 60


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/phonenas-demo-bench"))
    args = ap.parse_args(argv)

    from phonenas.pipeline import DemoConfig, run_demo

    shutil.rmtree(args.out, ignore_errors=True)  # a fresh run: nothing cached
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    result = run_demo(DemoConfig(out=args.out))
    total_s = time.perf_counter() - t0
    models = [
        {
            "model": m.name,
            "kind": m.kind,
            "arch": m.arch,
            "test_acc": m.test_acc,
            "target_ms": m.target_ms,
            "measured_ms": m.measured_ms,
            "predicted_ms": m.predicted_ms,
        }
        for m in result.models
    ]
    status = result.deploy["status"].value_counts().to_dict()
    out = {
        "total_s": round(total_s, 1),
        "total_min": round(total_s / 60, 2),
        "budget_s": BUDGET_S,
        "within_budget": total_s <= BUDGET_S,
        "stage_s": result.stage_s,
        "cpus": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "deploy_status": status,
        "deploy_fail": int(status.get("fail", 0)),
        "machine": platform_summary(),
        "models": models,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "demo_budget.json").write_text(json.dumps(out, indent=1))
    labels = sorted({k for m in result.models for k in m.measured_ms})
    lines = [
        "# `phonenas demo` budget (fresh run, default settings)\n",
        f"Total **{total_s / 60:.1f} min** (target < {BUDGET_S // 60} min: "
        f"{'met' if out['within_budget'] else 'MISSED'}) on {os.cpu_count()} CPUs; load average before "
        f"{out['load_avg_before']}, after {out['load_avg_after']} (other jobs raise it).\n",
        "| stage | seconds |",
        "| --- | ---: |",
        *[f"| {k} | {v} |" for k, v in result.stage_s.items()],
        "",
        "| model | kind | test acc % | target ms | "
        + " | ".join(f"{lab} measured (LUT) ms" for lab in labels)
        + " |",
        "|" + "---|" * (4 + len(labels)),
    ]
    for m in result.models:
        cells = [f"{m.measured_ms[lab]:.4f} ({m.predicted_ms[lab]:.4f})" for lab in labels]
        target = f"{m.target_ms:g}" if m.target_ms else ""
        lines.append(
            f"| {m.name} | {m.kind} | {100 * m.test_acc:.1f} | {target} | " + " | ".join(cells) + " |"
        )
    lines += [
        "",
        f"Deploy checks: {out['deploy_status']} (Core ML is 'unavailable': prediction needs macOS).",
    ]
    (RESULTS / "demo_budget.md").write_text("\n".join(lines) + "\n")
    return out


if __name__ == "__main__":
    main()
