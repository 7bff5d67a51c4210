"""Re-fit a finished ``phonenas demo``'s LUT corrections with every calibration model kept, with no new
timing: the same LUT entries, the same whole-model readings, only the correction changes.

- ``as_run``: the correction the demo saved (what its report scored; reproduces the report's errors).
- ``keep_all``: refitted on every calibration model the demo timed, its outliers included - what
  :func:`latency.correction.select_correction` fits when every suspect's second reading reproduces its
  first (the rule since b29c7e3), for a demo run before it.

Each model is predicted at the speed recorded with its readings (``OUT/measure/<runtime>-<dtype>.json``,
the calibration models' speed of its session, averaged over a re-measure as the demo does). That speed
was read off the saved correction's models, outliers excluded, so ``keep_all`` is approximate for
models whose speed came from a neighbour that was an outlier.

    PYTHONPATH=. python -m benchmarks.demo_refit --out phonenas-out --name main-1512

Writes ``benchmarks/results/demo_refit.{json,md}`` (one entry per ``--name``; re-running replaces it).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from benchmarks.cliff_rescore import write_entries

RESULTS = Path(__file__).parent / "results"
RULES = ("as_run", "keep_all")


def refit(out: Path) -> list[dict]:
    """Per demo context: each model's error under every rule, and the corrections' methods."""
    from latency.correction import select_correction
    from latency.lut import LUT
    from latency.store import LUTStore
    from latency.validate import WEIGHT_BYTES
    from phonenas.pipeline import _reading_speed
    from search.arch import decode_arch

    store = LUTStore(out / "lut")
    rows = []
    for context in store.contexts():
        path = out / "measure" / f"{context.runtime}-{context.dtype.value}.json"
        if not path.exists():
            continue
        saved = LUT.from_store(store, context)
        corr = saved.correction
        every = select_correction(
            [*corr.models, *corr.outliers],
            saved.call_overhead_ms,
            weights=True,
            max_outliers=0.0,
            bytes_per_weight=WEIGHT_BYTES.get(context.dtype.value, 4),  # as the demo fits it
        )
        luts = {
            "as_run": saved,
            "keep_all": saved.with_correction(replace(every, ratio_center=corr.ratio_center)),
        }
        models = []
        for name, got in json.loads(path.read_text()).items():
            readings = [got, got["recheck"]] if got.get("recheck") else [got]
            measured = sum(float(r["median_ms"]) for r in readings) / len(readings)
            speed = sum(_reading_speed(saved, r) for r in readings) / len(readings)
            arch = decode_arch(got["arch"])
            errs = {
                rule: 100.0 * (lut.predict(arch, ref_ratio=speed).latency_ms / measured - 1.0)
                for rule, lut in luts.items()
            }
            models.append({"name": name, "measured_ms": measured, "speed": speed, "err_pct": errs})
        rows.append(
            {
                "runtime": context.runtime,
                "dtype": context.dtype.value,
                "outliers": len(corr.outliers),
                "method": {"as_run": corr.method, "keep_all": every.method},
                "models": models,
            }
        )
    return rows


def render(entries: list[dict]) -> str:
    lines = [
        "# Demo corrections refitted with every calibration model kept",
        "",
        "`python -m benchmarks.demo_refit` (no new timing; see its docstring). Error = LUT prediction at the",
        "model's recorded session speed / its measurement - 1.",
        "",
        "| demo | runtime | dtype | outliers left out | model | as_run % | keep_all % |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in entries:
        for c in e["contexts"]:
            for m in c["models"]:
                err = m["err_pct"]
                lines.append(
                    f"| {e['name']} | {c['runtime']} | {c['dtype']} | {c['outliers']} | {m['name']} | "
                    f"{err['as_run']:+.1f} | {err['keep_all']:+.1f} |"
                )
        for rule in RULES:
            lines.append(f"\n{e['name']} within +-10%, {rule}: {e['within10'][rule]} of {e['n']}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="the demo's output directory")
    ap.add_argument("--name", required=True, help="this demo's label in the results")
    ap.add_argument("--results", type=Path, default=RESULTS / "demo_refit")
    args = ap.parse_args(argv)
    if not (args.out / "lut").is_dir() or not (args.out / "measure").is_dir():
        raise SystemExit(f"{args.out} holds no finished demo (lut/ and measure/); run `phonenas demo` first")
    contexts = refit(args.out)
    errs = [m["err_pct"] for c in contexts for m in c["models"]]
    entry = {
        "name": args.name,
        "out": str(args.out),
        "contexts": contexts,
        "n": len(errs),
        "within10": {rule: sum(abs(e[rule]) <= 10 for e in errs) for rule in RULES},
    }
    return write_entries(args.results, "demo_refit", [entry], lambda e: e["name"] == args.name, render)


if __name__ == "__main__":
    main()
