"""Re-score one real-scale run of ``benchmarks/lut_accuracy.py`` under other prediction rules, with no new
timing: the same stores, the same whole-model measurements, only the prediction changes.

- ``fitted``: the run's own correction and each model's drift-reference ratio (what the run scored).
- ``step``: the same correction with its cache-spill cliff as a step at its lower knot (``full_mparams =
  free_mparams``), the rule before the ramp of ``latency.correction.ramp_ties_first``; the same
  coefficients, since both fit the calibration models alike.
- ``session_ref``: the fitted correction, every model scaled by the median drift-reference ratio of the
  run's models instead of its own reading (how much the reference's per-model noise costs).

Ratios are read as the run's correction was fitted: as they are for a correction saved before
:func:`latency.reference.device_scale` (no ``ratio_center``), through ``LUT.scale`` after it.

Usage (the run's store directory is the ``run<i>-<time>`` folder under ``--work``)::

    PYTHONPATH=. python -m benchmarks.cliff_rescore --store /tmp/acc/work/run3-20261204-003917 --run 3

Writes ``benchmarks/results/cliff_rescore.{json,md}`` (one entry per run and context; re-running a run
replaces its entries).
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import replace
from pathlib import Path

from benchmarks.lut_accuracy import real_set

RESULTS = Path(__file__).parent / "results"


def _within(errors: list[float], pct: float = 10.0) -> float:
    return 100.0 * sum(abs(e) <= pct for e in errors) / len(errors)


def find_store(store_dir: Path, ctx: dict):
    """(LUTStore, Context) of one results context in a run's ``real/`` stores."""
    from latency.store import LUTStore

    found = [
        (LUTStore(d), c)
        for d in sorted((store_dir / "real").iterdir())
        if d.is_dir()
        for c in LUTStore(d).contexts()
        if c.runtime == ctx["runtime"] and str(c.dtype.value) == ctx["dtype"]
    ]
    if not found:
        raise SystemExit(f"no {ctx['runtime']} {ctx['dtype']} store under {store_dir / 'real'}")
    return found[0]


def rescore_parser(doc: str, out: Path) -> argparse.ArgumentParser:
    """The arguments every re-scoring script takes (a run's stores, its results file, the real set)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True, help="the run's run<i>-<time> folder")
    ap.add_argument("--run", type=int, required=True)
    ap.add_argument("--results", type=Path, default=RESULTS / "lut_accuracy.json")
    ap.add_argument("--out", type=Path, default=out)
    ap.add_argument("--real-n", type=int, default=20)
    ap.add_argument("--real-calib", type=int, default=8)
    ap.add_argument("--real-others", type=int, default=5)
    ap.add_argument("--real-light", type=int, default=3)
    return ap


def load_run(args: argparse.Namespace) -> dict:
    """The run ``args.run`` of ``args.results``, after checking that its stores and the file exist."""
    if not (args.store / "real").is_dir():
        raise SystemExit(
            f"{args.store} has no real/ stores; pass the run<i>-<time> folder of a real-scale run"
        )
    if not args.results.exists():
        raise SystemExit(f"{args.results} does not exist; pass the results file the run was written to")
    runs = json.loads(args.results.read_text())["runs"]
    run = next((r for r in runs if r["run"] == args.run), None)
    if run is None:
        raise SystemExit(f"run {args.run} is not in {args.results}; runs there: {[r['run'] for r in runs]}")
    return run


def write_entries(out: Path, name: str, new: list[dict], replaced, render) -> list[dict]:
    """Merge ``new`` into ``out``.json (dropping the old entries ``replaced(entry)`` says they replace),
    write it and its markdown (``render(entries)``); the merged entries."""
    path = out.with_suffix(".json")
    old = json.loads(path.read_text())["entries"] if path.exists() else []
    entries = [e for e in old if not replaced(e)] + new
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": name, "entries": entries}, indent=1))
    out.with_suffix(".md").write_text(render(entries))
    return entries


def rescore(store_dir: Path, run: dict, args: argparse.Namespace) -> list[dict]:
    from latency.lut import LUT

    val, _ = real_set(args.real_n, args.real_calib, run["seed"], args.real_others, args.real_light)
    archs = dict(val)
    out = []
    for ctx in run["contexts"]:
        if ctx["scale"] != "real" or ctx.get("status") != "ok":
            continue
        store, context = find_store(store_dir, ctx)
        lut = LUT.from_store(store, context)
        if lut.correction.ratio_center <= 0:  # fitted before device_scale: its units took ratios as they are
            lut = LUT.from_store(store, context, ratio_center=1.0, ratio_band=0.0)
        corr = lut.correction
        step = LUT(
            lut.context,
            lut.entries,
            correction=replace(corr, full_mparams=corr.free_mparams),
            reference_ms=lut.reference_ms,
            ratio_center=lut.ratio_center,
            ratio_band=lut.ratio_band,
        )
        models = [m for m in ctx["models"] if m["role"] == "validation"]
        session = lut.scale(statistics.median(m["ref_ratio"] for m in models))
        errs: dict[str, list[float]] = {"fitted": [], "step": [], "session_ref": []}
        rows = []
        for m in models:
            arch = archs[m["name"]]
            preds = {
                "fitted": lut.predict(arch, ref_ratio=lut.scale(m["ref_ratio"])).latency_ms,
                "step": step.predict(arch, ref_ratio=lut.scale(m["ref_ratio"])).latency_ms,
                "session_ref": lut.predict(arch, ref_ratio=session).latency_ms,
            }
            row = {"name": m["name"], "measured_ms": m["measured_ms"], "ref_ratio": m["ref_ratio"]}
            for k, p in preds.items():
                e = 100.0 * (p / m["measured_ms"] - 1.0)
                errs[k].append(e)
                row[f"{k}_err_pct"] = e
            rows.append(row)
        out.append(
            {
                "run": run["run"],
                "runtime": ctx["runtime"],
                "dtype": ctx["dtype"],
                "commit": ctx.get("commit"),
                "cpu": ctx.get("cpu"),
                "n": len(models),
                "correction": corr.method,
                "session_ref_ratio": session,
                **{f"within10_pct_{k}": _within(v) for k, v in errs.items()},
                "misses_fitted": [r["name"] for r in rows if abs(r["fitted_err_pct"]) > 10],
                "models": rows,
            }
        )
    return out


def render_md(entries: list[dict]) -> str:
    lines = [
        "# Real-scale runs re-scored under other prediction rules (no new timing)",
        "",
        "`python -m benchmarks.cliff_rescore` - see its docstring. `fitted`: what the run scored; "
        "`step`: the cliff as a step at its lower knot (the rule before the ramp); "
        "`session_ref`: every model scaled by the median drift-reference ratio instead of its own.",
        "",
        "| run | runtime | dtype | commit | cpu | n | fitted | step | session_ref | missed (fitted) "
        "| correction |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in entries:
        lines.append(
            f"| {e['run']} | {e['runtime']} | {e['dtype']} | {e['commit']} | {e['cpu']} | {e['n']} | "
            f"{e['within10_pct_fitted']:.1f}% | {e['within10_pct_step']:.1f}% | "
            f"{e['within10_pct_session_ref']:.1f}% | {', '.join(e['misses_fitted']) or '-'} | "
            f"{e['correction']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    args = rescore_parser(__doc__, RESULTS / "cliff_rescore").parse_args(argv)
    new = rescore(args.store, load_run(args), args)
    entries = write_entries(args.out, "cliff_rescore", new, lambda e: e["run"] == args.run, render_md)
    for e in new:
        print(
            f"run {e['run']} {e['runtime']} {e['dtype']}: fitted {e['within10_pct_fitted']:.1f}%, "
            f"step {e['within10_pct_step']:.1f}%, session_ref {e['within10_pct_session_ref']:.1f}%"
        )
    return entries


if __name__ == "__main__":
    main()
