"""LUT collection throughput on the host: blocks per minute, export vs timing share, cache reuse.

Collects the same digits-space keys for one context several ways, each into a fresh store:

* ``cold, export in-process``   exports in this process, then timing (``--export-workers 0``)
* ``cold, N export workers``    exports in N processes first, then timing with the machine quiet
* ``warm cache``                artifacts already exported (a re-collect for a new store / device)

    python -m benchmarks.lut_throughput [--keys 16 --runtime executorch --dtype int8]

Writes benchmarks/results/lut_throughput.{json,md}. Timings on a shared 2-core machine are noisy;
the load average is recorded with each row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=16)
    ap.add_argument("--space", default="digits")
    ap.add_argument("--contexts", nargs="*", default=["executorch:int8", "litert:fp32"])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/phonenas-lut-throughput"))
    ap.add_argument("--out", type=Path, default=RESULTS / "lut_throughput")
    args = ap.parse_args(argv)

    from latency.collect import collect
    from latency.export import ArtifactCache, toolchain_versions
    from latency.keys import keys_from_layers
    from latency.meters import HostMeter
    from latency.store import LUTStore
    from search.space import get_space

    keys = keys_from_layers(get_space(args.space).candidate_layers())
    step = max(1, len(keys) // args.keys)
    keys = keys[::step][: args.keys]  # spread over stages / resolutions
    rows = []
    for spec in args.contexts:
        runtime, dtype = spec.split(":")
        shutil.rmtree(args.work, ignore_errors=True)
        for mode, workers, fresh_cache in (
            ("cold, export in-process", 0, True),
            (f"cold, {args.workers} export workers", args.workers, True),
            ("warm cache", 0, False),
        ):
            if fresh_cache:
                shutil.rmtree(args.work / "artifacts", ignore_errors=True)
            shutil.rmtree(args.work / "lut", ignore_errors=True)
            t0 = time.perf_counter()
            rep = collect(
                LUTStore(args.work / "lut"),
                keys,
                runtime,
                dtype,
                HostMeter(),
                ArtifactCache(args.work / "artifacts"),
                export_workers=workers,
            )
            wall = time.perf_counter() - t0
            row = {
                "context": spec,
                "mode": mode,
                "keys": len(keys),
                "measured": rep.measured,
                "failed": len(rep.failed),
                "exports": rep.exports,
                "cache_hits": rep.cache_hits,
                "wall_s": round(wall, 2),
                "export_s": round(rep.export_s, 2),
                "measure_s": round(rep.measure_s, 2),
                "blocks_per_min": round(60 * rep.measured / wall, 1) if wall else 0.0,
                "measure_s_per_block": round(rep.measure_s / max(rep.measured, 1), 3),
                "load_avg": os.getloadavg(),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    out = {
        "benchmark": "lut_throughput",
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "toolchain": toolchain_versions(),
        "space": args.space,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=1))
    args.out.with_suffix(".md").write_text(render_md(out))
    return out


def render_md(out: dict) -> str:
    lines = [
        "# LUT collection throughput on the host",
        "",
        f"Host `{out['host']}`, {out['cpus']} CPUs, `{out['space']}` keys spread over the space. Each row collects "
        "the same keys into a fresh store; wall time includes the call-overhead probe and process start-up of "
        "export workers. Timing protocol: 10 warm-up runs, 30-300 timed runs, adaptive stop when the median's "
        "95% CI is within 1% (or 1 s).",
        "",
        "| context | mode | keys | measured | exports | cache hits | wall s | export s | timing s | timing s/block "
        "| blocks/min | load avg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in out["rows"]:
        lines.append(
            f"| {r['context']} | {r['mode']} | {r['keys']} | {r['measured']} | {r['exports']} | {r['cache_hits']} | "
            f"{r['wall_s']} | {r['export_s']} | {r['measure_s']} | {r['measure_s_per_block']} | "
            f"**{r['blocks_per_min']}** | {r['load_avg'][0]:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
