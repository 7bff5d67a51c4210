"""LUT collection throughput on the host: blocks per minute, export vs timing share, cache reuse.

Collects the same digits-space keys for one context several ways, each into a fresh store:

* ``cold, export in-process``   exports in this process, then timing (``--export-workers 0``)
* ``cold, N export workers``    exports in N processes first, then timing with the machine quiet
* ``warm cache``                artifacts already exported (a re-collect for a new store / device)
* ``kill + resume (CLI)``       ``phonenas lut collect`` SIGKILLed (whole process group) half-way through its
                                exports, then re-run: rows must equal the keys, none duplicated or lost

    python -m benchmarks.lut_throughput [--keys 16 --contexts executorch:int8 litert:fp32]

Real scale (``fbnetv2-f`` layers, 4-224 px) before/after a code change, interleaved per context: run the
old checkout's package with ``--label before --append`` and this one with ``--label after --append``:

    PYTHONPATH=/tmp/old python benchmarks/lut_throughput.py --space fbnetv2-f --keys 12 --modes workers \
        --no-kill --contexts executorch:fp32 --label before --append --out /tmp/real

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
MODES = ("inprocess", "workers", "warm")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=16)
    ap.add_argument("--space", default="digits")
    ap.add_argument("--contexts", nargs="*", default=["executorch:int8", "litert:fp32"])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/phonenas-lut-throughput"))
    ap.add_argument("--out", type=Path, default=RESULTS / "lut_throughput")
    ap.add_argument("--no-kill", action="store_true", help="skip the kill + resume row")
    ap.add_argument(
        "--modes", nargs="*", default=list(MODES), choices=list(MODES), help="which collection modes to run"
    )
    ap.add_argument("--label", default="", help="code version the rows are from (e.g. before / after)")
    ap.add_argument("--append", action="store_true", help="add the rows to --out's existing .json")
    ap.add_argument(
        "--export-ab",
        type=int,
        default=0,
        metavar="N",
        help="instead: per-block export cost of N keys, previous recipe vs current, interleaved in-process",
    )
    args = ap.parse_args(argv)
    if args.export_ab:
        return export_ab(args)

    from latency.collect import collect
    from latency.export import ArtifactCache
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
        for name, mode, workers, fresh_cache in (
            ("inprocess", "cold, export in-process", 0, True),
            ("workers", f"cold, {args.workers} export workers", args.workers, True),
            ("warm", "warm cache", 0, False),
        ):
            if name not in args.modes:
                continue
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
                "code": args.label,
                "space": args.space,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        if not args.no_kill:
            row = kill_and_resume(runtime, dtype, args.space, len(keys), args.work / "kill", args.workers)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return write_results(args, "rows", rows)


def write_results(args, part: str, rows: list[dict]) -> dict:
    """Write ``rows`` as the results' ``part`` ("rows": collections, "export_ab": the per-block A/B); with
    ``--append`` the file's rows of both parts are kept and ``rows`` added after them."""
    from latency.export import toolchain_versions

    out: dict = {
        "benchmark": "lut_throughput",
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "toolchain": toolchain_versions(),
        "space": args.space,
    }
    old = args.out.with_suffix(".json")
    prev = json.loads(old.read_text()) if args.append and old.exists() else {}
    for name in ("rows", "export_ab"):
        if prev.get(name) or name == part:
            out[name] = prev.get(name, []) + (rows if name == part else [])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(out, indent=1))
    args.out.with_suffix(".md").write_text(render_md(out))
    return out


def export_ab(args) -> dict:
    """Per-block export seconds and artifact latency, the previous LUT export recipe ("before": torch's
    uncached CIA-op scan, 4 int8 calibration batches) against the current one ("after"), alternating
    per key in one process (the first export of each recipe is a warm-up, not counted), then each
    key's two artifacts timed interleaved (``rounds`` times, lowest median kept) for the latency ratio.
    Also the start-up of a fresh export pool (process spawn, imports, first export), which a collection
    paid once per :func:`latency.collect.collect` call before :class:`latency.collect.ExportWorkers`."""
    import statistics

    import torch._export.utils as cia_utils
    import torch.export.decomp_utils as cia_decomp
    import torch.export.exported_program as cia_ep

    from latency import export as E
    from latency.collect import ExportPool, _export_job
    from latency.export import ArtifactCache
    from latency.keys import keys_from_layers, resolve_lut
    from latency.meters import HostMeter
    from search.space import get_space

    E.install_decomposition_memo()
    memo = cia_utils._collect_all_valid_cia_ops
    original = memo._phonenas_original  # type: ignore[attr-defined]
    install, calib = E.install_decomposition_memo, E.CALIB_BATCHES

    def recipe(before: bool) -> None:
        for mod in (cia_utils, cia_ep, cia_decomp):
            mod._collect_all_valid_cia_ops = original if before else memo  # type: ignore[attr-defined]
        E.install_decomposition_memo = (lambda: False) if before else install  # type: ignore[assignment]
        E.CALIB_BATCHES = 4 if before else calib

    all_keys = keys_from_layers(get_space(args.space).candidate_layers())
    step = max(1, len(all_keys) // args.export_ab)
    keys = all_keys[::step][: args.export_ab]
    meter = HostMeter()
    rows = []
    for spec in args.contexts:
        runtime, dtype = resolve_lut(*spec.split(":"))
        work = args.work / "export-ab" / spec.replace(":", "-")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        cache = ArtifactCache(work / "pool")
        t0 = time.perf_counter()
        with ExportPool(1) as pool:
            pool.submit(_export_job, str(cache.root), cache.salt, keys[0], runtime, dtype).result()
        startup_s = time.perf_counter() - t0
        suffix = cache.path_for(keys[0], runtime, dtype).suffix
        for before in (True, False):  # warm-up of both recipes in this process
            recipe(before)
            E.export_entry(keys[-1], runtime, dtype, work / f"warm{int(before)}{suffix}")
        secs: dict[str, list[float]] = {"before": [], "after": []}
        paths = {}
        for i, key in enumerate(keys):
            order = (True, False) if i % 2 == 0 else (False, True)
            for before in order:
                label = "before" if before else "after"
                recipe(before)
                t = time.perf_counter()
                paths[key, label] = E.export_entry(key, runtime, dtype, work / f"{i}-{label}{suffix}")
                secs[label].append(time.perf_counter() - t)
        recipe(False)
        ratios = []
        for key in keys:
            best = {"before": float("inf"), "after": float("inf")}
            for _ in range(meter.rounds):
                for label in best:
                    med = statistics.median(meter.measure(paths[key, label], key.input_chw, runtime))
                    best[label] = min(best[label], med)
            ratios.append(best["after"] / best["before"])
        identical = sum(paths[k, "before"].read_bytes() == paths[k, "after"].read_bytes() for k in keys)
        row = {
            "context": spec,
            "mode": "export A/B (in-process, interleaved)",
            "keys": len(keys),
            "export_s_before": round(statistics.mean(secs["before"]), 2),
            "export_s_after": round(statistics.mean(secs["after"]), 2),
            "export_speedup": round(sum(secs["before"]) / sum(secs["after"]), 3),
            "pool_startup_s": round(startup_s, 1),
            "latency_ratio_after_before_median": round(statistics.median(ratios), 3),
            "latency_ratio_min": round(min(ratios), 3),
            "latency_ratio_max": round(max(ratios), 3),
            "byte_identical_artifacts": identical,
            "load_avg": os.getloadavg(),
            "space": args.space,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return write_results(args, "export_ab", rows)


def kill_and_resume(runtime: str, dtype: str, space: str, limit: int, work: Path, workers: int) -> dict:
    """Run the real CLI, SIGKILL its process group once half of the exports exist, re-run it to the end,
    and check the store: one row per key, no duplicates, every artifact reused."""
    import signal
    import subprocess
    import sys

    from latency.store import LUTStore

    shutil.rmtree(work, ignore_errors=True)
    exe = str(Path(sys.executable).with_name("phonenas"))
    cmd = [
        exe,
        "lut",
        "collect",
        "--device",
        "host",
        "--runtime",
        runtime,
        "--dtype",
        dtype,
        "--space",
        space,
        "--limit",
        str(limit),
        "--store",
        str(work / "lut"),
        "--cache",
        str(work / "artifacts"),
        "--export-workers",
        str(workers),
    ]
    artifacts = work / "artifacts"
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def exported() -> int:
        return sum(1 for p in artifacts.rglob("*") if p.is_file() and not p.name.startswith(".tmp"))

    while proc.poll() is None and exported() < limit // 2 + 1:  # + the call-overhead probe
        time.sleep(0.2)
    killed_at = exported()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kill_s = time.perf_counter() - t0
    time.sleep(1.0)
    t1 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    resume_s = time.perf_counter() - t1
    df = LUTStore(work / "lut").frame()
    layers = df[df["entry"] == "layer"]
    key_cols = [
        c
        for c in ("kind", "kernel", "in_ch", "mid_ch", "out_ch", "in_hw", "stride", "se", "act", "hidden_ch")
    ]
    dupes = int(layers.duplicated(subset=key_cols).sum())
    return {
        "context": f"{runtime}:{dtype}",
        "mode": "kill + resume (CLI)",
        "keys": limit,
        "measured": int(len(layers)),
        "failed": 0 if done.returncode == 0 else -1,
        "exports": exported(),
        "cache_hits": killed_at,
        "wall_s": round(kill_s + resume_s, 2),
        "export_s": None,
        "measure_s": None,
        "blocks_per_min": round(60 * len(layers) / (kill_s + resume_s), 1),
        "measure_s_per_block": None,
        "load_avg": os.getloadavg(),
        "killed_after_s": round(kill_s, 1),
        "artifacts_at_kill": killed_at,
        "resume_s": round(resume_s, 1),
        "resume_rc": done.returncode,
        "duplicate_rows": dupes,
        "lost_keys": int(limit - len(layers.drop_duplicates(subset=key_cols))),
    }


def render_md(out: dict) -> str:
    lines = [
        "# LUT collection throughput on the host",
        "",
        f"Host `{out['host']}`, {out['cpus']} CPUs, `{out['space']}` keys spread over the space. "
        "Each row collects the same keys into a fresh store; wall time includes the call-overhead "
        "probe and process start-up of export workers. Timing protocol: 10 warm-up runs, 30-300 "
        "timed runs, adaptive stop when the median's 95% CI is within 1% (or 1 s).",
        "",
    ]
    if any(r.get("code") for r in out.get("rows", [])):
        lines += [
            "`code`: the package the row ran (`before`: the checkout preceding the export speed-ups, run "
            "with this script and `PYTHONPATH` on that checkout; `after`: this one); each context's "
            "before and after rows ran back to back. A single collection of few keys is dominated by "
            "the export workers' start-up (imports, first export), so the per-block A/B below is the "
            "cleaner comparison of the export recipes.",
            "",
        ]
    lines += [
        "| context | mode | keys | measured | exports | cache hits | wall s | export s | timing s "
        "| timing s/block | blocks/min | load avg | code |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in out.get("rows", []):
        if r["mode"].startswith("kill"):
            continue
        lines.append(
            f"| {r['context']} | {r['mode']} | {r['keys']} | {r['measured']} | {r['exports']} "
            f"| {r['cache_hits']} | "
            f"{r['wall_s']} | {r['export_s']} | {r['measure_s']} | {r['measure_s_per_block']} | "
            f"**{r['blocks_per_min']}** | {r['load_avg'][0]:.1f} | {r.get('code', '')} |"
        )
    kills = [r for r in out.get("rows", []) if r["mode"].startswith("kill")]
    if kills:
        lines += [
            "",
            "## Kill and resume (the real CLI, `phonenas lut collect ... --limit N`)",
            "",
            "The collection's process group (collector + export workers) is SIGKILLed once half of "
            "the artifacts exist, then the same command is re-run to the end.",
            "",
            "| context | keys | killed after s | artifacts at kill | resume s | resume exit | rows "
            "| duplicate rows | lost keys |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in kills:
            lines.append(
                f"| {r['context']} | {r['keys']} | {r['killed_after_s']} | {r['artifacts_at_kill']} "
                f"| {r['resume_s']} | "
                f"{r['resume_rc']} | {r['measured']} | **{r['duplicate_rows']}** | **{r['lost_keys']}** |"
            )
    if out.get("export_ab"):
        lines += [
            "",
            "## Per-block export cost: previous recipe vs current (in-process, interleaved per key)",
            "",
            "before = torch's uncached CIA-op scan and 4 int8 calibration batches; after = memoized scan "
            "(`latency.export.install_decomposition_memo`) and 1 batch. Latency ratio: each key's two "
            "artifacts timed interleaved, 3 rounds, lowest median kept. Pool start-up: a fresh 1-worker "
            "export pool up to its first artifact (what every `collect` call paid before `ExportWorkers`).",
            "",
            "| context | keys | export s/block before | after | speed-up | latency ratio after/before "
            "median (min-max) | byte-identical | pool start-up s | load avg |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in out["export_ab"]:
            lines.append(
                f"| {r['context']} | {r['keys']} | {r['export_s_before']} | {r['export_s_after']} "
                f"| **{r['export_speedup']}x** | {r['latency_ratio_after_before_median']} "
                f"({r['latency_ratio_min']}-{r['latency_ratio_max']}) | {r['byte_identical_artifacts']} "
                f"| {r['pool_startup_s']} | {r['load_avg'][0]:.1f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
