"""ONNX Runtime int8 recipes compared on the demo's models: agreement with fp32 and latency.

deploy/targets/onnx.py quantizes with ``onnxruntime.quantization.quantize_static``; the recipe (activation
and weight types, per-channel, reduce_range, QDQ vs QOperator, ops kept in float) decides whether the
deploy check (cosine >= 0.99 and top-1 agreement >= 98 % against the fp32 model, deploy/verify.py) holds.
ONNX Runtime's x86 U8S8 kernels sum pairs of u8 x s8 products in int16 (VPMADDUBSW) on CPUs without
VNNI, which can saturate; the CPU flags of the machine are recorded with the results.

Models (trained here on the bundled digits, like the demo): the two searched models of the committed
demo run (benchmarks/results/demo_budget.json), MobileNetV3-Small x0.5 (the demo's baseline) and a child
of the test suite's micro space trained for one epoch (tests/phonenas/test_demo.py: poorly separated
logits are the hardest case for top-1 agreement).

For each model and recipe: ``deploy.verify.compare`` on the deploy check's 200 test images (calibrated
on 128 train images, ``deploy.data.eval_data``), and the median single-image latency (1 thread), timed
in interleaved rounds so load changes hit every recipe alike. Latency is reported relative to fp32.

Run: ``python -m benchmarks.onnx_int8_recipe`` (about 10 minutes on 2 cores)
-> ``benchmarks/results/onnx_int8_recipe.{json,md}``; ``--rerender`` re-derives the summary from the stored
rows without measuring.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from deploy.data import eval_data
from deploy.targets.onnx import FLOAT_ACT_SE, INT8_RECIPE, Int8Recipe, OnnxRunner, _export_fp32, export_int8
from deploy.timing import time_calls
from deploy.types import Dtype
from deploy.verify import COSINE_MIN, TOP1_AGREEMENT_MIN, Numerics, compare
from search.arch import decode_arch
from search.build import build_model
from search.data import load_data
from search.loop import train_dense

RESULTS = Path(__file__).resolve().parent / "results"

MODELS = [  # (name, arch, train epochs)
    (
        "searched@0.0302ms",
        "r24:stem_k3_c16_s2_hs:ir_k3_e3_c16_s2_relu|ir_k3_e3_c24_s2_relu,ir_k3_e3_c24_s1_relu"
        "|ir_k3_e3_c32_s2_se_hs,ir_k3_e3_c32_s1_se_hs:head_c96_hs:n10",
        15,
    ),
    (
        "searched@0.0376ms",
        "r24:stem_k3_c16_s2_hs:ir_k5_e3_c24_s2_relu|ir_k5_e6_c24_s2_relu,ir_k5_e6_c24_s1_relu"
        "|ir_k3_e6_c32_s2_hs,ir_k3_e6_c32_s1_se_hs:head_c96_hs:n10",
        15,
    ),
    (
        "mbv3s_x0.5",
        "r32:stem_k3_c8_s2_hs:ir_k3_e1_m8_c8_s2_se_relu|ir_k3_e5_m40_c16_s2_relu,ir_k3_e3_m48_c16_s1_relu"
        "|ir_k5_e3_m48_c24_s2_se_hs,ir_k5_e5_m120_c24_s1_se_hs,ir_k5_e5_m120_c24_s1_se_hs,"
        "ir_k5_e2.67_m64_c24_s1_se_hs,ir_k5_e3_m72_c24_s1_se_hs|ir_k5_e6_m144_c48_s2_se_hs,"
        "ir_k5_e6_m288_c48_s1_se_hs,ir_k5_e6_m288_c48_s1_se_hs:head_c288_h512_hs:n10",
        15,
    ),
    ("micro@1epoch", "r24:stem_k3_c8_s2_hs:ir_k3_e2_c16_s2_relu|ir_k3_e2_c16_s2_hs:head_c16_hs:n10", 1),
]

RECIPES: dict[str, Int8Recipe] = {
    "u8s8 qdq (previous)": Int8Recipe("u8", "s8"),
    "u8s8 qdq reduce_range": Int8Recipe("u8", "s8", reduce_range=True),
    "s8s8 qdq": Int8Recipe("s8", "s8"),
    "u8u8 qdq": Int8Recipe("u8", "u8"),
    "u8s8 qdq reduce_range, hswish/SE float": Int8Recipe(
        "u8", "s8", reduce_range=True, float_ops=FLOAT_ACT_SE
    ),
    "s8s8 qdq, hswish/SE float": Int8Recipe("s8", "s8", float_ops=FLOAT_ACT_SE),
    "u8s8 qoperator reduce_range": Int8Recipe("u8", "s8", reduce_range=True, qoperator=True),
}
ROUNDS, RUNS = 7, 30


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return sorted(f for f in line.split(":", 1)[-1].split() if f.startswith(("avx", "amx")) or "vnni" in f)


def _timed_median_ms(runner: OnnxRunner, x: np.ndarray, runs: int) -> float:
    return statistics.median(time_calls(lambda: runner.run(x), runs))


def avx2_pair_saturation(path: Path, x: np.ndarray) -> float | None:
    """Fraction of int16 pair sums ``a[k]*w[k] + a[k+1]*w[k+1]`` (u8 activation x s8 weight) outside int16
    in the model's dense convolutions, on inputs ``x``: what VPMADDUBSW, the U8S8 kernel of x86 CPUs
    without VNNI, saturates. K is ordered (kh, kw, c) like ORT's NHWC QLinearConv; depthwise convs (widened
    to int16 by MLAS, no pair sums) and Gemm are left out. None for models without u8 x s8 QDQ convs
    (s8 or u8 weights, QOperator graphs: not computed)."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    convs = []  # (activation u8 tensor name, int8 weights OIHW, strides, pads)
    for n in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type != "Conv" or attrs.get("group", 1) != 1:
            continue
        dq_x, dq_w = producer.get(n.input[0]), producer.get(n.input[1])
        if dq_x is None or dq_w is None or "DequantizeLinear" not in (dq_x.op_type, dq_w.op_type):
            continue
        w = inits.get(dq_w.input[0])
        if dq_x.op_type != "DequantizeLinear" or w is None or w.dtype != np.int8:
            continue
        convs.append((dq_x.input[0], w, attrs.get("strides", [1, 1]), attrs.get("pads", [0, 0, 0, 0])))
    if not convs:
        return None
    names = sorted({c[0] for c in convs})
    del model.graph.output[:]
    model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(nm) for nm in names)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    acts = [dict(zip(names, sess.run(names, {"x": xi[None]}), strict=True)) for xi in x]
    saturated = total = 0
    for name, w, (sh, sw), (pt, pl, pb, pr) in convs:
        o, c, kh, kw = w.shape
        wk = w.transpose(0, 2, 3, 1).reshape(o, -1).astype(np.int32)  # (O, K), K = (kh, kw, c)
        for a in acts:
            if a[name].dtype != np.uint8:
                return None
            t = np.pad(a[name][0].astype(np.int32), ((0, 0), (pt, pb), (pl, pr)))  # zero pad (raw u8)
            hh, ww = (t.shape[1] - kh) // sh + 1, (t.shape[2] - kw) // sw + 1
            cols = np.stack(
                [t[:, i : i + sh * hh : sh, j : j + sw * ww : sw] for i in range(kh) for j in range(kw)]
            )  # (kh*kw, C, H, W)
            cols = cols.transpose(2, 3, 0, 1).reshape(hh * ww, -1)  # (P, K)
            k2 = cols.shape[1] // 2 * 2
            prod = cols[:, None, :k2] * wk[None, :, :k2]  # (P, O, K)
            pairs = prod[..., 0::2] + prod[..., 1::2]
            saturated += int(np.count_nonzero((pairs > 32767) | (pairs < -32768)))
            total += pairs.size
    return saturated / max(total, 1)


def main() -> None:
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="onnx-int8-recipe-"))
    load = [os.getloadavg()[0]]
    rows: list[dict] = []
    for name, arch_text, epochs in MODELS:
        arch = decode_arch(arch_text)
        data = load_data("digits", size=arch.input_hw, channels=arch.in_ch, seed=0)
        model = train_dense(arch, data, epochs, 0).model.eval() if epochs else build_model(arch).eval()
        ev = eval_data("digits", arch)
        example = ev.inputs[:1]
        with torch.no_grad():
            ref = torch.cat([model(x.unsqueeze(0)) for x in ev.inputs]).numpy()
        labels = ev.labels.numpy() if ev.labels is not None else None
        fp32_path = work / f"{name}-fp32.onnx"
        _export_fp32(model, example, fp32_path)
        runners = {"fp32": OnnxRunner(fp32_path, 1)}
        numerics: dict[str, Numerics] = {}
        saturation: dict[str, float | None] = {}
        for rname, recipe in RECIPES.items():
            path = work / f"{name}-{len(numerics)}.onnx"
            export_int8(model, example, [ev.calib], path, recipe)
            runners[rname] = OnnxRunner(path, 1)
            numerics[rname] = compare(ref, runners[rname].run(ev.inputs.numpy()), labels)
            saturation[rname] = avx2_pair_saturation(path, ev.inputs[:16].numpy())
        x1 = ev.inputs[:1].numpy()
        samples: dict[str, list[float]] = {k: [] for k in runners}
        for _ in range(ROUNDS):  # interleaved: a load spike hits every recipe of this round alike
            for k, r in runners.items():
                samples[k].append(_timed_median_ms(r, x1, RUNS))
        fp32_ms = statistics.median(samples["fp32"])
        for rname, n in numerics.items():
            ms = statistics.median(samples[rname])
            rows.append(
                {
                    "model": name,
                    "recipe": rname,
                    "cosine": n.cosine,
                    "top1_agreement": n.top1_agreement,
                    "accuracy": n.accuracy,
                    "ref_accuracy": n.ref_accuracy,
                    "avx2_pair_saturation": saturation[rname],
                    "passes": n.cosine >= COSINE_MIN[Dtype.INT8] and n.top1_agreement >= TOP1_AGREEMENT_MIN,
                    "int8_ms": ms,
                    "fp32_ms": fp32_ms,
                    "speedup_vs_fp32": fp32_ms / ms,
                }
            )
        load.append(os.getloadavg()[0])
    summary, by_rule = summarize(rows)
    chosen = next((k for k, v in RECIPES.items() if v == INT8_RECIPE), None)
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, "
        f"{platform.processor() or platform.system()}",
        "cpu_flags": _cpu_flags(),
        "vnni": any("vnni" in f for f in _cpu_flags()),
        "onnxruntime": __import__("onnxruntime").__version__,
        "load_avg_1min": load,
        "bounds": {"cosine_min": COSINE_MIN[Dtype.INT8], "top1_agreement_min": TOP1_AGREEMENT_MIN},
        "recipes": {k: asdict(v) for k, v in RECIPES.items()},
        "chosen": chosen,
        "chosen_by_rule": by_rule,
        "rows": rows,
        "summary": summary,
    }
    _write(results)


def _write(results: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "onnx_int8_recipe.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "onnx_int8_recipe.md").write_text(_markdown(results))
    print(_markdown(results))


def summarize(rows: list[dict]) -> tuple[dict[str, dict], str | None]:
    """Per-recipe summary and the recipe the selection rule picks.

    The rule: QDQ format (what every ONNX Runtime execution provider a phone uses consumes - NNAPI,
    XNNPACK, QNN, Core ML EP; QOperator's QLinear* ops are CPU-EP only), passing the deploy bound on every
    model, saturation-free on any x86 CPU by construction (7-bit or u8 weights), then the fastest.
    """
    summary = {}
    for rname in dict.fromkeys(r["recipe"] for r in rows):
        rs = [r for r in rows if r["recipe"] == rname]
        recipe = RECIPES[rname]
        summary[rname] = {
            "all_pass": all(r["passes"] for r in rs),
            "min_cosine": min(r["cosine"] for r in rs),
            "min_top1_agreement": min(r["top1_agreement"] for r in rs),
            "geomean_speedup_vs_fp32": float(np.exp(np.mean([np.log(r["speedup_vs_fp32"]) for r in rs]))),
            "max_avx2_pair_saturation": max(
                (r["avx2_pair_saturation"] for r in rs if r["avx2_pair_saturation"] is not None), default=None
            ),
            "saturation_free_by_construction": recipe.reduce_range or recipe.weight == "u8",
            "qdq": not recipe.qoperator,
        }
    eligible = [
        k for k, v in summary.items() if v["all_pass"] and v["saturation_free_by_construction"] and v["qdq"]
    ]
    by_rule = max(eligible, key=lambda k: summary[k]["geomean_speedup_vs_fp32"]) if eligible else None
    return summary, by_rule


def rerender() -> None:
    """Re-derive the summary and the rule's pick from the stored rows (no measuring); rewrite both files."""
    results = json.loads((RESULTS / "onnx_int8_recipe.json").read_text())
    results["summary"], results["chosen_by_rule"] = summarize(results["rows"])
    _write(results)


def _markdown(r: dict) -> str:
    lines = [
        "# ONNX Runtime int8 recipes on the demo's models",
        "",
        f"{r['date']} — {r['machine']} — onnxruntime {r['onnxruntime']} — CPU flags: "
        f"{', '.join(r['cpu_flags']) or 'n/a'} (VNNI: {'yes' if r['vnni'] else 'no'}) — "
        "load average (1 min) "
        f"{', '.join(f'{x:.1f}' for x in r['load_avg_1min'])} (start, after each model; shared machine)",
        "",
        f"Deploy bound: cosine >= {r['bounds']['cosine_min']}, top-1 agreement >= "
        f"{100 * r['bounds']['top1_agreement_min']:.0f} % vs fp32 on 200 digits test images (128 calibration "
        "images). Latency: median single-image time, 1 thread, interleaved rounds; speed-up = fp32 / int8.",
        "",
        "AVX2 saturation: share of the u8 x s8 int16 pair sums of the dense convolutions that VPMADDUBSW (x86"
        " without VNNI) would saturate, on 16 test images (computed from the quantized tensors; n/a: no"
        " u8 x s8 QDQ convs). Rule: QDQ (every ORT execution provider consumes it; QOperator is CPU-EP"
        " only), pass on every"
        " model, saturation-free on any x86 (7-bit or u8 weights), then fastest.",
        "",
        "| recipe | all pass | min cosine | min top-1 agreement | max AVX2 saturation "
        "| geomean speed-up vs fp32 |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for k, s in r["summary"].items():
        mark = " **(chosen)**" if k == r["chosen"] else ""
        sat = s["max_avx2_pair_saturation"]
        lines.append(
            f"| {k}{mark} | {'yes' if s['all_pass'] else 'NO'} | {s['min_cosine']:.4f} | "
            f"{100 * s['min_top1_agreement']:.1f} % | {'n/a' if sat is None else f'{100 * sat:.2f} %'} | "
            f"{s['geomean_speedup_vs_fp32']:.2f} |"
        )
    lines += [
        "",
        f"Chosen (deploy/targets/onnx.py INT8_RECIPE): {r['chosen']}; by the rule: {r['chosen_by_rule']}.",
    ]
    lines += [
        "",
        "| model | recipe | cosine | top-1 agreement | accuracy (fp32) | int8 ms | fp32 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in r["rows"]:
        lines.append(
            f"| {row['model']} | {row['recipe']} | {row['cosine']:.4f} | "
            f"{100 * row['top1_agreement']:.1f} % | "
            f"{100 * row['accuracy']:.1f} % ({100 * row['ref_accuracy']:.1f} %) | {row['int8_ms']:.3f} | "
            f"{row['fp32_ms']:.3f} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    rerender() if "--rerender" in sys.argv[1:] else main()
