"""CPU smoke run of the whole search path on ``fbnetv2-f`` at 128-224 px (synthetic data, a few steps).

space -> LUT cost -> supernet -> derived F-model child -> dense model -> deploy, every stage the real
code path:

1. ``fbnetv2-f`` re-headed to the data's classes; every candidate layer enumerated.
2. A LUT store (:class:`latency.store.LUTStore`) holding ONE entry per interpolation group (layer
   type, kernel, resolution, stride, SE, activation), read back as :class:`latency.cost.LUTCost` with
   interpolation for every other candidate layer. NO phone or LUT collection here: the stored entries
   are SYNTHETIC (0.02 ms + 10 ms per GMAC of the layer) and labelled so in the store's provenance and
   in the results; they exercise the LUT cost path, they are not latencies.
3. :func:`search.loop.run_search` for a few steps on random 224 px images (10 classes) with a latency
   target (the LUT cost of FBNetV2-F2), resolution sampled per step, Gumbel temperature annealed to 0.2.
4. The derived child (an ArchSpec member of the space), checked equal to the supernet at one-hot.
5. :func:`search.loop.derive_model`: the dense child with BatchNorm recalibrated.
6. Deploy: exported with the ONNX target (fp32), run with onnxruntime, compared with torch.

Run: ``python -m benchmarks.search_smoke`` -> ``benchmarks/results/search_smoke.{json,md}``.
No GPU in the session that committed the results: every number is CPU.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import TensorDataset

from search.arch import LayerKind, encode_arch, profile_arch
from search.build import build_model
from search.data import DataBundle
from search.loop import SearchConfig, derive_model, run_search
from search.loss import SearchLoss
from search.space import get_space
from search.zoo import ZOO

RESULTS = Path(__file__).resolve().parent / "results"
CLASSES, HW = 10, 224
SPLITS = {"train": 32, "arch": 16, "val": 16, "test": 16}


def synthetic_data(seed: int = 0) -> DataBundle:
    g = torch.Generator().manual_seed(seed)
    splits: dict[str, Any] = {}
    for name, n in SPLITS.items():
        splits[name] = TensorDataset(
            torch.randn(n, 3, HW, HW, generator=g), torch.randint(0, CLASSES, (n,), generator=g)
        )
    x = torch.cat([splits["train"].tensors[0], splits["arch"].tensors[0]])
    y = torch.cat([splits["train"].tensors[1], splits["arch"].tensors[1]])
    splits["trainval"] = TensorDataset(x, y)
    return DataBundle("synthetic-224", CLASSES, 3, HW, splits)


def synthetic_lut(space, root: Path):
    """A LUTStore with one SYNTHETIC entry per interpolation group, read back as an interpolating LUTCost."""
    from deploy import Dtype
    from latency.cost import LUTCost
    from latency.export import OVERHEAD_KEY
    from latency.interpolate import _group
    from latency.keys import Context, keys_from_layers
    from latency.lut import LUT
    from latency.stats import summarize
    from latency.store import ENTRY_OVERHEAD, LUTStore, Provenance, make_row

    ctx = Context.for_target("synthetic-cpu", "onnx", "synthetic", Dtype.FP32, 1, "")
    prov = Provenance(device_model="SYNTHETIC: 0.02 ms + 10 ms/GMAC, not a measurement")
    reps: dict[tuple, Any] = {}
    keys = keys_from_layers(space.candidate_layers())
    for key in keys:
        reps.setdefault(_group(key), key)
    rows = []
    for key in reps.values():
        ms = 0.02 + 10.0 * key.to_layer().macs / 1e9
        rows.append(make_row(ctx, key, summarize([ms, ms, ms]), [ms, ms, ms], prov))
    rows.append(make_row(ctx, OVERHEAD_KEY, summarize([0.05] * 3), [0.05] * 3, prov, entry=ENTRY_OVERHEAD))
    store = LUTStore(root)
    store.append(rows)
    return LUTCost(LUT.from_store(store, ctx), interpolate=True), len(keys), len(rows) - 1


def main() -> None:
    torch.set_num_threads(int(os.environ.get("SMOKE_THREADS", "1")))
    t_all = time.perf_counter()
    stages: dict[str, float] = {}
    load = [round(v, 2) for v in os.getloadavg()]

    t = time.perf_counter()
    space = get_space("fbnetv2-f", num_classes=CLASSES)
    members = {
        n: space.with_num_classes(1000).contains(ZOO[n])
        for n in ("fbnetv2_f1", "fbnetv2_f2", "fbnetv2_f3", "fbnetv2_f4")
    }
    stages["space"] = time.perf_counter() - t

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        cost_model, n_candidates, n_stored = synthetic_lut(space, Path(tmp) / "lut")
        f2 = ZOO["fbnetv2_f2"].with_num_classes(CLASSES)
        from search.cost import arch_cost

        target = arch_cost(cost_model, f2)
        stages["lut_cost"] = time.perf_counter() - t

        t = time.perf_counter()
        data = synthetic_data()
        cfg = SearchConfig(
            epochs=2,
            batch_size=8,
            warmup_epochs=1,
            seed=0,
            num_samples=64,
            loss=SearchLoss("target", target=target, lam=2.0),
            bn_batches=2,
        )
        result = run_search(space, data, cost_model, cfg)
        stages["search"] = time.perf_counter() - t
        net = result.supernet
        assert net is not None

        t = time.perf_counter()
        arch, choices = result.arch, result.choices
        dense_copy = net.load_into(build_model(arch), choices).eval()
        x = torch.randn(2, 3, HW, HW)
        with torch.no_grad():
            net.eval()
            ref = net(x, net.alphas.one_hot(choices))
            out = dense_copy(net.child_input(x, arch.input_hw))
        one_hot_diff = float((out - ref).abs().max())
        model = derive_model(net, choices, data, batches=2, batch_size=8)
        stages["derive"] = time.perf_counter() - t

        t = time.perf_counter()
        from deploy import Dtype, get_target

        target_rt = get_target("onnx")
        example = torch.randn(1, 3, arch.input_hw, arch.input_hw)
        path = target_rt.export(model.eval(), example, Dtype.FP32, Path(tmp) / "child.onnx")
        with torch.no_grad():
            want = model(example)
        got = torch.as_tensor(target_rt.load(path, threads=1).run(example.numpy()))
        deploy_diff = float((got - want).abs().max())
        size_mb = path.stat().st_size / 2**20 if path.is_file() else None
        stages["deploy"] = time.perf_counter() - t

    prof = profile_arch(arch)
    payload = {
        "setup": {
            "space": space.name,
            "resolutions": list(space.resolutions),
            "data": f"synthetic random images {HW}px, {CLASSES} classes, splits {SPLITS}",
            "lut": "SYNTHETIC entries (0.02 ms + 10 ms/GMAC), one per interpolation group, rest interpolated",
            "search": {
                "epochs": cfg.epochs,
                "batch": cfg.batch_size,
                "warmup_epochs": cfg.warmup_epochs,
                "tau": [round(h.tau, 3) for h in result.history],
                "resolution": cfg.resolution,
            },
            "device": "cpu (no GPU in this session)",
            "torch": torch.__version__,
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "loadavg_before": load,
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        },
        "f_models_are_members": members,
        "candidate_layers": n_candidates,
        "lut_entries_stored": n_stored,
        "interpolated_layers": len(cost_model.interpolated_keys),
        "target_ms_synthetic": target,
        "derived_arch": encode_arch(arch),
        "derived_is_member": space.contains(arch),
        "derived_rule": result.rule,
        "derived_cost_ms_synthetic": result.cost,
        "derived_macs_m": prof.macs / 1e6,
        "derived_params_m": prof.params / 1e6,
        "derived_blocks": {
            k.value: sum(1 for b in prof.blocks if b.kind is k)
            for k in (LayerKind.IR, LayerKind.PROJ, LayerKind.SKIP)
        },
        "history": [
            {
                "epoch": h.epoch,
                "tau": h.tau,
                "train_loss": h.train_loss,
                "arch_steps": h.arch_steps,
                "expected_cost": h.expected_cost,
                "argmax_cost": h.argmax_cost,
            }
            for h in result.history
        ],
        "one_hot_max_abs_diff": one_hot_diff,
        "deploy": {
            "target": "onnx",
            "dtype": "fp32",
            "max_abs_diff_vs_torch": deploy_diff,
            "size_mb": size_mb,
        },
        "stage_seconds": {k: round(v, 1) for k, v in stages.items()},
        "total_seconds": round(time.perf_counter() - t_all, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "search_smoke.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = [
        "# Search smoke run: fbnetv2-f, 128-224 px, CPU",
        "",
        f"{payload['setup']['data']}; {payload['setup']['lut']}. {payload['setup']['device']}, "
        f"{payload['setup']['cpus']} CPUs shared, load average {load} before, "
        f"{payload['setup']['loadavg_after']} after.",
        "",
        f"- F1-F4 members of the space: {members}",
        f"- candidate layers: {n_candidates:,}; LUT entries stored: {n_stored}; "
        f"interpolated: {payload['interpolated_layers']:,}",
        f"- search: {cfg.epochs} epochs x {SPLITS['train'] // cfg.batch_size} steps, batch {cfg.batch_size}, "
        f"tau {payload['setup']['search']['tau']}, target {target:.3f} ms (synthetic; FBNetV2-F2's LUT cost)",
        f"- derived ({result.rule}): `{payload['derived_arch']}`",
        f"  member of the space: {payload['derived_is_member']}; {prof.macs / 1e6:.1f} MMAC, "
        f"{prof.params / 1e6:.2f} M params; "
        f"predicted {result.cost:.3f} ms (synthetic)",
        f"- supernet at one-hot vs the dense child: max |diff| {one_hot_diff:.2e}",
        f"- deploy onnx fp32: max |diff| vs torch {deploy_diff:.2e}",
        f"- stage seconds: {payload['stage_seconds']}; total {payload['total_seconds']} s",
    ]
    (RESULTS / "search_smoke.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
