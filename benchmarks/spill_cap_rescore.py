"""Re-score stored ``lut_accuracy`` runs with a cache spill that counts only the weights of layers that
fit a cache on their own (no new timing): the same stores, the same whole-model measurements.

Why (``benchmarks/inmodel_gap.py``, run 30, ExecuTorch fp32 on the 16 MiB-L3 VM): a layer whose weights
fit the cache when it is timed alone runs slower inside a whole model (its weights come from memory
there), one whose weights already exceed the cache alone pays that in its LUT entry - the ``fbnetv2-f``
heads (4-5 M weights) gain 0.01-0.09 ms per M weights inside the model, the 1.7 M heads of MnasNet /
MobileNetV2 / EfficientNet 0.13-0.21. ``latency.correction`` spreads one model-level spill over *all*
weights, fitted on ``fbnetv2-f`` children only (calibration), so models whose weights sit in
cache-sized layers get too little.

Rule tried here: the spill feature is the hinge / cliff of :mod:`latency.correction` applied to the
weights of the layers of at most ``cap`` bytes each (fp32: 4 bytes per weight, int8: 1), the rest of the
correction unchanged (``select_correction``, no re-reading of suspects: a stored run cannot time again).
Columns: each fixed cap in MB, ``none`` (today's rule, refitted here), and ``loo`` (the cap each context's
calibration models choose by leave-one-out error, a candidate replacing ``none`` only when it cuts that
error by 10%, as ``select_fit`` chooses its shapes).

    PYTHONPATH=. python -m benchmarks.spill_cap_rescore --run 30=/tmp/phonenas-lut-acc/run30-20261205-110800

The ``loo`` rule is what ``latency.correction.select_fit`` does since d43915d
(``Correction.spill_cap_mparams``);
this script keeps the per-cap columns for stored runs.

``--run N=DIR[:STORE]``: run N of ``--results`` and its ``run<i>-<time>`` folder (``:STORE`` keeps one
store, e.g. ``executorch-fp32``, when a run's contexts are split over two folders); repeatable. Writes
``benchmarks/results/spill_cap_rescore.{json,md}`` (re-scoring a run replaces its entries).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.fit_rescore import model_sets
from latency.correction import SPILL_CAPS_MB as CAPS_MB

RESULTS = Path(__file__).parent / "results"


def layer_rows(arch, lut) -> list[tuple[float, float, float]]:
    """(LUT entry ms, inner boundary Melems, weights M) of each measured layer of ``arch``."""
    from latency.correction import inner_melems
    from search.arch import LayerKind
    from search.arch.shapes import profile_arch

    layers = [la for la in profile_arch(arch).layers if la.kind is not LayerKind.SKIP]
    costs = [c for c in lut.predict(arch).layers if c.source != "identity"]
    if len(costs) != len(layers):
        raise SystemExit(f"{arch}: {len(costs)} LUT costs for {len(layers)} layers")
    return [(c.measured_ms, inner_melems(la), la.params / 1e6) for c, la in zip(costs, layers, strict=True)]


def calib(name: str, whole: float, rows, cap_m: float):
    """A :class:`CalibrationModel` whose weights are those of its layers of at most ``cap_m`` M weights."""
    from latency.correction import CalibrationModel

    return CalibrationModel(
        name,
        whole,
        tuple(r[0] for r in rows),
        sum(r[1] for r in rows),
        len(rows),
        sum(r[2] for r in rows if r[2] <= cap_m),
    )


def collect(args: argparse.Namespace) -> list[dict]:
    """Per stored context: its calibration and validation models, layer by layer (no timing)."""
    from latency.lut import LUT
    from latency.store import LUTStore
    from search.arch.codec import decode_arch

    results = json.loads(args.results.read_text())
    runs = {r["run"]: r for r in results["runs"]}
    out = []
    for spec in args.run:
        num, _, where = spec.partition("=")
        folder, _, only = where.partition(":")
        if not num.isdigit() or not Path(folder).is_dir():
            raise SystemExit(f"--run {spec!r}: expected N=DIR[:STORE] with DIR a run<i>-<time> folder")
        run = runs.get(int(num))
        if run is None:
            raise SystemExit(f"run {num} is not in {args.results}; runs there: {sorted(runs)}")
        for scale in ("real", "toy"):
            if not (Path(folder) / scale).is_dir():
                continue
            archs = model_sets(scale, results.get("settings", {}), run["seed"])
            for d in sorted((Path(folder) / scale).iterdir()):
                if not d.is_dir() or (only and d.name != only):
                    continue
                store = LUTStore(d)
                for ctx in store.contexts():
                    rc = next(
                        (
                            c
                            for c in run["contexts"]
                            if c["scale"] == scale
                            and c["dtype"] == ctx.dtype.value
                            and c.get("status") == "ok"
                            and c["runtime"] == ctx.runtime
                        ),
                        None,
                    )
                    if rc is None:
                        continue
                    lut = LUT.from_store(store, ctx)
                    corr = lut.correction
                    cal = [
                        (m.arch, m.whole_ms, layer_rows(decode_arch(m.arch), lut))
                        for m in (*corr.models, *corr.outliers)
                    ]
                    val = [
                        (
                            m["name"],
                            m["measured_ms"],
                            lut.scale(m["ref_ratio"]),
                            layer_rows(archs[m["name"]], lut),
                        )
                        for m in rc["models"]
                        if m["role"] == "validation"
                    ]
                    out.append(
                        {
                            "run": int(num),
                            "scale": scale,
                            "runtime": rc["runtime"],
                            "dtype": rc["dtype"],
                            "commit": rc.get("commit"),
                            "scored": rc["within10_pct"],
                            "call": corr.call_ms,
                            "cal": cal,
                            "val": val,
                        }
                    )
    return out


def score(item: dict, cap_m: float) -> tuple[list[float], float]:
    """Validation errors (%) under the cap, and the calibration models' leave-one-out RMSPE."""
    from latency.correction import _loo_error, predict_whole, select_correction

    cal = [calib(n, w, rows, cap_m) for n, w, rows in item["cal"]]
    fit = select_correction(cal, item["call"], weights=True)
    errs = [
        100.0 * (predict_whole(fit, calib(n, 0.0, rows, cap_m)) * scale / measured - 1.0)
        for n, measured, scale, rows in item["val"]
    ]
    loo = min(_loo_error(cal, c, True, s) for c in (item["call"], None) for s in ("hinge", "cliff"))
    return errs, loo


def rescore(item: dict) -> dict:
    from latency.validate import WEIGHT_BYTES

    per_byte = WEIGHT_BYTES[item["dtype"]]
    caps = {f"{mb:g}": mb / per_byte for mb in CAPS_MB} | {"none": float("inf")}  # M weights per layer
    res = {k: score(item, cap) for k, cap in caps.items()}
    lowest = min(caps, key=lambda k: res[k][1])
    best = lowest if res[lowest][1] < 0.9 * res["none"][1] else "none"
    names = [v[0] for v in item["val"]]

    def within(errs: list[float]) -> float:
        return 100.0 * float(np.mean(np.abs(np.array(errs)) <= 10.0))

    return {
        **{k: item[k] for k in ("run", "scale", "runtime", "dtype", "commit", "scored")},
        "n": len(names),
        "within10_pct": {k: within(e) for k, (e, _) in res.items()},
        "loo_rmspe_pct": {k: 100.0 * loo for k, (_, loo) in res.items()},
        "loo_choice": best,
        "within10_pct_loo": within(res[best][0]),
        "misses": {
            k: [f"{n} {e:+.1f}%" for n, e in zip(names, errs, strict=True) if abs(e) > 10]
            for k, (errs, _) in res.items()
        },
    }


def render_md(entries: list[dict]) -> str:
    caps = [f"{mb:g}" for mb in CAPS_MB]
    lines = [
        "# Cache spill counted on cache-sized layers only: stored runs re-scored (no new timing)",
        "",
        "`python -m benchmarks.spill_cap_rescore` - see its docstring. Within +-10% per cap (MB per layer, "
        "fp32 4 bytes per weight, int8 1); `none`: today's rule refitted here (no suspect re-read); `loo`: "
        "the cap the context's calibration models choose by leave-one-out error.",
        "",
        "| run | scale | runtime | dtype | scored | none | "
        + " | ".join(f"{c} MB" for c in caps)
        + " | loo | misses (loo) |",
        "| --- | --- | --- | --- | --- | --- | " + " | ".join("---" for _ in caps) + " | --- | --- |",
    ]
    for e in sorted(entries, key=lambda e: (e["scale"], e["run"], e["runtime"], e["dtype"])):
        w = e["within10_pct"]
        head = f"| {e['run']} | {e['scale']} | {e['runtime']} | {e['dtype']} | {e['scored']:.1f} | "
        missed = ", ".join(e["misses"][e["loo_choice"]]) or "-"
        lines.append(
            head
            + " | ".join(f"{w[c]:.1f}" for c in ("none", *caps))
            + f" | {e['within10_pct_loo']:.1f} ({e['loo_choice']}) | {missed} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", required=True, help="N=DIR[:STORE], repeatable")
    ap.add_argument("--results", type=Path, default=RESULTS / "lut_accuracy.json")
    ap.add_argument("--out", type=Path, default=RESULTS / "spill_cap_rescore")
    args = ap.parse_args(argv)
    if not args.results.is_file():
        raise SystemExit(f"{args.results} does not exist; pass the results file the runs were written to")
    new = [rescore(item) for item in collect(args)]
    for e in new:
        print(f"run {e['run']} {e['scale']} {e['runtime']} {e['dtype']}: {e['within10_pct']}", flush=True)
    path = args.out.with_suffix(".json")
    old = json.loads(path.read_text())["entries"] if path.exists() else []
    done = {(e["run"], e["scale"], e["runtime"], e["dtype"]) for e in new}
    entries = [e for e in old if (e["run"], e["scale"], e["runtime"], e["dtype"]) not in done] + new
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"benchmark": "spill_cap_rescore", "caps_mb": CAPS_MB, "entries": entries}, indent=1)
    )
    args.out.with_suffix(".md").write_text(render_md(entries))
    return new


if __name__ == "__main__":
    main()
