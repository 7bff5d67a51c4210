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

Every choice dimension at 224 px (``--dims``, key ``"dims"`` and ``"all_dims_224"``): the ``fbnetv2-f``
space with ONE dimension searched at a time (width, expansion, kernel, SE, activation, skip,
resolution; the others fixed at the largest child's value) and with all of them together, batch 8 at
224x224, vs its largest child. Step = Gumbel sample at tau 5 (soft: the most mixing) + forward + CE +
backward + SGD-momentum update. Memory = weights + the peak RSS growth of a fresh subprocess over its
first two steps (gradients, momentum, activations); also the exact bytes autograd saves. The supernet
is measured with the resolution forced to 224 (its worst case: memory and time of a step that sampled
the full resolution) and, for time (configurations that search the resolution), also with the sampled
resolution. Step-time ratios are medians of per-round ratios (2 rounds), child and supernet timed back
to back; the memory subprocesses run alongside (3 at a time), which adds load but not memory. The
load average is recorded: the machine is shared, so absolute times are noisy; the ratios are what the
checks use.

Run: ``python -m benchmarks.supernet_cost`` (both parts) or ``python -m benchmarks.supernet_cost --dims``
(only the 224 px part; the width-sweep rows already in the JSON are kept) ->
``benchmarks/results/supernet_cost.{json,md}``.
"""

from __future__ import annotations

import json
import os
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
    """``n`` evenly spaced width choices per stage up to a fixed maximum (the same largest child
    for all n)."""
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


# -- every dimension at 224 px ---------------------------------------------------------------------
DIMS = ("width", "expansion", "kernel", "se", "act", "skip", "resolution")
DIM_BATCH, DIM_RES, DIM_CLASSES, DIM_REPEATS = 8, 224, 1000, 2


def dims_space(dims: tuple[str, ...]) -> SearchSpace:
    """``fbnetv2-f`` searching only ``dims`` (the other dimensions fixed at the largest child's value)."""
    from dataclasses import replace

    from search.space import fbnetv2_f

    base = fbnetv2_f(DIM_CLASSES)
    stages = tuple(
        replace(
            st,
            widths=st.widths if "width" in dims else (max(st.widths),),
            expands=st.expands if "expansion" in dims else (max(st.expands),),
            kernels=st.kernels if "kernel" in dims else (max(st.kernels),),
            se=st.se if "se" in dims else (max(st.se),),
            acts=st.acts if "act" in dims else (Act.HSWISH,),
            skip=st.skip and "skip" in dims,
        )
        for st in base.stages
    )
    return replace(
        base,
        name="+".join(dims),
        resolutions=base.resolutions if "resolution" in dims else (DIM_RES,),
        stem=base.stem if "width" in dims else replace(base.stem, widths=(max(base.stem.widths),)),
        stages=stages,
        head_hidden=base.head_hidden if "width" in dims else (),
    )


def _dim_configs() -> dict[str, tuple[str, ...]]:
    return {d: (d,) for d in DIMS} | {"all_dims_224": DIMS}


def make_dims(config: str, variant: str, res: str = "max") -> tuple[nn.Module, Callable[[], None]]:
    """Model + one SGD training step for ``config`` (``child``: the largest child, dense)."""
    space = dims_space(_dim_configs()[config])
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(DIM_BATCH, 3, DIM_RES, DIM_RES, generator=gen)
    y = torch.randint(0, DIM_CLASSES, (DIM_BATCH,), generator=gen)
    ce = nn.CrossEntropyLoss()
    torch.manual_seed(0)
    if variant == "child":
        child = build_model(space.max_arch()).train()
        opt = torch.optim.SGD(child.parameters(), lr=0.01, momentum=0.9)

        def child_step() -> None:
            opt.zero_grad(set_to_none=True)
            ce(child(x), y).backward()
            opt.step()

        return child, child_step
    net = Supernet(space).train()
    opt = torch.optim.SGD(net.weight_parameters(), lr=0.01, momentum=0.9)
    n_res = len(space.resolutions)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        w = net.alphas.sample(5.0, gen)
        if res == "max":  # worst case: the step that samples the full resolution
            w["res"] = nn.functional.one_hot(torch.tensor(n_res - 1), n_res).float()
        ce(net(x, w), y).backward()
        opt.step()

    return net, step


def _dims_child(config: str, variant: str) -> None:
    """Memory subprocess: weights, peak RSS growth over two steps, exact saved bytes (JSON on stdout)."""
    torch.set_num_threads(1)
    model, step = make_dims(config, variant)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    gc_collect()
    base = _rss_kb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    step()
    step()
    growth = (_rss_kb("VmHWM") - base) * 1024
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        storages[st.data_ptr()] = st.nbytes()
        return t

    x = torch.randn(DIM_BATCH, 3, DIM_RES, DIM_RES)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        if variant == "child":
            model(x)
        else:
            net = cast(Supernet, model)
            w = net.alphas.sample(5.0, torch.Generator().manual_seed(0))
            n_res = len(net.space.resolutions)
            w["res"] = nn.functional.one_hot(torch.tensor(n_res - 1), n_res).float()
            net(x, w)
    print(json.dumps({"weights": weights, "rss_growth": growth, "saved": sum(storages.values())}))


def gc_collect() -> None:
    import gc

    gc.collect()


def dims_memory(config: str, variant: str) -> dict[str, int]:
    code = f"from benchmarks.supernet_cost import _dims_child; _dims_child({config!r}, {variant!r})"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return cast(dict[str, int], json.loads(out.stdout.strip().splitlines()[-1]))


def run_dims() -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    configs = list(_dim_configs())
    # memory: one fresh subprocess per configuration (3 at a time; a process's peak RSS is its own)
    pool = ThreadPoolExecutor(3)
    child_future = pool.submit(dims_memory, "all_dims_224", "child")
    mem_futures = {c: pool.submit(dims_memory, c, "supernet") for c in configs}
    child_model, child_step = make_dims("all_dims_224", "child")
    child_step()  # warm-up
    rows: dict[str, dict[str, Any]] = {}
    timing: dict[str, dict[str, list[float]]] = {}
    for config in configs:
        _, step_max = make_dims(config, "supernet", "max")
        step_max()  # warm-up
        fns = {"child": child_step, "max": step_max}
        if "resolution" in _dim_configs()[config]:
            fns["sampled"] = make_dims(config, "supernet", "sampled")[1]
        t: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(DIM_REPEATS):  # child and supernet timed back to back, the ratio per round
            for k, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                t[k].append(time.perf_counter() - t0)
        timing[config] = t
        print(config, {k: [round(x, 2) for x in v] for k, v in t.items()}, flush=True)
        del step_max, fns
    child_mem = child_future.result()
    for config in configs:
        mem = mem_futures[config].result()
        t = timing[config]
        child_total = child_mem["weights"] + child_mem["rss_growth"]
        total = mem["weights"] + mem["rss_growth"]
        rows[config] = {
            "dims": list(_dim_configs()[config]),
            "supernet_weights_m": mem["weights"] / 4e6,
            "child_weights_m": child_mem["weights"] / 4e6,
            "memory_mb": total / 2**20,
            "child_memory_mb": child_total / 2**20,
            "memory_x_child": total / child_total,
            "saved_x_child": (mem["saved"] + 2 * mem["weights"])
            / (child_mem["saved"] + 2 * child_mem["weights"]),
            "step_s": statistics.median(t["max"]),
            "child_step_s": statistics.median(t["child"]),
            "step_x_child": statistics.median(a / b for a, b in zip(t["max"], t["child"], strict=True)),
            "step_x_child_sampled_res": statistics.median(
                a / b for a, b in zip(t["sampled"], t["child"], strict=True)
            )
            if "sampled" in t
            else None,
        }
    pool.shutdown()
    del child_model
    return {
        "setup": {
            "space": "fbnetv2-f",
            "batch": DIM_BATCH,
            "input_hw": DIM_RES,
            "classes": DIM_CLASSES,
            "repeats": DIM_REPEATS,
            "torch_threads": 1,
            "torch": torch.__version__,
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "device": "cpu (no GPU in this session)",
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        },
        "rows": rows,
        "checks": {
            "all_dims_memory_le_1.5x_child": rows["all_dims_224"]["memory_x_child"] <= 1.5,
            "all_dims_step_le_2x_child": rows["all_dims_224"]["step_x_child"] <= 2.0,
        },
    }


def dims_markdown(d: dict[str, Any]) -> list[str]:
    su = d["setup"]
    lines = [
        "",
        "# Every choice dimension at 224 px (fbnetv2-f)",
        "",
        f"Batch {su['batch']} at {su['input_hw']}x{su['input_hw']}, {su['classes']} classes, "
        "one torch thread, "
        f"{su['device']}, {su['cpus']} CPUs shared with other jobs: "
        f"load average {su['loadavg_before']} before, "
        f"{su['loadavg_after']} after (absolute times are noisy; ratios are timed back to back). "
        "Memory = weights + peak RSS growth of a fresh process over two SGD steps; `saved` = exact bytes "
        "autograd saves + params + grads. Supernet at a step that sampled 224 px (worst case); "
        "`x child (sampled res)` = steps at the Gumbel-sampled resolution.",
        "",
        "| searched | weights M (child) | memory MB (child) | x child | saved x child | step s (child) "
        "| x child | x child (sampled res) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in d["rows"].items():
        lines.append(
            f"| {name} | {r['supernet_weights_m']:.2f} ({r['child_weights_m']:.2f}) | {r['memory_mb']:.0f} "
            f"({r['child_memory_mb']:.0f}) | {r['memory_x_child']:.2f} | {r['saved_x_child']:.2f} | "
            f"{r['step_s']:.2f} ({r['child_step_s']:.2f}) | {r['step_x_child']:.2f} | "
            + (
                f"{r['step_x_child_sampled_res']:.2f} |"
                if r["step_x_child_sampled_res"] is not None
                else "- |"
            )
        )
    lines += ["", "Checks (all dimensions: memory <= 1.5x, step time <= 2x the largest child):", ""]
    lines += [f"- {k}: {'PASS' if v else 'FAIL'}" for k, v in d["checks"].items()]
    return lines


def main() -> None:
    if "--dims" in sys.argv[1:]:
        dims = run_dims()
        path = RESULTS / "supernet_cost.json"
        payload = json.loads(path.read_text()) if path.exists() else {}
        payload["dims"] = dims
        payload["all_dims_224"] = dims["rows"]["all_dims_224"]
        RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=1) + "\n")
        md = RESULTS / "supernet_cost.md"
        text = md.read_text() if md.exists() else ""
        text = text.split("\n# Every choice dimension at 224 px")[0].rstrip("\n") + "\n"
        md.write_text(text + "\n".join(dims_markdown(dims)) + "\n")
        print("\n".join(dims_markdown(dims)))
        return
    widths()
    dims = run_dims()
    path = RESULTS / "supernet_cost.json"
    payload = json.loads(path.read_text())
    payload["dims"] = dims
    payload["all_dims_224"] = dims["rows"]["all_dims_224"]
    path.write_text(json.dumps(payload, indent=1) + "\n")
    md = RESULTS / "supernet_cost.md"
    md.write_text(md.read_text() + "\n".join(dims_markdown(dims)) + "\n")


def widths() -> None:
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
        "widths are the only choice. Step = Gumbel sample + forward + CE + backward; "
        "median of 11 interleaved "
        "repeats. `saved MB` = tensors saved for backward + params + grads (exact); "
        "`peak RSS MB` = peak "
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
