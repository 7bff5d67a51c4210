#!/usr/bin/env python3
"""Stand-in for PhoneNASBench on this host (started by the fake xcrun's ``device process launch``).

It follows the app's contract (ios/PhoneNASBench/Sources/BenchmarkRun.swift): read the manifest named by
``--manifest`` (relative to Documents), time every model, write ``<output>.part`` and rename it to
``output`` (Documents-relative), exit. Timings are real: ``.pte`` files are run through the host's
ExecuTorch - all of a manifest's ``.pte`` in one ``phonenas-runner`` process when ``PHONENAS_STANDIN_RUNNER``
names that binary (the fixture builds it: starting a native binary takes milliseconds, a Python process
importing torch seconds, per launch), else one by one through the python runner's loader; any other file
is timed hashing its bytes, a stand-in workload for files the host cannot run (``.mlpackage.tar``: Core ML
needs Apple's runtime). The thermal state written is the one the test configured: this host has no iOS
thermal state.

``--behaviour``: ok | crash (dies after reading the manifest) | hang (never finishes) | slow:SECONDS
(sleeps before timing) | bad-model (reports an ``error`` line for every model).
"""

import argparse
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from importlib.machinery import SourceFileLoader
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
RUNNER = REPO / "android_bench" / "resources" / "phonenas_bench_runner"


def _native_blocks(docs: Path, manifest: dict) -> dict[str, list[str]]:
    """Every ``.pte`` of the manifest timed in one ``phonenas-runner`` process (``PHONENAS_STANDIN_RUNNER``):
    model -> its app-format lines (without the thermal lines). Empty when no binary is configured."""
    binary = os.environ.get("PHONENAS_STANDIN_RUNNER", "")
    models = [m for m in manifest["models"] if m.endswith(".pte") and (docs / m).is_file()]
    if not binary or not models:
        return {}
    sys.path.insert(0, str(REPO))
    from android_bench.runners import parse_bench_output

    argv = [binary, "--threads", str(manifest["threads"]), "--warmup", str(manifest["warmup"])]
    argv += ["--runs", str(manifest["runs"]), *(str(docs / m) for m in models)]
    res = subprocess.run(argv, capture_output=True, text=True)
    parsed = parse_bench_output(res.stdout)
    blocks = {}
    for model, rec in zip(models, parsed.models, strict=True):
        out = rec.output
        if out is None:
            blocks[model] = [f"error {rec.error}", "end 0"]
            continue
        blocks[model] = [
            f"runtime {parsed.runtime} {parsed.runtime_version}",
            f"compute_units {manifest['compute_units']}",
            f"threads {manifest['threads']}",
            "THERMAL_BEFORE",
            f"load_ms {out.init_ms or 0.0:.6f}",
            *(f"run_ms {x:.6f}" for x in out.samples_ms),
            "THERMAL_AFTER",
            f"end {len(out.samples_ms)}",
        ]
    return blocks


def _python_runner():
    loader = SourceFileLoader("phonenas_bench_runner", str(RUNNER))
    spec = importlib.util.spec_from_loader("phonenas_bench_runner", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def _load(path: Path, threads: int):
    if path.suffix == ".pte":
        runtime, version, run = _python_runner().LOADERS[".pte"](str(path), threads)
        return f"{runtime} {version}", run
    data = path.read_bytes()
    return "standin-hash 1", lambda: hashlib.sha256(data).digest()


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--container", required=True)
    ap.add_argument("--behaviour", default="ok")
    ap.add_argument("--thermal", default="nominal")
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    app_args = [a for a in args.rest if a != "--"]
    docs = Path(args.container) / "Documents"
    manifest = json.loads((docs / app_args[app_args.index("--manifest") + 1]).read_text())
    assert manifest["format"] == "phonenas-ios-manifest 1", manifest
    if args.behaviour == "crash":
        os.abort()
    if args.behaviour == "hang":
        time.sleep(3600)
    if args.behaviour.startswith("slow:"):
        time.sleep(float(args.behaviour.split(":", 1)[1]))
    out = []
    native = {} if args.behaviour == "bad-model" else _native_blocks(docs, manifest)
    for model in manifest["models"]:
        out += ["phonenas-bench 1", f"model {model}"]
        path = docs / model
        if model in native:
            thermal = {"THERMAL_BEFORE": f"thermal_state_before {args.thermal}"}
            thermal["THERMAL_AFTER"] = f"thermal_state_after {args.thermal}"
            out += [thermal.get(line, line) for line in native[model]]
            continue
        if args.behaviour == "bad-model" or not path.is_file():
            out += [
                f"error cannot load {model}: {'missing file' if not path.is_file() else 'bad model'}",
                "end 0",
            ]
            continue
        t0 = time.perf_counter_ns()
        runtime, run = _load(path, manifest["threads"])
        load_ms = (time.perf_counter_ns() - t0) / 1e6
        out += [
            f"runtime {runtime}",
            f"compute_units {manifest['compute_units']}",
            f"threads {manifest['threads']}",
            f"thermal_state_before {args.thermal}",
            f"load_ms {load_ms:.6f}",
        ]
        for _ in range(manifest["warmup"]):
            t = time.perf_counter_ns()
            run()
            out.append(f"warmup_ms {(time.perf_counter_ns() - t) / 1e6:.6f}")
        times = []
        for _ in range(manifest["runs"]):
            t = time.perf_counter_ns()
            run()
            times.append((time.perf_counter_ns() - t) / 1e6)
        out += [f"run_ms {x:.6f}" for x in times]
        out += [f"thermal_state_after {args.thermal}", f"end {len(times)}"]
    dst = docs / manifest["output"]
    dst.parent.mkdir(parents=True, exist_ok=True)
    part = dst.with_name(dst.name + ".part")
    part.write_text("\n".join(out) + "\n")
    os.replace(part, dst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
