"""Re-fit the boundary correction of one run of ``benchmarks/lut_accuracy.py`` with today's
:func:`latency.correction.select_correction`, with no new timing: the same stores, the same whole-model
measurements (calibration and validation, as the run recorded them), the same reading of the drift
reference; only the choice of fit can change. What a change of the fitting rule is worth on runs that were
already measured - and nothing more: a number that counts comes from new runs from an empty store.

- ``scored``: what the run wrote (its correction, fitted by the code of its commit).
- ``refit``: the correction re-fitted on the run's calibration models by today's code (no re-reading of
  suspect models: the run's machine and moment are gone, so ``reread`` is off).

Usage (the run's store directory is the ``run<i>-<time>`` folder under ``--work``; ``--results`` the
file the run was written to)::

    PYTHONPATH=. python -m benchmarks.fit_rescore --store /tmp/phonenas-lut-acc/run18-20261205-031225 \\
        --run 18 --scale toy

Writes ``benchmarks/results/fit_rescore.{json,md}`` (one entry per results file, run, scale and context;
re-running one replaces its entries).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.cliff_rescore import write_entries

RESULTS = Path(__file__).parent / "results"


def model_sets(scale: str, settings: dict, seed: int) -> dict:
    """name -> ArchSpec of every model a run of ``scale`` scored or calibrated on (its settings)."""
    from benchmarks.lut_accuracy import real_set, toy_set

    if scale == "toy":
        val, cal = toy_set(
            settings.get("toy_n", 20),
            settings.get("toy_calib", 8),
            seed,
            settings.get("toy_zoo", True),
            settings.get("toy_span", 6),
        )
    else:
        val, cal = real_set(
            settings.get("real_n", 20),
            settings.get("real_calib", 8),
            seed,
            settings.get("real_others", 5),
            settings.get("real_light", 3),
            settings.get("real_heavy", 0),
            settings.get("real_short", 0),
        )
    out = {}
    for name, arch in val + cal:
        out[name] = arch
        out.setdefault(name.split("@")[0], arch)  # toy runs record names without the resolution
    return out


def find_store(store_dir: Path, scale: str, ctx: dict):
    """(LUTStore, Context) of one results context in a run's ``<scale>/`` stores."""
    from latency.store import LUTStore

    root = store_dir / scale
    if not root.is_dir():
        raise SystemExit(
            f"{store_dir} has no {scale}/ stores; pass the run<i>-<time> folder of a {scale} run"
        )
    for d in sorted(root.iterdir()):
        if not d.is_dir():
            continue
        store = LUTStore(d)
        for c in store.contexts():
            if c.runtime == ctx["runtime"] and str(c.dtype.value) == ctx["dtype"]:
                return store, c
    raise SystemExit(f"no {ctx['runtime']} {ctx['dtype']} store under {root}")


def refit(store, context, models: list[dict], archs: dict) -> dict:
    """Within-10% and RMSPE of the run's validation models with the correction re-fitted by today's code."""
    from benchmarks.reference_rescore import refit_lut
    from latency.lut import LUT

    stored = LUT.from_store(store, context)
    # the entries in the units the run's correction was fitted in (its ratio centre, where it has one)
    center = stored.correction.ratio_center if stored.correction.ratio_center > 0 else None
    raw = LUT.from_store(store, context, corrected=False, ratio_center=center)
    lut = refit_lut(raw, models, archs)
    corr = lut.correction
    rows = []
    for m in models:
        if m["role"] != "validation":
            continue
        p = lut.predict(archs[m["name"]], ref_ratio=lut.scale(m["ref_ratio"])).latency_ms
        rows.append({"name": m["name"], "err_pct": 100.0 * (p / m["measured_ms"] - 1.0)})
    errs = np.array([r["err_pct"] for r in rows])
    return {
        "within10_pct": float(100.0 * np.mean(np.abs(errs) <= 10)),
        "rmspe_pct": float(np.sqrt(np.mean(errs**2))),
        "correction": corr.method,
        "call_ms": corr.call_ms,
        "io_ms_per_melem": corr.io_ms_per_melem,
        "missed": [f"{r['name']} ({r['err_pct']:+.1f}%)" for r in rows if abs(r["err_pct"]) > 10],
    }


def rescore(store_dir: Path, run: dict, scale: str, results: Path, settings: dict) -> list[dict]:
    archs = model_sets(scale, settings, run["seed"])
    out = []
    for ctx in run["contexts"]:
        if ctx["scale"] != scale or ctx.get("status") != "ok":
            continue
        store, context = find_store(store_dir, scale, ctx)
        out.append(
            {
                "results": results.name,
                "run": run["run"],
                "scale": scale,
                "runtime": ctx["runtime"],
                "dtype": ctx["dtype"],
                "commit": ctx.get("commit"),
                "cpu": ctx.get("cpu"),
                "n": sum(m["role"] == "validation" for m in ctx["models"]),
                "scored": {
                    "within10_pct": ctx["within10_pct"],
                    "rmspe_pct": ctx["rmspe_pct"],
                    "correction": ctx["correction"]["method"],
                },
                "refit": refit(store, context, ctx["models"], archs),
            }
        )
    return out


def render_md(entries: list[dict]) -> str:
    lines = [
        "# Runs re-fitted with today's correction selection (no new timing)",
        "",
        "`python -m benchmarks.fit_rescore` - see its docstring. Each cell: % of validation models within "
        "10% / RMSPE %. `scored`: what the run wrote; `refit`: the same stores and measurements, the "
        "correction chosen by today's `select_correction`. Evidence about the rule, not a result: results "
        "are new runs from an empty store (`lut_accuracy.md`).",
        "",
        "| results | run | scale | runtime | dtype | commit | cpu | n | scored | refit | refit correction "
        "| missed (refit) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in entries:
        s, r = e["scored"], e["refit"]
        lines.append(
            f"| {e['results']} | {e['run']} | {e['scale']} | {e['runtime']} | {e['dtype']} | {e['commit']} | "
            f"{e['cpu']} | {e['n']} | {s['within10_pct']:.1f}% / {s['rmspe_pct']:.1f} | "
            f"{r['within10_pct']:.1f}% / {r['rmspe_pct']:.1f} | {r['correction']} | "
            f"{', '.join(r['missed']) or '-'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True, help="the run's run<i>-<time> folder")
    ap.add_argument("--run", type=int, required=True)
    ap.add_argument("--scale", choices=("toy", "real"), default="real")
    ap.add_argument("--results", type=Path, default=RESULTS / "lut_accuracy.json")
    ap.add_argument("--out", type=Path, default=RESULTS / "fit_rescore")
    args = ap.parse_args(argv)
    if not args.results.exists():
        raise SystemExit(f"{args.results} does not exist; pass the results file the run was written to")
    doc = json.loads(args.results.read_text())
    runs = [r for r in doc["runs"] if r["run"] == args.run]
    runs = [r for r in runs if any(c["scale"] == args.scale for c in r["contexts"])]
    if not runs:
        raise SystemExit(f"no {args.scale} run {args.run} in {args.results}")
    run = runs[-1]
    settings = next((c.get("settings") for c in run["contexts"] if c.get("settings")), None) or doc.get(
        "settings", {}
    )
    new = rescore(args.store, run, args.scale, args.results, settings)
    key = (args.results.name, args.run, args.scale)
    entries = write_entries(
        args.out,
        "fit_rescore",
        new,
        lambda e: (e["results"], e["run"], e["scale"]) == key,
        render_md,
    )
    for e in new:
        print(
            f"run {e['run']} {e['scale']} {e['runtime']} {e['dtype']}: "
            f"scored {e['scored']['within10_pct']:.1f}%, "
            f"refit {e['refit']['within10_pct']:.1f}% ({e['refit']['correction']})"
        )
    return entries


if __name__ == "__main__":
    main()
