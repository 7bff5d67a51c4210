"""Zoo MAC/param counts: our shape propagation vs torch's FLOP counter vs the published numbers.

For every zoo model: MACs from :func:`search.arch.profile_arch` (pure Python, no torch), MACs from
``torch.utils.flop_counter.FlopCounterMode`` over the built module (total FLOPs // 2), the published
MACs and our delta to them, params (ours, ``numel`` of the built model, published), and the time each
counter takes (median over repeats; FlopCounter time is one forward pass under the counter, the model
build is timed separately).

Run: ``python -m benchmarks.zoo_macs`` -> ``benchmarks/results/zoo_macs.{json,md}``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from search.arch import profile_arch
from search.build import build_model
from search.zoo import PUBLISHED, ZOO

RESULTS = Path(__file__).resolve().parent / "results"
PROFILE_REPEATS = 200
FLOP_REPEATS = 5


def _median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _flop_macs(model: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


def measure(name: str) -> dict[str, Any]:
    arch, pub = ZOO[name], PUBLISHED[name]
    profile = profile_arch(arch)
    t0 = time.perf_counter()
    model = build_model(arch).eval()
    build_s = time.perf_counter() - t0
    x = model.example_input()
    flop_macs = _flop_macs(model, x)
    profile_s = _median_s(lambda: profile_arch(arch).macs, PROFILE_REPEATS)
    flop_s = _median_s(lambda: _flop_macs(model, x), FLOP_REPEATS)
    return {
        "name": name,
        "input_hw": arch.input_hw,
        "macs": profile.macs,
        "flopcounter_macs": flop_macs,
        "macs_agree": profile.macs == flop_macs,
        "published_macs_m": pub.macs_m,
        "delta_pct": 100.0 * (profile.macs / 1e6 - pub.macs_m) / pub.macs_m,
        "params": profile.params,
        "numel_params": sum(p.numel() for p in model.parameters()),
        "published_params_m": pub.params_m,
        "top1": pub.top1,
        "profile_arch_ms": 1e3 * profile_s,
        "flopcounter_ms": 1e3 * flop_s,
        "build_ms": 1e3 * build_s,
        "speedup": flop_s / profile_s,
        "residual": pub.residual,
    }


def to_markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = [
        "# Zoo MACs: shape propagation vs FlopCounterMode vs published",
        "",
        f"{env['date']} · torch {env['torch']} · {env['cpus']} CPUs · {env['machine']} · "
        f"profile_arch median of {PROFILE_REPEATS}, FlopCounter median of {FLOP_REPEATS} forwards (batch 1)",
        "",
        "| model | input | MACs (ours) | FlopCounter MACs | published | delta % | params (ours) | numel | "
        "published params | top-1 | profile_arch ms | FlopCounter ms | speedup |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["models"]:
        pub_params = "-" if r["published_params_m"] is None else f"{r['published_params_m']:.3f}M"
        lines.append(
            f"| {r['name']} | {r['input_hw']} | {r['macs']:,} | {r['flopcounter_macs']:,} | "
            f"{r['published_macs_m']:.2f}M | {r['delta_pct']:+.2f} | {r['params']:,} "
            f"| {r['numel_params']:,} | "
            f"{pub_params} | {r['top1']} | {r['profile_arch_ms']:.3f} | {r['flopcounter_ms']:.0f} | "
            f"{r['speedup']:,.0f}x |"
        )
    agree = all(r["macs_agree"] and r["params"] == r["numel_params"] for r in result["models"])
    lines += [
        "",
        f"Our MACs and params equal FlopCounterMode and numel on every model: **{agree}**. "
        f"Largest |delta| to published: {max(abs(r['delta_pct']) for r in result['models']):.2f}%.",
        "",
        "Why ours differs from published (computed in `search/zoo.py`):",
        "",
    ]
    lines += [f"- {r['name']}: {r['residual']}" for r in result["models"]]
    return "\n".join(lines) + "\n"


def main() -> dict[str, Any]:
    torch.manual_seed(0)
    models = [measure(name) for name in ZOO]
    result = {
        "benchmark": "zoo_macs",
        "environment": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "torch": torch.__version__,
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(),
        },
        "models": models,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "zoo_macs.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "zoo_macs.md").write_text(to_markdown(result))
    print(to_markdown(result))
    return result


if __name__ == "__main__":
    main()
