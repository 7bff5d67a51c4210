"""Where the toy-scale LUT misses come from, from runs already measured (no new timing).

Two questions about the models a ``benchmarks/lut_accuracy.py`` context misses by more than 10%:

- **Do the misses reproduce?** The same context in two runs (independent collections from an empty store,
  usually of the same cached exports): the correlation of the per-model errors and the models missed in
  both. Reading noise moves from run to run; a model whose layers' entries do not add up to it misses
  again.
- **Which layers do the missed models share?** For every layer key, the mean error of the scored models
  that contain it (``--top`` of them, by magnitude), and the layer's entry next to its *siblings*: the
  stored keys that differ from it in the output width alone. A layer that is slow only when timed on its
  own (its standalone entry well above its siblings', while the models that contain it run as fast as
  the others) puts every model built on it high.

Usage (each ``--run`` is ``results.json:run:store-folder``, the store folder the ``run<i>-<time>`` one
under ``--work``)::

    PYTHONPATH=. python -m benchmarks.toy_residuals --context litert:fp32 \\
        --run benchmarks/results/lut_accuracy.json:18:/tmp/phonenas-lut-acc/run18-20261205-031225 \\
        --run benchmarks/results/toy_diagnosis/rerun_litert.json:0:/tmp/phonenas-lut-acc/run0-20261205-050427

Writes ``benchmarks/results/toy_residuals.{json,md}`` (one entry per context; re-running it replaces it).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.cliff_rescore import write_entries
from benchmarks.fit_rescore import find_store, model_sets

RESULTS = Path(__file__).parent / "results"


def label(key) -> str:
    """``IR3 16-48-24@16/2`` (kind, kernel, in-mid-out widths @ input size / stride, ``+se``)."""
    se = "+se" if key.se else ""
    return f"{key.kind.name}{key.kernel} {key.in_ch}-{key.mid_ch}-{key.out_ch}@{key.in_hw}/{key.stride}{se}"


def errors(ctx: dict, max_ms: float | None = None) -> dict[str, float]:
    """name -> % error of the context's scored models (those under ``max_ms`` measured, when given)."""
    return {
        m["name"]: 100.0 * (m["predicted_ms"] / m["measured_ms"] - 1.0)
        for m in ctx["models"]
        if m["role"] == "validation" and (max_ms is None or m["measured_ms"] <= max_ms)
    }


def layer_attribution(errs: dict[str, float], layers_of: dict[str, list]) -> dict:
    """key -> (mean error, models) of the models that contain the key, over every run's errors."""
    by_key: dict = defaultdict(list)
    for name, e in errs.items():
        for key in set(layers_of[name]):
            by_key[key].append((name, e))
    return {k: (float(np.mean([e for _, e in v])), v) for k, v in by_key.items()}


def siblings(entries: dict, key) -> dict[int, float]:
    """out_ch -> entry (ms) of the stored keys equal to ``key`` but for the output width."""
    from dataclasses import replace

    out = {}
    for k, v in entries.items():
        if k.out_ch != key.out_ch and replace(k, out_ch=key.out_ch) == key:
            out[k.out_ch] = v
    out[key.out_ch] = entries[key]
    return dict(sorted(out.items()))


def analyse(runs: list[tuple[Path, int, Path]], runtime: str, dtype: str, top: int, max_ms: float) -> dict:
    from latency.keys import BlockKey
    from latency.lut import LUT
    from search.arch import LayerKind, profile_arch

    per_run, luts, names = [], [], None
    for results, run_no, store_dir in runs:
        doc = json.loads(results.read_text())
        run = next((r for r in doc["runs"] if r["run"] == run_no and _ctx(r, runtime, dtype)), None)
        if run is None:
            raise SystemExit(f"no toy {runtime}:{dtype} run {run_no} in {results}")
        ctx = _ctx(run, runtime, dtype)
        settings = ctx.get("settings") or doc.get("settings", {})
        archs = model_sets("toy", settings, run["seed"])
        store, context = find_store(store_dir, "toy", ctx)
        luts.append(LUT.from_store(store, context, corrected=False))
        per_run.append((f"{results.name}:{run_no}", ctx, archs))
        names = archs
    assert names is not None
    layers_of = {
        n: [BlockKey.from_layer(la) for la in profile_arch(a).layers if la.kind is not LayerKind.SKIP]
        for n, a in names.items()
    }
    errs = [errors(ctx, max_ms) for _, ctx, _ in per_run]
    common = sorted(set.intersection(*(set(e) for e in errs)))
    missed = [sorted(n for n in common if abs(e[n]) > 10) for e in errs]
    pairs = [(a, b) for i, a in enumerate(errs) for b in errs[i + 1 :]]
    corr = (  # the mean over every pair of runs
        float(np.mean([np.corrcoef([a[n] for n in common], [b[n] for n in common])[0, 1] for a, b in pairs]))
        if pairs and len(common) > 2
        else None
    )
    pooled = {f"{tag}/{n}": e for (tag, _, _), es in zip(per_run, errs, strict=True) for n, e in es.items()}
    attribution = layer_attribution(
        pooled, {f"{tag}/{n}": layers_of[n] for tag, _, _ in per_run for n in names}
    )
    ranked = sorted(attribution.items(), key=lambda kv: -abs(kv[1][0]))[:top]
    return {
        "runtime": runtime,
        "dtype": dtype,
        "runs": [tag for tag, _, _ in per_run],
        "max_ms": max_ms,
        "n": len(common),
        "missed": {tag: m for (tag, _, _), m in zip(per_run, missed, strict=True)},
        "missed_in_every_run": sorted(set.intersection(*(set(m) for m in missed))) if missed else [],
        "error_correlation": corr,
        "layers": [
            {
                "layer": label(k),
                "mean_err_pct": mean,
                "models": sorted({name.split("/", 1)[1] for name, _ in v}),
                "entry_us_by_out_ch": [
                    {str(o): round(1000 * ms, 2) for o, ms in siblings(lut.entries, k).items()}
                    for lut in luts
                    if k in lut.entries
                ],
            }
            for k, (mean, v) in ranked
        ],
    }


def _ctx(run: dict, runtime: str, dtype: str) -> dict | None:
    return next(
        (
            c
            for c in run["contexts"]
            if c["scale"] == "toy"
            and c["runtime"] == runtime
            and c["dtype"] == dtype
            and c.get("status") == "ok"
        ),
        None,
    )


def render_md(entries: list[dict]) -> str:
    lines = [
        "# Toy-scale misses: do they reproduce, and which layers do they share (no new timing)",
        "",
        "`python -m benchmarks.toy_residuals` - see its docstring. Scored models under `max_ms`; "
        "`layers`: the layers whose models miss most on average, each with its standalone entry (us) "
        "next to the stored keys that differ only in output width, one dict per run.",
        "",
    ]
    for e in entries:
        lines += [
            f"## {e['runtime']} {e['dtype']} - runs {', '.join(e['runs'])}",
            "",
            f"- {e['n']} models; per-model error correlation between two runs (mean over pairs): "
            + (f"{e['error_correlation']:.2f}" if e["error_correlation"] is not None else "-"),
            "- missed (>10%): "
            + "; ".join(f"{tag}: {', '.join(m) or '-'}" for tag, m in e["missed"].items()),
            f"- missed in every run: {', '.join(e['missed_in_every_run']) or '-'}",
            "",
            "| layer | mean error of its models | models | entry (us) by output width, per run |",
            "| --- | --- | --- | --- |",
        ]
        for la in e["layers"]:
            lines.append(
                f"| {la['layer']} | {la['mean_err_pct']:+.1f}% | {', '.join(la['models'])} | "
                f"{' / '.join(str(d) for d in la['entry_us_by_out_ch'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def parse_run(text: str) -> tuple[Path, int, Path]:
    try:
        results, run, store = text.split(":", 2)
        return Path(results), int(run), Path(store)
    except ValueError:
        raise SystemExit(f"--run {text!r}: expected RESULTS.json:RUN:STORE_FOLDER") from None


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--context", required=True, help="runtime:dtype, e.g. litert:fp32")
    ap.add_argument("--run", action="append", required=True, help="RESULTS.json:RUN:STORE_FOLDER (repeat)")
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--max-ms", type=float, default=0.2, help="score only models measured under this")
    ap.add_argument("--out", type=Path, default=RESULTS / "toy_residuals")
    args = ap.parse_args(argv)
    runtime, _, dtype = args.context.partition(":")
    runs = [parse_run(r) for r in args.run]
    for results, _, _ in runs:
        if not results.exists():
            raise SystemExit(f"{results} does not exist; pass the results file the run was written to")
    new = [analyse(runs, runtime, dtype, args.top, args.max_ms)]
    entries = write_entries(
        args.out,
        "toy_residuals",
        new,
        lambda e: (e["runtime"], e["dtype"]) == (runtime, dtype),
        render_md,
    )
    print(render_md(new))
    return entries


if __name__ == "__main__":
    main()
