"""`phonenas demo` budget: wall time per stage of a fresh demo run with the default settings.

Target (issue: demo): the whole flow (LUT -> search at two targets -> train -> measure -> deploy ->
report) in under 15 minutes on 2 CPU cores.

    python -m benchmarks.demo_budget [--out /tmp/phonenas-demo-bench]

Runs the README's main job as a user does - the installed ``phonenas demo --out OUT`` in a subprocess,
into a fresh OUT - and reads the stage times, models and deploy checks back from what the demo wrote
(``OUT/summary.json``, ``OUT/bundles/*/deploy.json``). The console the user saw is kept: its line
count and any line that looks like another library's output (absl/glog prefixes, ``.cc:``/``.cpp:``
sources, Python warnings, progress bars of other tools) are recorded, so "the console is quiet" is a
measured claim too.

Writes benchmarks/results/demo_budget.{json,md}: stage times, total, load average before/after, the
model table (accuracy, measured and LUT-predicted latency per runtime) and the console check.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

# another library's output on the console: glog/absl prefixes (W1202 01:14:34.05 ...), C++ sources,
# Python warnings, tqdm-style bars, coremltools' MIL pipeline bars
NOISE = re.compile(
    r"^[WIEF]\d{4} \d\d:\d\d|\.(cc|cpp|h):\d+|Warning:|warnings\.warn"
    r"|\d+it/s|it/s\]|\d+%\||Running MIL|_pytree|absl"
)


def phonenas_command() -> list[str]:
    """The installed ``phonenas`` script next to this interpreter (what the README runs)."""
    script = Path(sys.executable).with_name("phonenas")
    return (
        [str(script)]
        if script.is_file()
        else [sys.executable, "-c", "from phonenas.cli.main import run; run()"]
    )


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

    shutil.rmtree(args.out, ignore_errors=True)  # a fresh run: nothing cached
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    env = {**os.environ, "COLUMNS": "100"}
    run = subprocess.run(
        [*phonenas_command(), "demo", "--out", str(args.out)], capture_output=True, text=True, env=env
    )
    total_s = time.perf_counter() - t0
    console = run.stdout + run.stderr
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "console.txt").write_text(console)
    if run.returncode != 0:
        raise SystemExit(f"phonenas demo failed (exit {run.returncode}):\n{console[-3000:]}")
    summary = json.loads((args.out / "summary.json").read_text())
    models = [
        {k: m[k] for k in ("name", "kind", "arch", "test_acc", "target_ms", "measured_ms", "predicted_ms")}
        for m in summary["models"]
    ]
    deploy_rows = [
        row
        for f in sorted((args.out / "bundles").glob("*/deploy.json"))
        for row in json.loads(f.read_text())["rows"]
    ]
    status: dict[str, int] = {}
    for row in deploy_rows:
        status[row["status"]] = status.get(row["status"], 0) + 1
    noise = [ln for ln in console.splitlines() if NOISE.search(ln)]
    out = {
        "total_s": round(total_s, 1),
        "total_min": round(total_s / 60, 2),
        "budget_s": BUDGET_S,
        "within_budget": total_s <= BUDGET_S,
        "stage_s": summary["stage_s"],
        "cpus": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "deploy_status": status,
        "deploy_fail": int(status.get("fail", 0)),
        "machine": platform_summary(),
        "models": models,
        "command": "phonenas demo --out OUT (installed script, subprocess, fresh OUT)",
        "console_lines": len(console.splitlines()),
        "console_noise_lines": len(noise),
        "console_noise_sample": noise[:10],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "demo_budget.json").write_text(json.dumps(out, indent=1))
    labels = sorted({k for m in models for k in m["measured_ms"]})
    lines = [
        "# `phonenas demo` budget (fresh run, default settings)\n",
        f"Total **{total_s / 60:.1f} min** (target < {BUDGET_S // 60} min: "
        f"{'met' if out['within_budget'] else 'MISSED'}) on {os.cpu_count()} CPUs; load average before "
        f"{out['load_avg_before']}, after {out['load_avg_after']} (other jobs raise it).\n",
        "| stage | seconds |",
        "| --- | ---: |",
        *[f"| {k} | {v} |" for k, v in summary["stage_s"].items()],
        "",
        "| model | kind | test acc % | target ms | "
        + " | ".join(f"{lab} measured (LUT) ms" for lab in labels)
        + " |",
        "|" + "---|" * (4 + len(labels)),
    ]
    for m in models:
        cells = [f"{m['measured_ms'][lab]:.4f} ({m['predicted_ms'][lab]:.4f})" for lab in labels]
        target = f"{m['target_ms']:g}" if m["target_ms"] else ""
        lines.append(
            f"| {m['name']} | {m['kind']} | {100 * m['test_acc']:.1f} | {target} | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        f"Deploy checks: {out['deploy_status']} (Core ML is 'unavailable': prediction needs macOS).",
        "",
        f"Console (`{out['command']}`): {out['console_lines']} lines, "
        f"{out['console_noise_lines']} from other libraries"
        + ("." if not noise else ":\n\n```\n" + "\n".join(noise[:10]) + "\n```"),
    ]
    (RESULTS / "demo_budget.md").write_text("\n".join(lines) + "\n")
    return out


if __name__ == "__main__":
    main()
