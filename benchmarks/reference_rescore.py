"""Re-fit one real-scale run of ``benchmarks/lut_accuracy.py`` under other readings of the drift
reference, with no new timing: the same stores, the same whole-model measurements; the entries'
nominal units, the correction (re-fitted on the run's calibration models, as ``validate`` fits it) and
the predictions change.

- ``as_run``: every ratio taken as it is, against the nominal reading (``ratio_center`` 1, band 0) -
  the rule the runs up to 73f906c used; it reproduces what the run scored.
- ``device_scale``: :func:`latency.reference.device_scale` around the collection's usual level
  (``LUT.from_store``'s default since it was introduced).
- ``unscaled``: no drift scaling at all (a band no ratio leaves): what the reference's scaling is worth.

Usage (the run's store directory is the ``run<i>-<time>`` folder under ``--work``; ``--results`` the
file the run was written to, ``lut_accuracy.json`` or ``lut_accuracy_drift.json``)::

    PYTHONPATH=. python -m benchmarks.reference_rescore --store /tmp/acc/work/run5-20261204-013832 --run 5

Writes ``benchmarks/results/reference_rescore.{json,md}`` (one entry per results file, run and context;
re-running a run replaces its entries).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.cliff_rescore import find_store, load_run, rescore_parser, write_entries
from benchmarks.lut_accuracy import real_set

RESULTS = Path(__file__).parent / "results"
RULES = {"as_run": (1.0, 0.0), "device_scale": (None, None), "unscaled": (1.0, 1e9)}


def refit_lut(raw, models: list[dict], archs: dict):
    """``raw`` (an uncorrected LUT) with its correction re-fitted, as ``validate`` fits it, on the
    calibration models of a run's recorded ``models`` (whole-model readings in the raw LUT's units)."""
    from latency.correction import calibration_model, select_correction
    from latency.lut import LUT
    from latency.validate import WEIGHT_BYTES
    from search.arch import LayerKind, encode_arch, profile_arch

    calib = []
    for m in models:
        if m["role"] != "calibration":
            continue
        arch = archs[m["name"]]
        layers = [la for la in profile_arch(arch).layers if la.kind is not LayerKind.SKIP]
        entries = [c.measured_ms for c in raw.layer_costs(layers)]
        whole = m["measured_ms"] / raw.scale(m["ref_ratio"])
        calib.append(calibration_model(encode_arch(arch), layers, entries, whole))
    corr = select_correction(
        calib,
        raw.call_overhead_ms,
        weights=True,
        bytes_per_weight=WEIGHT_BYTES.get(raw.context.dtype.value, 4),
    )
    return LUT(
        raw.context,
        raw.entries,
        raw.call_overhead_ms,
        corr,
        reference_ms=raw.reference_ms,
        ratio_center=raw.ratio_center,
        ratio_band=raw.ratio_band,
    )


def refit(store, context, models: list[dict], archs: dict, center, band) -> dict:
    """Within-10% and RMSPE of the run's validation models under one reading of the reference."""
    from latency.lut import LUT
    from latency.reference import SPEED_BAND

    raw = LUT.from_store(
        store,
        context,
        corrected=False,
        ratio_center=center,
        ratio_band=SPEED_BAND if band is None else band,
    )
    lut = refit_lut(raw, models, archs)
    corr = lut.correction
    errs, rows = [], []
    for m in models:
        if m["role"] != "validation":
            continue
        p = lut.predict(archs[m["name"]], ref_ratio=lut.scale(m["ref_ratio"])).latency_ms
        e = 100.0 * (p / m["measured_ms"] - 1.0)
        errs.append(e)
        rows.append({"name": m["name"], "err_pct": e})
    return {
        "within10_pct": 100.0 * sum(abs(e) <= 10 for e in errs) / len(errs),
        "rmspe_pct": float(np.sqrt(np.mean(np.square(errs)))),
        "ratio_center": raw.ratio_center,
        "correction": corr.method,
        "missed": [r["name"] for r in rows if abs(r["err_pct"]) > 10],
    }


def rescore(store_dir: Path, run: dict, args: argparse.Namespace) -> list[dict]:
    val, cal = real_set(args.real_n, args.real_calib, run["seed"], args.real_others, args.real_light)
    archs = dict(val + cal)
    out = []
    for ctx in run["contexts"]:
        if ctx["scale"] != "real" or ctx.get("status") != "ok":
            continue
        store, context = find_store(store_dir, ctx)
        entry = {
            "results": args.results.name,
            "run": run["run"],
            "runtime": ctx["runtime"],
            "dtype": ctx["dtype"],
            "commit": ctx.get("commit"),
            "cpu": ctx.get("cpu"),
            "n": sum(m["role"] == "validation" for m in ctx["models"]),
            "scored_within10_pct": ctx["within10_pct"],
        }
        for rule, (center, band) in RULES.items():
            entry[rule] = refit(store, context, ctx["models"], archs, center, band)
        out.append(entry)
    return out


def render_md(entries: list[dict]) -> str:
    lines = [
        "# Real-scale runs re-fitted under other readings of the drift reference (no new timing)",
        "",
        "`python -m benchmarks.reference_rescore` - see its docstring. Each cell: % of validation models "
        "within 10% / RMSPE %. `as_run`: ratios as they are (the runs' rule; `scored` is what the run "
        "wrote); `device_scale`: the reference's noise band around the collection's usual level; "
        "`unscaled`: no drift scaling.",
        "",
        "| results | run | runtime | dtype | commit | cpu | n | scored | as_run | device_scale | unscaled "
        "| missed (device_scale) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in entries:
        cells = " | ".join(f"{e[r]['within10_pct']:.1f}% / {e[r]['rmspe_pct']:.1f}" for r in RULES)
        lines.append(
            f"| {e['results']} | {e['run']} | {e['runtime']} | {e['dtype']} | {e['commit']} | {e['cpu']} | "
            f"{e['n']} | {e['scored_within10_pct']:.1f}% | {cells} | "
            f"{', '.join(e['device_scale']['missed']) or '-'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    args = rescore_parser(__doc__, RESULTS / "reference_rescore").parse_args(argv)
    new = rescore(args.store, load_run(args), args)
    mine = (args.results.name, args.run)
    entries = write_entries(
        args.out, "reference_rescore", new, lambda e: (e["results"], e["run"]) == mine, render_md
    )
    for e in new:
        said = ", ".join(f"{r} {e[r]['within10_pct']:.1f}%" for r in RULES)
        print(f"run {e['run']} {e['runtime']} {e['dtype']}: scored {e['scored_within10_pct']:.1f}%, {said}")
    return entries


if __name__ == "__main__":
    main()
