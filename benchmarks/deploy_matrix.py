"""Deploy matrix: every model x target x dtype - export time, size, host latency, numeric error, accuracy.

Models (all re-headed for the bundled digits: 10 classes, 3 x 32 x 32 input, trained here with
:func:`search.loop.train_dense` for ``--epochs``): the zoo's FBNetV2-F1 and MobileNetV3-Small, and a
model from the search space (``--searched ARCH``; default: the ``digits`` space child sampled with seed
0, labelled as such - not a search result).

Every model is deployed by the library's :func:`deploy.pipeline.deploy` - the code behind ``phonenas
deploy`` - into one bundle per target under /tmp/phonenas_deploy_matrix/<model>/, and the rows are read
back from the bundles' manifests (export time, size, the verification's numerics and host latency:
median of 30 single-image calls after 5 warm-ups, 1 thread, in this Python process). Core ML artifacts
cannot be executed off macOS: export time, size and structure only.
Target (ExecuTorch): int8 <= 0.7x fp32 latency and <= 1 accuracy point drop.

Run: ``python -m benchmarks.deploy_matrix [--epochs 6] [--models fbnetv2_f1,mobilenetv3_small,space]``;
the smaller setting for a loaded machine: ``--models space`` (the small space child only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

from deploy import Dtype, runtime_versions
from deploy.data import eval_data
from deploy.pipeline import DeployRequest, deploy
from search.arch import ArchSpec
from search.build import build_model
from search.data import load_data
from search.loop import train_dense
from search.space import get_space
from search.zoo import get_arch, resolve_arch

RESULTS = Path(__file__).parent / "results"
WORK = Path("/tmp/phonenas_deploy_matrix")
TARGETS = ("executorch", "executorch-coreml", "tflite", "onnx", "coreml")
QUANT = (Dtype.INT8, Dtype.INT8_WEIGHTS)


def model_arch(name: str, searched: str | None) -> tuple[str, ArchSpec]:
    if name == "space":
        if searched:
            return "searched", resolve_arch(searched).with_num_classes(10)
        gen = torch.Generator().manual_seed(0)
        arch = get_space("digits", num_classes=10, in_ch=3).sample_arch(gen)
        return "space child (seed 0)", arch
    return name, get_arch(name, input_hw=32, num_classes=10)


def train(label: str, arch: ArchSpec, epochs: int) -> tuple[torch.nn.Module, float, float]:
    """The dense model trained on the digits (cached per label and epochs, so re-runs skip training)."""
    cache = WORK / f"{label.replace(' ', '_')}_e{epochs}.pt"
    t0 = time.perf_counter()
    if cache.is_file():
        saved = torch.load(cache, weights_only=True)
        model: torch.nn.Module = build_model(arch)
        model.load_state_dict(saved["state_dict"])
        test_acc = saved["test_acc"]
    else:
        data = load_data("digits", size=arch.input_hw, channels=arch.in_ch)
        trained = train_dense(arch, data, epochs=epochs, seed=0)
        model, test_acc = trained.model, trained.test_acc
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": model.state_dict(), "test_acc": test_acc}, cache)
    return model.eval(), test_acc, time.perf_counter() - t0


def run_model(label: str, arch: ArchSpec, epochs: int, n_verify: int = 300) -> list[dict]:
    """Train, then deploy through the library's :func:`deploy.pipeline.deploy` (export, verify, bundle
    per target - what ``phonenas deploy`` runs) and read the rows back from the bundles' manifests."""
    model, test_acc, train_s = train(label, arch, epochs)
    out_dir = WORK / label.replace(" ", "_")
    if out_dir.exists():  # stale bundles of an earlier run would be read back as this run's rows
        shutil.rmtree(out_dir)
    request = DeployRequest(
        arch,
        TARGETS,
        QUANT,
        out_dir,
        eval_data("digits", arch, n_calib=128, n_verify=n_verify),
        weights=f"benchmarks.deploy_matrix: {epochs} epochs on digits (seed 0)",
        threads=1,
    )
    deploy(request, model, on_step=lambda step: print(f"{label:22s} {step}", flush=True))
    order = {t: i for i, t in enumerate(TARGETS)}
    # sorted is stable: the dtypes of a target keep their order
    rows = sorted(rows_from_bundles(out_dir, label), key=lambda r: order[r["target"]])
    for r in rows:
        r.update(train_epochs=epochs, train_s=round(train_s, 1), torch_test_acc=test_acc)
        print(
            f"{label:22s} {r['target']:17s} {r['dtype']:6s} {r['status']:11s} export {r['export_s']:6.1f}s "
            f"lat {r['host_latency_ms'] or float('nan'):.3f} ms  {r['reason'][:80]}",
            flush=True,
        )
    return rows


def rows_from_bundles(root: Path, label: str) -> list[dict]:
    """Matrix rows from the manifests a ``phonenas deploy`` run wrote (same measurements, no re-export)."""
    from deploy.bundle import find_bundles, read_manifest

    rows = []
    for bundle in find_bundles(root):
        m = read_manifest(bundle)
        for art in m["artifacts"]:
            check, n = art["check"], art["check"].get("numerics") or {}
            rows.append(
                {
                    "model": label,
                    "arch": m["arch"],
                    "train_epochs": None,
                    "train_s": None,
                    "torch_test_acc": n.get("ref_accuracy"),
                    "target": m["target"],
                    "runtime": m["runtime"],
                    "dtype": art["dtype"],
                    "status": check["status"],
                    "reason": check["reason"],
                    "export_s": art["export_s"],
                    "size_kb": round(art["size_bytes"] / 1024, 1),
                    "host_latency_ms": art["latency_ms"]["measured_host"],
                    "max_abs": n.get("max_abs"),
                    "cosine": n.get("cosine"),
                    "top1_agreement": n.get("top1_agreement"),
                    "accuracy": n.get("accuracy"),
                    "ref_accuracy": n.get("ref_accuracy"),
                    "accuracy_drop_pts": n.get("accuracy_drop_pts"),
                }
            )
    for r in rows:
        base = next((b for b in rows if b["target"] == r["target"] and b["dtype"] == "fp32"), None)
        r["latency_vs_fp32"] = (
            r["host_latency_ms"] / base["host_latency_ms"]
            if base and r["host_latency_ms"] and base["host_latency_ms"]
            else None
        )
    return rows


def _fmt(v, spec: str) -> str:
    return "" if v is None else format(v, spec)


def write_md(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Deploy matrix",
        "",
        f"Host: {meta['host']}; 1 thread; latency = median of 30 single-image calls in this Python process. "
        f"Models trained {meta['epochs']} epochs on the bundled digits (3 channels at each model's input "
        f"resolution, 10 classes); numerics on {meta['n_verify']} held-out test images. Core ML: structural "
        "checks only (prediction needs macOS).",
        "",
        f"Machine load average (1 min) at the start / when written: {meta['load_average_start'][0]} / "
        f"{meta['load_average_1m']} on {meta['cores']} cores"
        + (
            " (other jobs were running): absolute times are inflated; compare ratios within one "
            "model/target pair only."
            if max(meta["load_average_1m"], meta["load_average_start"][0]) > 1.5
            else " (no other jobs); compare ratios within one model/target pair (timings are single-run "
            "medians)."
        )
        + f" Command: `{meta['command']}`"
        + (f", run under `nice -n {meta['nice']}`." if meta["nice"] else "."),
        "",
        "Toolchain: " + ", ".join(f"{k} {v}" for k, v in meta["toolchain"].items()),
        "",
        "| model | target | dtype | status | export s | size KB | host ms | vs fp32 | max abs diff | cosine "
        "| top-1 agree | acc % | drop pts |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['target']} | {r['dtype']} | {r['status']} | {r['export_s']:.1f} | "
            f"{r['size_kb']:.0f} | {_fmt(r['host_latency_ms'], '.3f')} | "
            f"{_fmt(r['latency_vs_fp32'], '.2f')}{'x' if r['latency_vs_fp32'] else ''} | "
            f"{_fmt(r['max_abs'], '.2g')} | {_fmt(r['cosine'], '.4f')} | "
            f"{_fmt(r['top1_agreement'] and 100 * r['top1_agreement'], '.1f')} | "
            f"{_fmt(r['accuracy'] and 100 * r['accuracy'], '.1f')} | {_fmt(r['accuracy_drop_pts'], '+.1f')} |"
        )
    lines += ["", "## ExecuTorch int8 targets (<= 0.7x fp32 latency, <= 1 point accuracy drop)", ""]
    for r in rows:
        if r["target"] == "executorch" and r["dtype"] == "int8":
            ok_lat = r["latency_vs_fp32"] is not None and r["latency_vs_fp32"] <= 0.7
            ok_acc = r["accuracy_drop_pts"] is not None and r["accuracy_drop_pts"] <= 1.0
            lines.append(
                f"- {r['model']}: latency {_fmt(r['latency_vs_fp32'], '.2f')}x fp32 "
                f"({'met' if ok_lat else 'NOT met'}), "
                f"accuracy drop {_fmt(r['accuracy_drop_pts'], '+.1f')} pts "
                f"({'met' if ok_acc else 'NOT met'})"
            )
    from deploy.verify import TIE_RATIO

    lines += ["", "## Which int8 paths are real speedups on this CPU", ""]
    for r in rows:
        if r["dtype"] in ("int8", "int8w") and r["latency_vs_fp32"] is not None:
            verdict = (
                "speedup"
                if r["latency_vs_fp32"] < 2 - TIE_RATIO
                else ("SLOWER" if r["latency_vs_fp32"] > TIE_RATIO else "no gain")
            )
            lines.append(
                f"- {r['model']} / {r['target']} {r['dtype']}: {r['latency_vs_fp32']:.2f}x fp32 -> {verdict}"
            )
    return "\n".join(lines) + "\n"


_LOAD_START = tuple(round(x, 1) for x in os.getloadavg())


def write_results(rows: list[dict], epochs: int, n_verify: int = 300) -> None:
    meta = {
        "host": f"{platform.system()} {platform.machine()} ({platform.processor() or 'cpu'}), "
        f"{os.cpu_count()} cores",
        "cores": os.cpu_count(),
        "epochs": epochs,
        "load_average_start": _LOAD_START,  # (1, 5, 15 min) when the benchmark started
        "load_average_1m": round(os.getloadavg()[0], 1),
        "nice": os.nice(0),
        "command": " ".join(["python -m benchmarks.deploy_matrix", *sys.argv[1:]]),
        "n_verify": n_verify,
        "toolchain": runtime_versions(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "deploy_matrix.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (RESULTS / "deploy_matrix.md").write_text(write_md(rows, meta))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--models", default="fbnetv2_f1,mobilenetv3_small,space")
    p.add_argument(
        "--searched", default=None, help="Arch string/JSON of a searched model (replaces the space child)."
    )
    p.add_argument(
        "--from-bundles",
        type=Path,
        default=None,
        help="Build the matrix from a `phonenas deploy` output directory instead of exporting.",
    )
    p.add_argument("--label", default="model", help="Model label for --from-bundles.")
    p.add_argument("--n-verify", type=int, default=300)
    p.add_argument(
        "--torch-threads", type=int, default=2, help="torch threads for training and export (1 under load)."
    )
    args = p.parse_args(argv)
    if args.from_bundles:
        write_results(rows_from_bundles(args.from_bundles, args.label), args.epochs, args.n_verify)
        print((RESULTS / "deploy_matrix.md").read_text())
        return
    torch.set_num_threads(args.torch_threads)
    rows: list[dict] = []
    for name in args.models.split(","):
        label, arch = model_arch(name.strip(), args.searched)
        rows += run_model(label, arch, args.epochs, args.n_verify)
        write_results(
            rows, args.epochs, args.n_verify
        )  # after every model: a long run leaves partial results
    print((RESULTS / "deploy_matrix.md").read_text())


if __name__ == "__main__":
    main()
