"""phonenas-runner (C++) vs the Python-runtime runner on the same .pte files; batch vs per-block throughput.

Two measurements on this host, both interleaved so a slow stretch of the shared machine hits both sides:

1. Latency. For real blocks (the distinct layers of MobileNetV3-Small at 224 px) and a few whole
   models (MobileNetV3-Small/Large, FBNetV2-F1), ExecuTorch fp32 (XNNPACK), each file is timed
   ``--rounds`` times by BOTH runners, alternating which goes first, with the same warm-up/runs/threads
   and the same CPU pinning: ``python3 android_bench/resources/phonenas_bench_runner`` (executorch's
   pybindings, what the loopback phone and Termux use) and ``build/phonenas-runner``. Per file:
   the median of each runner's pooled samples and their ratio; ``native_over_python`` is the median
   of the per-file ratios (blocks and models), also given per group.
2. Throughput. The same blocks through android_bench on a ``HostDevice`` (push-by-hash probes,
   taskset, parse), modes alternated ``--rounds`` times: ``measure_batch`` (one phonenas-runner
   process for all blocks), ``measure_artifact`` with phonenas-runner (one process per block) and with
   the Python runner (one interpreter per block). Blocks per minute of timing (exports excluded).

    python -m benchmarks.native_runner [--blocks 12 --rounds 3]

Writes benchmarks/results/native_runner.{json,md} with the machine and the load average before and
after each phase (os.getloadavg). The binary is built automatically (android_bench.native).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from latency.meters import host_cpu_model

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ["mobilenetv3_small", "mobilenetv3_large", "fbnetv2_f1"]


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _pin() -> list[str]:
    """Both runners on the same single CPU (the last one) when taskset exists."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str((os.cpu_count() or 1) - 1)]
    return []


def _time(argv: list[str], runs: int) -> tuple[float, ...]:
    from android_bench import parse_python_runner_output

    res = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed (rc={res.returncode}): {res.stderr[-400:]}")
    return parse_python_runner_output(res.stdout, runs=runs).samples_ms


def latency_table(
    files: list[tuple[str, str, Path]], binary: Path, rounds: int, warmup: int, runs: int, threads: int
) -> list[dict]:
    from android_bench import PYTHON_RUNNER_SCRIPT

    pin = _pin()
    rows = []
    for group, name, path in files:
        py_cmd = [*pin, sys.executable, str(PYTHON_RUNNER_SCRIPT), str(path),
                  "--warmup", str(warmup), "--runs", str(runs), "--threads", str(threads)]  # fmt: skip
        nat_cmd = [
            *pin,
            str(binary),
            f"--threads={threads}",
            f"--warmup={warmup}",
            f"--runs={runs}",
            str(path),
        ]
        py: list[float] = []
        nat: list[float] = []
        load0 = _load()
        for r in range(rounds):
            order = [(py_cmd, py), (nat_cmd, nat)] if r % 2 == 0 else [(nat_cmd, nat), (py_cmd, py)]
            for cmd, acc in order:
                acc.extend(_time(cmd, runs))
        py_med, nat_med = statistics.median(py), statistics.median(nat)
        rows.append({
            "group": group, "name": name, "file": path.name, "bytes": path.stat().st_size,
            "python_median_ms": round(py_med, 6), "native_median_ms": round(nat_med, 6),
            "native_over_python": round(nat_med / py_med, 4),
            "python_min_ms": round(min(py), 6), "native_min_ms": round(min(nat), 6),
            "samples_per_side": len(py), "loadavg_before": load0, "loadavg_after": _load(),
        })  # fmt: skip
        print(f"{group:5s} {name:40s} python {py_med:9.4f} ms  native {nat_med:9.4f} ms  "
              f"ratio {nat_med / py_med:.3f}", flush=True)  # fmt: skip
    return rows


def throughput(blocks: list[Path], binary: Path, rounds: int, warmup: int, runs: int, work: Path) -> dict:
    import android_bench as ab

    dev = ab.HostDevice(work_dir=work / "device")
    info = ab.read_device_info(dev)
    proto = ab.MeasurementProtocol(
        warmup=warmup, runs=runs, affinity="none", cooldown_s=0.0, max_temp_c=None, remeasure_attempts=0
    )
    native = ab.NativeRunner(binary, batch_size=len(blocks))
    python = ab.PythonRuntimeRunner(interpreter=sys.executable)
    cache = ab.PushCache()
    # push everything once so no mode pays the first copy
    ab.measure_batch(dev, native, blocks, proto, info=info, cache=cache)
    modes: dict[str, list[float]] = {"batch (one phonenas-runner process)": [],
                                     "per block (one phonenas-runner process each)": [],
                                     "per block (python runner, one interpreter each)": []}  # fmt: skip
    procs: dict[str, int] = {}
    load0 = _load()
    names = list(modes)
    for r in range(rounds):
        order = names if r % 2 == 0 else list(reversed(names))
        for mode in order:
            t0 = time.perf_counter()
            if mode.startswith("batch"):
                res = ab.measure_batch(dev, native, blocks, proto, info=info, cache=cache)
                bad = [m for m in res.results if isinstance(m, ab.DeviceError)]
                if bad:
                    raise RuntimeError(f"batch failed: {bad[0]}")
                procs[mode] = res.processes
            else:
                for b in blocks:
                    if "phonenas-runner" in mode:
                        ab.measure_artifact(dev, native, b, proto, info=info, cache=cache)
                    else:
                        ab.measure_artifact(dev, python, b, proto, info=info, cache=cache)
                procs[mode] = len(blocks)
            modes[mode].append(time.perf_counter() - t0)
    out: dict[str, Any] = {}
    for mode, walls in modes.items():
        best = min(walls)
        out[mode] = {
            "wall_s": [round(w, 3) for w in walls],
            "blocks_per_min": round(60.0 * len(blocks) / best, 1),
            "blocks_per_min_median": round(60.0 * len(blocks) / statistics.median(walls), 1),
            "processes_per_round": procs[mode],
        }
    out["loadavg_before"], out["loadavg_after"] = load0, _load()
    out["blocks"], out["warmup"], out["runs"], out["rounds"] = len(blocks), warmup, runs, rounds
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=12)
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/phonenas-native-runner-bench"))
    ap.add_argument("--out", type=Path, default=RESULTS / "native_runner")
    args = ap.parse_args(argv)

    from android_bench import build_native_runner
    from deploy import Dtype
    from latency.export import ArtifactCache, model_artifact, toolchain_versions
    from latency.keys import keys_from_archs
    from search.zoo import resolve_arch

    t_start = time.time()
    binary = build_native_runner()
    cache = ArtifactCache(args.work / "artifacts")
    rt, dt = "executorch", Dtype.FP32
    keys = keys_from_archs([resolve_arch("mobilenetv3_small")])
    step = max(1, len(keys) // args.blocks)
    keys = keys[::step][: args.blocks]
    print(f"exporting {len(keys)} blocks and {len(args.models)} models (cached in {args.work})", flush=True)
    files = [("block", k.label(), cache.get(k, rt, dt)) for k in keys]
    block_paths = [p for _, _, p in files]
    files += [("model", m, model_artifact(cache, resolve_arch(m), rt, dt)) for m in args.models]

    load_start = _load()
    lat = latency_table(files, binary, args.rounds, warmup=10, runs=50, threads=args.threads)
    thr = throughput(block_paths, binary, args.rounds, warmup=10, runs=50, work=args.work)

    def med_ratio(group: str | None) -> float:
        return round(
            statistics.median(r["native_over_python"] for r in lat if group in (None, r["group"])), 4
        )

    batch = thr["batch (one phonenas-runner process)"]["blocks_per_min"]
    single = thr["per block (one phonenas-runner process each)"]["blocks_per_min"]
    result = {
        "benchmark": "native_runner",
        "native_over_python": med_ratio(None),
        "native_over_python_blocks": med_ratio("block"),
        "native_over_python_models": med_ratio("model"),
        "batch_blocks_per_min": batch,
        "per_block_process_blocks_per_min": single,
        "batch_speedup": round(batch / single, 2),
        "latency": lat,
        "throughput": thr,
        "runtime": "executorch fp32 (XNNPACK)",
        "threads": args.threads,
        "pinning": " ".join(_pin()) or "none",
        "machine": {
            "cpu": host_cpu_model(),
            "cores": os.cpu_count(),
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(),
            "host": platform.node(),
        },  # fmt: skip
        "toolchain": toolchain_versions(),
        "runner_binary": str(binary.relative_to(Path(__file__).resolve().parents[1])),
        "loadavg_start": load_start,
        "loadavg_end": _load(),
        "wall_s": round(time.time() - t_start, 1),
        "command": "python -m benchmarks.native_runner "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(_markdown(result))
    print(
        f"native_over_python {result['native_over_python']}; batch {batch} vs per-process {single} blocks/min"
    )
    return result


def _markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# phonenas-runner (C++) vs the Python runtime runner",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}; shared with other jobs: load average "
        f"{r['loadavg_start']} at the start, {r['loadavg_end']} at the end (1/5/15 min). "
        f"{r['runtime']}, {r['threads']} thread(s), both runners pinned with `{r['pinning']}`; "
        f"executorch {r['toolchain'].get('executorch', '?')}. Reproduce: `{r['command'].strip()}`.",
        "",
        f"**native_over_python = {r['native_over_python']}** (median over files of native median / "
        f"python median; blocks {r['native_over_python_blocks']}, whole models "
        f"{r['native_over_python_models']}). Each file: both runners {r['latency'][0]['samples_per_side']} "
        "samples, interleaved rounds (alternating which goes first), same warm-up/runs/pinning.",
        "",
        "| group | name | python median ms | native median ms | native/python | load before |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for x in r["latency"]:
        lines.append(
            f"| {x['group']} | {x['name']} | {x['python_median_ms']:.4f} | {x['native_median_ms']:.4f} | "
            f"{x['native_over_python']:.3f} | {x['loadavg_before']} |"
        )
    t = r["throughput"]
    lines += [
        "",
        f"## Throughput: {t['blocks']} blocks, {t['warmup']} warm-up + {t['runs']} runs each, "
        f"{t['rounds']} interleaved rounds (android_bench on a HostDevice; exports excluded)",
        "",
        f"Batch mode: **{r['batch_blocks_per_min']} blocks/min** vs one process per block "
        f"{r['per_block_process_blocks_per_min']} blocks/min (x{r['batch_speedup']}); best round, "
        f"load {t['loadavg_before']} -> {t['loadavg_after']}.",
        "",
        "| mode | processes per round | blocks/min (best round) | blocks/min (median round) "
        "| wall s per round |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for mode, v in t.items():
        if isinstance(v, dict):
            lines.append(
                f"| {mode} | {v['processes_per_round']} | {v['blocks_per_min']} | "
                f"{v['blocks_per_min_median']} | {v['wall_s']} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
