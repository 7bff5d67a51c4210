"""android_bench over a real adb stack: transport costs and whether timing through adb is unbiased.

Starts a private adb server and the loopback adbd from android_bench.testing (the real adb wire
protocol on 127.0.0.1, commands executed on this host), then measures:

1. shell round trip (``true``): HostDevice subprocess vs AdbDevice (adbutils -> adb server -> adbd);
2. push throughput of a 32 MB file: HostDevice copy vs adb sync;
3. three ExecuTorch (XNNPACK, fp32, 1 thread) inverted-residual blocks, median latency timed
   (a) in this process with the runner script's own loader, (b) ``measure_artifact`` on HostDevice,
   (c) ``measure_artifact`` on the loopback phone over adb: the ratios show whether the transport
   biases the numbers (it should not: timing happens on the device, around ``method.execute``);
4. recovery: a push dropped mid-transfer (TCP link cut by the adbd),, reconnected and retried by
   ``measure_artifact``.

Run: ``python -m benchmarks.android_loopback`` (about 2 minutes) ->
``benchmarks/results/android_loopback.{json,md}``.
Timings on this 2-core shared machine are noisy; compare ratios within one run.
"""

from __future__ import annotations

import json
import os
import platform
import runpy
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import android_bench as ab
from android_bench.testing import AdbServer, LoopbackAdbd, build_fake_phone, find_adb
from deploy.timing import time_calls

RESULTS = Path(__file__).resolve().parent / "results"

BLOCKS = [  # (in_ch, expand, out_ch, hw, kernel)
    (16, 1, 16, 56, 3),
    (24, 6, 32, 28, 5),
    (96, 6, 96, 14, 3),
]
PROPS = {"ro.product.model": "Loopback Phone", "ro.soc.model": "LB-2", "ro.build.version.release": "14"}


def _median_ms(fn, repeats: int) -> float:
    return statistics.median(time_calls(fn, repeats))


def _export_block(cin: int, expand: int, cout: int, hw: int, k: int, out: Path) -> Path:
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    mid = cin * expand
    block = torch.nn.Sequential(
        torch.nn.Conv2d(cin, mid, 1, bias=False),
        torch.nn.BatchNorm2d(mid),
        torch.nn.Hardswish(),
        torch.nn.Conv2d(mid, mid, k, padding=k // 2, groups=mid, bias=False),
        torch.nn.BatchNorm2d(mid),
        torch.nn.Hardswish(),
        torch.nn.Conv2d(mid, cout, 1, bias=False),
        torch.nn.BatchNorm2d(cout),
    ).eval()
    ep = torch.export.export(block, (torch.randn(1, cin, hw, hw),))
    path = out / f"ir_k{k}_e{expand}_c{cin}-{cout}_{hw}.pte"
    path.write_bytes(
        to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch().buffer
    )
    return path


def _in_process_ms(pte: Path, warmup: int, runs: int) -> float:
    script = runpy.run_path(str(ab.PYTHON_RUNNER_SCRIPT), run_name="phonenas_bench")
    _, _, run = script["_executorch"](str(pte), 1)
    for _ in range(warmup):
        run()
    return _median_ms(run, runs)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="android-loopback-bench-"))
    build_fake_phone(work / "phone", PROPS, [1_800_000, 2_800_000], {"cpu-0": 40_000})
    adbd = LoopbackAdbd(work / "phone", PROPS)
    adbd.start()
    server = AdbServer(find_adb(), work / "adb-home")
    server.start()
    results: dict[str, object] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "adb": find_adb(),
        "load_avg_1min_start": os.getloadavg()[0],
    }
    try:
        server.connect(adbd.serial)
        phone = ab.AdbDevice(adbd.serial, port=server.port)
        host = ab.HostDevice(work / "host-dev")

        results["shell_roundtrip_ms"] = {
            "host": _median_ms(lambda: host.shell(["true"]), 50),
            "adb_loopback": _median_ms(lambda: phone.shell(["true"]), 50),
        }
        blob = work / "blob.bin"
        blob.write_bytes(os.urandom(32 * 1024 * 1024))
        phone.shell(["mkdir", "-p", "/data/local/tmp/bench"]).check()
        push_s = {
            "host": _median_ms(lambda: host.push(blob, str(work / "host-dev/blob.bin")), 3) / 1e3,
            "adb_loopback": _median_ms(lambda: phone.push(blob, "/data/local/tmp/bench/blob.bin"), 3) / 1e3,
        }
        results["push_32MB_MBps"] = {k: 32 / v for k, v in push_s.items()}

        proto = ab.MeasurementProtocol(
            warmup=10, runs=50, affinity="none", cooldown_s=0, max_temp_c=None, cv_threshold=0.10
        )
        rows = []
        for spec in BLOCKS:
            pte = _export_block(*spec, work)
            inproc = _in_process_ms(pte, proto.warmup, proto.runs)
            m_host = ab.measure_artifact(host, ab.PythonRuntimeRunner(interpreter=sys.executable), pte, proto)
            m_adb = ab.measure_artifact(phone, ab.PythonRuntimeRunner(), pte, proto)
            rows.append(
                {
                    "block": pte.stem,
                    "in_process_ms": inproc,
                    "host_device_ms": m_host.stats.median_ms,
                    "adb_loopback_ms": m_adb.stats.median_ms,
                    "adb_loopback_cv": m_adb.stats.cv,
                    "adb_loopback_robust_cv": m_adb.stats.robust_cv,
                    "adb_attempts": m_adb.attempts,
                    "ratio_host_device": m_host.stats.median_ms / inproc,
                    "ratio_adb": m_adb.stats.median_ms / inproc,
                    "wall_s_adb_item": m_adb.duration_s,
                }
            )
        results["blocks"] = rows

        small = _export_block(8, 2, 8, 32, 3, work)  # not on the phone yet: it must be pushed
        adbd.faults.drop_push_after_bytes = 1000
        t0 = time.perf_counter()
        m = ab.measure_artifact(phone, ab.PythonRuntimeRunner(), small, proto, cache=ab.PushCache())
        results["dropped_push_recovery"] = {
            "retries": m.retries,
            "pushes_dropped": adbd.faults.pushes_dropped,
            "item_wall_s": time.perf_counter() - t0,
        }
        results["load_avg_1min_end"] = os.getloadavg()[0]
    finally:
        server.run("disconnect", adbd.serial)
        adbd.stop()
        server.stop()

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "android_loopback.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "android_loopback.md").write_text(_markdown(results))
    print(_markdown(results))


def _markdown(r: dict) -> str:
    sh, push = r["shell_roundtrip_ms"], r["push_32MB_MBps"]
    lines = [
        "# android_bench over the loopback adb stack",
        "",
        f"{r['date']} — {r['machine']} — adb: `{r['adb']}` — load average (1 min) "
        f"{r['load_avg_1min_start']:.1f} at start, {r['load_avg_1min_end']:.1f} at end "
        "(other jobs share this machine)",
        "",
        "| transport | shell round trip (ms) | push 32 MB (MB/s) |",
        "| --- | ---: | ---: |",
        f"| HostDevice (subprocess / copy) | {sh['host']:.2f} | {push['host']:.0f} |",
        f"| AdbDevice -> adb server -> loopback adbd | {sh['adb_loopback']:.2f} "
        f"| {push['adb_loopback']:.0f} |",
        "",
        "ExecuTorch XNNPACK fp32 blocks, 1 thread, median of 50 runs after 10 warm-up:",
        "",
        "| block | in-process (ms) | HostDevice (ms) | adb loopback (ms) | adb / in-process | adb CV "
        "| adb robust CV | wall per item (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for b in r["blocks"]:
        lines.append(
            f"| {b['block']} | {b['in_process_ms']:.3f} | {b['host_device_ms']:.3f} "
            f"| {b['adb_loopback_ms']:.3f} "
            f"| {b['ratio_adb']:.2f} | {b['adb_loopback_cv']:.3f} "
            f"| {b['adb_loopback_robust_cv']:.3f} "
            f"| {b['wall_s_adb_item']:.1f} |"
        )
    d = r["dropped_push_recovery"]
    lines += [
        "",
        f"Dropped push: {d['pushes_dropped']} push cut after 1000 bytes, {d['retries']} retry, item done in "
        f"{d['item_wall_s']:.1f} s (reconnect + re-push + timing).",
        "",
        "Wall time per item is dominated by the Python runner importing torch/executorch on the device",
        "(5-15 s here); native runners (executor_runner, benchmark_model) start in milliseconds.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
