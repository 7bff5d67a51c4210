"""Training cost of channel search: masked supernet vs one-branch-per-width supernet vs the largest child.

Measured side by side in one run on the same space while the number of width choices per layer grows
2 -> 4 -> 8 -> 16 (the largest child is the same network every time: only the number of smaller
choices changes). Only widths are searched here (one op, one expansion, one resolution) so the numbers
isolate the width mechanism:

(a) ``masked``: :class:`search.supernet.Supernet` - each conv once at its widest, output multiplied by
    ``sum_i g_i 1_i`` (DMaskingNAS).
(b) ``branches``: DARTS/FBNet-style - every width choice is its own block (its own weights, full
    compute), outputs zero-padded to the widest and summed with the Gumbel weights.
(c) ``largest child``: the dense max-width model from :func:`search.build.build_model`.

One training step = Gumbel sample (a, b) + forward + cross-entropy + backward, batch 16 at 64x64, one
torch thread. Memory is measured two ways: the peak RSS growth of a fresh process during its first
step (real allocator behaviour), and the bytes of tensors autograd saves for backward plus parameters
and gradients (an exact, noise-free count). Step time is the median over interleaved repeats.

Run: ``python -m benchmarks.supernet_cost`` -> ``benchmarks/results/supernet_cost.{json,md}``.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from search.arch import Act, HeadSpec, LayerKind, LayerShape, make_divisible
from search.blocks import build_layer
from search.build import build_model, init_weights
from search.gumbel import ArchLogits
from search.space import SearchSpace, StageChoices, StemChoices
from search.supernet import Supernet

CHOICES = (2, 4, 8, 16)
VARIANTS = ("masked", "branches", "child")
BATCH, RES, CLASSES = 16, 64, 10
STAGES = ((32, 2, 2), (64, 2, 2), (128, 2, 2))  # (max width, depth, stride)
RESULTS = Path(__file__).resolve().parent / "results"


def width_space(n: int) -> SearchSpace:
    """``n`` evenly spaced width choices per stage up to a fixed maximum (the same largest child for all n)."""
    stages = tuple(
        StageChoices(
            tuple(round(w * (i + 1) / n) for i in range(n)), d, s, (4.0,), (3,), (False,), (Act.RELU,)
        )
        for w, d, s in STAGES
    )
    return SearchSpace(f"widths{n}", (RES,), StemChoices((16,)), stages, HeadSpec(conv_ch=256), CLASSES)


class BranchSupernet(nn.Module):
    """DARTS/FBNet-style width search: one dense block per output-width choice, zero-padded and summed."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        self.alphas = ArchLogits(space)
        hw = RES // space.stem.stride
        c_in = space.stem.widths[0]
        self.stem = build_layer(
            LayerShape("stem", LayerKind.STEM, 3, c_in, c_in, RES, hw, 3, 2, False, Act.HSWISH)
        )
        self.blocks = nn.ModuleList()
        self.vars: list[str] = []
        for k, st in enumerate(space.stages):
            for j in range(st.depth):
                stride = st.stride if j == 0 else 1
                out_hw = -(-hw // stride)
                mid = make_divisible(max(st.expands) * c_in, 8)
                self.blocks.append(
                    nn.ModuleList(
                        build_layer(
                            LayerShape(
                                f"s{k}.b{j}.c{c}",
                                LayerKind.IR,
                                c_in,
                                mid,
                                c,
                                hw,
                                out_hw,
                                3,
                                stride,
                                False,
                                Act.RELU,
                            )
                        )
                        for c in st.widths
                    )
                )
                self.vars.append(f"s{k}.w")
                hw, c_in = out_hw, max(st.widths)
        self.head = build_layer(
            LayerShape(
                "head", LayerKind.HEAD, c_in, space.head.conv_ch, CLASSES, hw, 1, 1, 1, False, Act.HSWISH
            )
        )
        init_weights(self)

    def forward(self, x: torch.Tensor, w: dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.stem(x)
        for branches, var in zip(cast(list[nn.ModuleList], list(self.blocks)), self.vars, strict=True):
            widest = max(cast(Any, b).pwl.conv.out_channels for b in branches)
            out: Any = 0.0
            for g, branch in zip(w[var], list(branches), strict=True):
                y = branch(h)
                out = out + g * nn.functional.pad(y, (0, 0, 0, 0, 0, widest - y.shape[1]))
            h = out
        return self.head(h)


def make(variant: str, n: int) -> tuple[Any, Callable[[], None]]:
    """The model and its training step for one variant at ``n`` width choices."""
    space = width_space(n)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 3, RES, RES, generator=gen)
    y = torch.randint(0, CLASSES, (BATCH,), generator=gen)
    ce = nn.CrossEntropyLoss()
    model: Any
    if variant == "child":
        model = build_model(space.max_arch()).train()

        def child_step() -> None:
            model.zero_grad(set_to_none=True)
            ce(model(x), y).backward()

        return model, child_step
    torch.manual_seed(0)
    model = (Supernet(space) if variant == "masked" else BranchSupernet(space)).train()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        w = model.alphas.sample(5.0, gen)
        ce(model(x, w), y).backward()

    return model, step


def saved_bytes(variant: str, n: int) -> int:
    """Bytes of distinct tensors saved for backward + parameters + gradients (exact; no allocator noise)."""
    model, _ = make(variant, n)
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    space = width_space(n)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 3, RES, RES, generator=gen)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x) if variant == "child" else model(x, model.alphas.sample(5.0, gen))
    del space, out
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return sum(storages.values()) + 2 * params


def _rss_child(variant: str, n: int) -> None:
    """Entry point of the memory subprocess: prints the peak-RSS growth (bytes) of the first step."""
    torch.set_num_threads(1)
    _, step = make(variant, n)
    base = _rss_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS watermark (VmHWM) to the current RSS
    step()
    print(json.dumps({"peak_rss_growth": (_rss_kb("VmHWM") - base) * 1024}))


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def peak_rss(variant: str, n: int) -> int:
    code = f"from benchmarks.supernet_cost import _rss_child; _rss_child({variant!r}, {n})"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return int(json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_growth"])


def step_times(repeats: int = 15, warmup: int = 2) -> dict[tuple[str, int], list[float]]:
    """Median-able step times, variants interleaved round-robin so machine noise hits all alike."""
    steps = {(v, n): make(v, n)[1] for n in CHOICES for v in VARIANTS}
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times: dict[tuple[str, int], list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        for k, fn in steps.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return times


def main() -> None:
    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    times = step_times()
    for n in CHOICES:
        for v in VARIANTS:
            rows.append(
                {
                    "choices": n,
                    "variant": v,
                    "step_ms": 1000 * statistics.median(times[(v, n)]),
                    "saved_mb": saved_bytes(v, n) / 2**20,
                    "peak_rss_mb": peak_rss(v, n) / 2**20,
                }
            )
    child = {r["choices"]: r for r in rows if r["variant"] == "child"}
    for r in rows:
        c = child[r["choices"]]
        # median of per-round ratios: each round timed every variant back to back, so drift cancels
        pairs = zip(times[(r["variant"], r["choices"])], times[("child", r["choices"])], strict=True)
        r["time_x_child"] = statistics.median(a / b for a, b in pairs)
        r["saved_x_child"] = r["saved_mb"] / c["saved_mb"]
        r["rss_x_child"] = r["peak_rss_mb"] / c["peak_rss_mb"]
    masked = [r for r in rows if r["variant"] == "masked"]
    checks = {
        "masked_saved_le_1.3x_child": all(r["saved_x_child"] <= 1.3 for r in masked),
        "masked_rss_le_1.3x_child": all(r["rss_x_child"] <= 1.3 for r in masked),
        "masked_time_le_1.5x_child": all(r["time_x_child"] <= 1.5 for r in masked),
        "masked_saved_flat_10pct": max(r["saved_mb"] for r in masked)
        <= 1.1 * min(r["saved_mb"] for r in masked),
        "masked_time_x_child_flat_10pct": max(r["time_x_child"] for r in masked)
        <= 1.1 * min(r["time_x_child"] for r in masked),
    }
    payload = {
        "setup": {
            "batch": BATCH,
            "input_hw": RES,
            "stages": STAGES,
            "choices": CHOICES,
            "torch_threads": 1,
            "torch": torch.__version__,
            "machine": platform.machine(),
            "python": platform.python_version(),
        },
        "rows": rows,
        "checks": checks,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "supernet_cost.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = [
        "# Supernet training cost vs number of width choices",
        "",
        f"Batch {BATCH} at {RES}x{RES}, one torch thread, stages (max width, depth, stride) {STAGES}; "
        "widths are the only choice. Step = Gumbel sample + forward + CE + backward; median of 11 interleaved "
        "repeats. `saved MB` = tensors saved for backward + params + grads (exact); `peak RSS MB` = peak "
        "resident-memory growth of a fresh process during its first step.",
        "",
        "| choices | variant | step ms | x child | saved MB | x child | peak RSS MB | x child |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['choices']} | {r['variant']} | {r['step_ms']:.1f} | {r['time_x_child']:.2f} | "
            f"{r['saved_mb']:.1f} | {r['saved_x_child']:.2f} | {r['peak_rss_mb']:.1f} | "
            f"{r['rss_x_child']:.2f} |"
        )
    lines += ["", "Checks (targets: masked <= 1.3x child memory, <= 1.5x child time, flat within 10%):", ""]
    lines += [f"- {k}: {'PASS' if v else 'FAIL'}" for k, v in checks.items()]
    (RESULTS / "supernet_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
