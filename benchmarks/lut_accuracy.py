"""LUT accuracy on the host at toy and real scale, in independent runs from an empty store.

Per run (each into its own, new store: a fresh collection), per scale, per (runtime, dtype) context:
collect the blocks the models need and time every model whole among them, in the same interleaved
rounds (drift reference on: ``latency.validate.validate``), fit the boundary correction (+ cache
spill) on calibration models that are never scored, and score the validation models (predicted at the
reference ratio of their measurement):

- ``real``: ``--real-n`` random ``fbnetv2-f`` children spread over 128/160/192/224 px, FBNetV2-F1..F4 at
  their published resolutions, MobileNetV3-Small/Large at 224 px, and the five architectures of
  ``benchmarks/mobile_archs.py`` (neither zoo nor space members) spread over 96..224 px; calibration:
  ``--real-calib`` other ``fbnetv2-f`` children spread from the lightest to the heaviest weights
  (``latency.validate.calibration_children``) over the same resolutions, ``--real-light`` children
  narrowed below the space's lightest, and (since run 19) ``--real-heavy`` children above 224 px at 2x
  the heaviest validation model's MACs and ``--real-short`` children with skips down to fewer blocks
  than MobileNetV3-Small, at 96 and 224 px (``latency.validate.edge_children``): runs 16-18 scored
  ProxylessNAS@224, MobileNetV3-Small and MobileNetV2@96 outside the correction's fitted range.
- ``toy``: random ``digits`` children + the zoo at 64 px (calibration: other random digits children and
  ``--toy-span`` ``fbnetv2-f`` children at 64 px over the zoo's range of weights - never zoo models - so the
  zoo is scored inside the correction's fitted range: ``latency.validate.zoo_span_children``).

``--drift`` also starts a competing CPU load (``--drift-per-cpu`` busy processes per CPU, default 2)
``--drift-start-s`` seconds into each collection's timing phase (after its exports) and stops it
``--drift-len-s`` later, to show the predictions hold through it. One busy process per CPU is not
enough on a 2-core Linux VM: the scheduler gives the one timing thread a core of its own (a 2.4 ms
model read 2.42 ms idle and 2.45 ms under it), two per CPU read it 2.65x slower, four 6x. The small
drift reference does not slow down under such a load (its calls fit in a scheduler slice); the host
meter's run-queue wait check re-measures what it hit (the table's ``contended`` count).

    python -m benchmarks.lut_accuracy --runs 3 --scales toy real --work /tmp/phonenas-lut-acc

Writes ``--out`` .json/.md after every context (default benchmarks/results/lut_accuracy). Every run
records the settings, the machine and the load average before and after; a smoke run (small ``--*-n``)
says so in its settings - do not present it as the full benchmark.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from latency.collect import MODEL_READINGS

if TYPE_CHECKING:
    from search.arch import ArchSpec

RESULTS = Path(__file__).resolve().parent / "results"
CONTEXTS = ("executorch:fp32", "executorch:int8", "litert:fp32")
REAL_RES = (128, 160, 192, 224)
OTHER_RES = (96, 128, 160, 192, 224)
FBNET_F = ("fbnetv2_f1", "fbnetv2_f2", "fbnetv2_f3", "fbnetv2_f4")
ROUNDS = 5  # default interleaved timing rounds (--rounds)
OLD_ROUNDS = 3  # what rows recorded without a round count were timed in (the default before edc863c)


def real_set(n: int, calib: int, seed: int, others: int = 5, light: int = 3, heavy: int = 2, short: int = 2):
    """(validation, calibration) lists of (name, ArchSpec) at real scale (see the module docstring)."""
    from benchmarks.mobile_archs import TABLES, mobile_arch
    from search.zoo import get_arch

    extra = [(name, get_arch(name)) for name in FBNET_F]
    extra += [
        (f"{name}@224", get_arch(name, input_hw=224)) for name in ("mobilenetv3_small", "mobilenetv3_large")
    ]
    for i, name in enumerate(list(TABLES)[:others]):
        hw = OTHER_RES[(i + seed) % len(OTHER_RES)]
        extra.append((f"{name}@{hw}", mobile_arch(name, hw)))
    return space_set("fbnetv2-f", n, calib, seed, light, extra, REAL_RES, heavy, short)


def space_set(
    space_name: str,
    n: int,
    calib: int,
    seed: int,
    light: int = 3,
    extra: Sequence[tuple[str, ArchSpec]] = (),
    resolutions: Sequence[int] = (),
    heavy: int = 0,
    short: int = 0,
):
    """(validation, calibration) lists of (name, ArchSpec): ``n`` random children of ``space_name``
    spread over ``resolutions`` (default: the space's), then ``extra``; calibration: ``calib`` other
    children spread from the lightest to the heaviest weights over the same resolutions, and ``light``
    children narrowed down to 85% of the lightest validation model's weights; then ``heavy`` and ``short``
    children at the validation set's edges (:func:`latency.validate.edge_children`)."""
    import torch

    from latency.lut import arch_mparams
    from latency.validate import calibration_children, edge_children, light_children
    from search.space import get_space

    space = get_space(space_name)
    res = tuple(resolutions) or tuple(space.resolutions)
    g = torch.Generator().manual_seed(seed)
    seen: set = set()
    rand: list[ArchSpec] = []
    while len(rand) < n:
        a = space.sample_arch(g).with_input_hw(res[len(rand) % len(res)])
        if a not in seen:
            seen.add(a)
            rand.append(a)
    val = [(f"rand{i}@{a.input_hw}", a) for i, a in enumerate(rand)] + list(extra)
    # calibration: children spread over the space's weights (lightest to heaviest), resolutions in
    # turn along that order so that size and resolution both vary
    spread = calibration_children(space, calib, g, [a.with_input_hw(r) for a in rand for r in res])
    picked = [a.with_input_hw(res[i % len(res)]) for i, a in enumerate(spread)]
    cal = [(f"calib{i}@{a.input_hw}", a) for i, a in enumerate(picked) if a not in seen]
    # and narrowed children down to 85% of the lightest validation model's weights: the spill's knot
    # is then placed where those models are, not extrapolated to them
    lo = 0.85 * min(arch_mparams(a) for _, a in val)
    thin = light_children(space, light, g, lo, [a for _, a in cal] + [a for _, a in val])
    for i, a in enumerate(thin):
        hw = res[(i + 1) % len(res)]
        cal.append((f"light{i}@{hw}", a.with_input_hw(hw)))
    # and the edges the spread does not reach: heavier (higher resolution) and shorter (skips) children
    edges = edge_children(space, g, [a for _, a in val], [a for _, a in cal], heavy, short)
    for i, (kind, a) in enumerate(edges):
        cal.append((f"{kind}{i}@{a.input_hw}", a))
    return val, cal


def toy_set(n: int, calib: int, seed: int, zoo: bool = True, span: int = 6):
    from latency.validate import sample_validation_archs

    return sample_validation_archs("digits", n, calib, seed, zoo, 64, zoo_span=span)


class CompetingLoad:
    """``per_cpu`` busy processes per CPU from ``start_s`` to ``start_s + length_s`` after :meth:`arm`
    (the collection's timing phase began: a load during its exports would test nothing)."""

    def __init__(self, start_s: float, length_s: float, per_cpu: int = 2) -> None:
        if per_cpu < 1:
            raise ValueError(f"per_cpu must be >= 1, got {per_cpu}")
        self.start_s, self.length_s, self.per_cpu = start_s, length_s, per_cpu
        self.procs: list[subprocess.Popen] = []
        self.events: list[tuple[str, float]] = []
        self._stop = threading.Event()
        self._armed = threading.Event()
        self._lock = threading.Lock()

    def arm(self) -> None:
        """Start counting ``start_s`` (once; later calls do nothing)."""
        if not self._armed.is_set():
            self.events.append(("timing started", time.time()))
            self._armed.set()

    def _run(self) -> None:
        while not self._armed.wait(0.5):
            if self._stop.is_set():
                return
        if self._stop.wait(self.start_s):
            return
        code = f"import time\nend = time.time() + {self.length_s:f}\nwhile time.time() < end: pass\n"
        n = self.per_cpu * (os.cpu_count() or 1)
        with self._lock:
            if self._stop.is_set():
                return
            self.procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]
            self.events.append((f"load on ({n} processes)", time.time()))
        self._stop.wait(self.length_s)
        self.stop()

    def start(self) -> CompetingLoad:
        self.t0 = time.time()
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop the load (idempotent: the caller and the load's own timer may both call it)."""
        self._stop.set()
        with self._lock:
            procs, self.procs = self.procs, []
            if procs:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(timeout=10)
                self.events.append(("load off", time.time()))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="independent runs, each from an empty store")
    ap.add_argument("--scales", nargs="*", default=["toy", "real"], choices=["toy", "real"])
    ap.add_argument("--contexts", nargs="*", default=list(CONTEXTS), help="runtime:dtype pairs")
    ap.add_argument("--real-n", type=int, default=20, help="random fbnetv2-f validation children")
    ap.add_argument("--real-calib", type=int, default=8, help="random fbnetv2-f calibration children")
    ap.add_argument(
        "--real-light",
        type=int,
        default=3,
        help="narrowed fbnetv2-f children (calibration) from 85%% of the lightest validation model's weights",
    )
    ap.add_argument(
        "--real-heavy",
        type=int,
        default=2,
        help="fbnetv2-f children (calibration) above the validation set's highest resolution, at 2x its "
        "heaviest model's MACs (latency.validate.edge_children; 0 before run 19)",
    )
    ap.add_argument(
        "--real-short",
        type=int,
        default=2,
        help="fbnetv2-f children (calibration) with skips down to 2 blocks fewer than the validation model "
        "with the fewest, at its lowest and highest resolutions (0 before run 19)",
    )
    ap.add_argument("--real-others", type=int, default=5, help="architectures of mobile_archs.py (0-5)")
    ap.add_argument(
        "--real-known",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="FBNetV2-F1..F4 and MobileNetV3-S/L in the real set",
    )
    ap.add_argument("--toy-n", type=int, default=20)
    ap.add_argument("--toy-calib", type=int, default=8)
    ap.add_argument(
        "--toy-span",
        type=int,
        default=6,
        help="calibration models over the zoo's sizes (0: digits children only)",
    )
    ap.add_argument(
        "--toy-zoo", action=argparse.BooleanOptionalAction, default=True, help="zoo models at 64 px"
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the random children")
    ap.add_argument(
        "--vary-models",
        action="store_true",
        help="run i samples its models with seed + i (default: every run scores the same models, so "
        "the runs differ only in what was measured and the exports are shared: ~1/3 of the time)",
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--rounds",
        type=int,
        default=None,
        help=f"interleaved timing rounds (HostMeter.rounds; default {ROUNDS} - on the 2-core VM 3 rounds "
        "kept a slow reading for 23-68%% of the int8 blocks and, on a noisy afternoon, put 7 of 31 fp32 "
        "models 10-13%% off)",
    )
    ap.add_argument(
        "--model-readings",
        type=int,
        default=MODEL_READINGS,
        help="readings of each whole model per round, the fastest kept (latency.collect.MODEL_READINGS)",
    )
    ap.add_argument("--export-workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument(
        "--models-after",
        action="store_true",
        help="also time the validation models again after the collection (rounds of their own, the "
        "drift reference on) and score them against the same LUT: among-the-blocks vs after, one run",
    )
    ap.add_argument(
        "--settle-rounds",
        type=int,
        default=None,
        help="drift reference settle rounds (latency.reference.DriftReference; default: its default)",
    )
    ap.add_argument("--drift", action="store_true", help="competing CPU load mid-collection")
    ap.add_argument("--drift-start-s", type=float, default=30.0)
    ap.add_argument("--drift-len-s", type=float, default=60.0)
    ap.add_argument(
        "--drift-per-cpu",
        type=int,
        default=2,
        help="busy processes per CPU for --drift (1 did not slow a pinned timing thread on the 2-core VM)",
    )
    ap.add_argument(
        "--work", type=Path, default=Path("/tmp/phonenas-lut-acc"), help="stores + artifact cache"
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "lut_accuracy")
    ap.add_argument("--first-run", type=int, default=0, help="number the runs from this index")
    ap.add_argument(
        "--append",
        action="store_true",
        help="keep --out's runs and add (or replace) these (run, scale, runtime, dtype) results: one "
        "context at a time on a machine that is idle only in stretches",
    )
    args = ap.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        ap.error(f"--rounds must be >= 1, got {args.rounds}")
    if args.drift_per_cpu < 1:
        ap.error(f"--drift-per-cpu must be >= 1, got {args.drift_per_cpu}")
    _commit()  # the code this process runs (see _commit)

    from latency.export import ArtifactCache, toolchain_versions

    out: dict = {
        "benchmark": "lut_accuracy",
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "toolchain": toolchain_versions(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "target": ">= 95% of models within +-10% in each run, per context, at both scales",
        "load_avg_start": os.getloadavg(),
        "runs": [],
    }
    previous = args.out.with_suffix(".json")
    if args.append and previous.is_file():
        out["runs"] = [r for r in json.loads(previous.read_text()).get("runs", []) if "run" in r]
    settings = {k: out[k] for k in ("settings", "load_avg_start")}
    cache = ArtifactCache(args.work / "artifacts")  # exports are shared; measurements never are
    for i in range(args.first_run, args.first_run + args.runs):
        seed = args.seed + i if args.vary_models else args.seed
        run = next((r for r in out["runs"] if r["run"] == i), None)
        if run is None:
            run = {"run": i, "seed": seed, "contexts": []}
            out["runs"] = sorted([*out["runs"], run], key=lambda r: r["run"])
        elif run.get("seed") != seed:
            raise SystemExit(
                f"--append: run {i} of {previous} scored the models of seed {run.get('seed')}, not {seed}"
            )
        root = args.work / f"run{i}-{time.strftime('%Y%m%d-%H%M%S')}"
        for scale in args.scales:
            if scale == "real":
                val, cal = real_set(
                    args.real_n,
                    args.real_calib,
                    seed,
                    args.real_others,
                    args.real_light,
                    args.real_heavy,
                    args.real_short,
                )
                if not args.real_known:
                    val = [(n, a) for n, a in val if not n.startswith(("fbnetv2", "mobilenetv3"))]
            else:
                val, cal = toy_set(args.toy_n, args.toy_calib, seed, args.toy_zoo, args.toy_span)
            for spec in args.contexts:
                entry = run_context(spec, scale, val, cal, root / scale, cache, args)
                entry |= settings | {"finished": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
                same = (entry["scale"], entry["runtime"], entry["dtype"])
                run["contexts"] = [
                    c for c in run["contexts"] if (c["scale"], c["runtime"], c["dtype"]) != same
                ] + [entry]
                out["load_avg_end"] = os.getloadavg()
                _write(out, args.out)
                print(
                    f"run {i} {scale} {spec}: {entry['status']} within10 {entry.get('within10_pct')}%",
                    flush=True,
                )
    return out


def run_context(spec: str, scale: str, val, cal, root: Path, cache, args) -> dict:
    from latency.collect import ReferenceSettings
    from latency.keys import resolve_lut
    from latency.meters import HostMeter, RuntimeUnavailable, check_runtime_on_host, host_cpu_label
    from latency.store import LUTStore
    from latency.validate import validate

    rt_name, dt_name = spec.split(":")
    runtime, dtype = resolve_lut(rt_name, dt_name)
    entry: dict = {
        "runtime": rt_name,
        "dtype": dtype.value,
        "scale": scale,
        "n": len(val),
        "commit": _commit(),
        "cpu": host_cpu_label(),
        # since this commit's parent the models were timed after the collection, in rounds of their own
        "models_timed": "among the blocks, in the collection's rounds",
    }
    store = LUTStore(root / f"{runtime}-{dtype.value}")
    if store.parts():
        raise SystemExit(
            f"{store.root} is not empty: every run starts from an empty store; use another --work"
        )
    t0 = time.time()
    load = None
    if args.drift:
        load = CompetingLoad(args.drift_start_s, args.drift_len_s, args.drift_per_cpu).start()
    try:
        check_runtime_on_host(runtime)
        entry["rounds"] = rounds = rounds_for(args.rounds)
        meter = HostMeter(args.threads, rounds=rounds)
        res = validate(
            store,
            val,
            cal,
            runtime,
            dtype,
            meter,
            cache,
            args.export_workers,
            on_progress=_printer(f"{scale} {spec}", load),
            fit_weights=True,
            model_readings=args.model_readings,
            reference=None
            if args.settle_rounds is None
            else ReferenceSettings(settle_rounds=args.settle_rounds),
        )
        entry["runtime"] = str(res.context.runtime)  # the context's name (litert for tflite)
        best = res.predictors[-1]
        m = res.metrics(best)
        entry.update(
            predictor=best,
            within10_pct=m.within_10_pct,
            rmspe_pct=m.rmspe_pct,
            within5_pct=m.within_5_pct,
            status="ok",
        )
        entry["correction"] = res.to_dict()["correction"]
        entry["models"] = [
            {
                "name": x.name,
                "role": x.role,
                "measured_ms": x.measured_ms,
                "predicted_ms": x.predicted_ms[best],
                "ref_ratio": x.ref_ratio,
                "remeasured": x.remeasured,
                "unstable": x.unstable,
                "extrapolated": x.extrapolated,
            }
            for x in res.models
        ]
        entry["extrapolated"] = [x.name for x in res.models if x.role == "validation" and x.extrapolated]
        if args.models_after:
            entry["after"] = models_after(store, res.context, val, runtime, dtype, meter, cache, args)
        rep = res.collect_report
        if rep is not None:
            entry["collect"] = {
                "measured": rep.measured,
                "failed": len(rep.failed),
                "export_s": rep.export_s,
                "measure_s": rep.measure_s,
                "reference_s": rep.reference_s,
                "remeasured": rep.remeasured,
                "unstable": rep.unstable,
                "contended": rep.contended,
            }
    except RuntimeUnavailable as e:
        entry.update(status="skipped", reason=str(e))
    except Exception as e:  # noqa: BLE001 - record and go on with the other contexts
        entry.update(status="error", reason=f"{type(e).__name__}: {e}")
    finally:
        if load is not None:
            load.stop()
            entry["drift_load"] = [(what, round(t - t0, 1)) for what, t in load.events]
    entry["elapsed_s"] = round(time.time() - t0, 1)
    entry["load_avg_after"] = os.getloadavg()
    return entry


def models_after(store, context, val, runtime, dtype, meter, cache, args) -> dict:
    """The validation models timed again after the collection, in rounds of their own (the drift
    reference on, relative to the LUT's nominal reading), scored against the LUT ``validate`` saved:
    how the whole-model ground truth of one collection moves with the moment it is taken."""
    from latency.lut import LUT
    from latency.stats import summarize
    from latency.validate import accuracy_metrics, measure_models

    lut = LUT.from_store(store, context)
    archs = [a for _, a in val]
    timed = measure_models(
        archs,
        runtime,
        dtype,
        meter,
        cache,
        args.export_workers,
        on_progress=_printer(f"after {runtime}:{dtype.value}"),
        nominal_ms=lut.reference_ms,
    )
    measured = [summarize(t).median_ms for t in timed]
    predicted = [
        lut.predict(a, ref_ratio=lut.scale(t.drift.ref_ratio)).latency_ms
        for a, t in zip(archs, timed, strict=True)
    ]
    m = accuracy_metrics(predicted, measured)
    return {
        "within10_pct": m.within_10_pct,
        "rmspe_pct": m.rmspe_pct,
        "models": [
            {"name": n, "measured_ms": ms, "predicted_ms": p, "ref_ratio": t.drift.ref_ratio}
            for (n, _), ms, p, t in zip(val, measured, predicted, timed, strict=True)
        ],
    }


@functools.cache
def _commit() -> str:
    """The commit this process runs: read once, when main starts (a commit made while a long benchmark
    runs must not be recorded as the code of its later contexts); ``+changes`` when the tree differed."""
    try:
        cmds = (["git", "rev-parse", "--short", "HEAD"], ["git", "status", "--porcelain", "--", "*.py"])
        head, dirty = (
            subprocess.run(c, capture_output=True, text=True, cwd=RESULTS.parent, check=True).stdout.strip()
            for c in cmds
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+changes" if dirty else "")


def _printer(label: str, load: CompetingLoad | None = None):
    """Progress lines every 30 s per phase; arms ``load`` when the timing phase begins."""
    last: dict[str, float] = {}

    def cb(phase: str, done: int, total: int) -> None:
        if load is not None and phase.startswith("measure"):
            load.arm()
        now = time.time()
        if done == total or now - last.get(phase, 0) > 30:
            last[phase] = now
            print(f"  {label} {phase}: {done}/{total}", flush=True)

    return cb


def reproducibility(out: dict) -> list[dict]:
    """Per (scale, runtime, dtype) scored in two or more runs on the same models: how far apart the runs
    put each model - its whole-model measurement (the ground truth) and its prediction. ``spread``: max
    over min across runs, minus 1; ``agree10_pct``: models whose every run lies within +-10% of that
    model's median across runs. When the measurements themselves do not agree to 10%, no predictor can
    put 95% of them within 10% in every run."""
    from statistics import median

    groups: dict[tuple, list[dict]] = {}
    for run in out["runs"]:
        for c in run["contexts"]:
            if c.get("status") == "ok" and c.get("models"):
                groups.setdefault((c["scale"], c["runtime"], c["dtype"]), []).append(c)
    rows = []
    for (scale, runtime, dtype), cs in groups.items():
        names = [m["name"] for m in cs[0]["models"] if m["role"] == "validation"]
        if len(cs) < 2 or any(
            [m["name"] for m in c["models"] if m["role"] == "validation"] != names for c in cs
        ):
            continue
        row: dict = {"scale": scale, "runtime": runtime, "dtype": dtype, "runs": len(cs), "n": len(names)}
        for what in ("measured_ms", "predicted_ms"):
            per = [[next(m[what] for m in c["models"] if m["name"] == n) for c in cs] for n in names]
            spreads = [max(v) / min(v) - 1 for v in per]
            agree = [all(abs(x / median(v) - 1) <= 0.10 for x in v) for v in per]
            worst = max(range(len(names)), key=lambda i: spreads[i])
            key = what.split("_")[0]
            row[key] = {
                "median_spread_pct": 100 * median(spreads),
                "max_spread_pct": 100 * spreads[worst],
                "max_spread_model": names[worst],
                "agree10_pct": 100 * sum(agree) / len(agree),
            }
        rows.append(row)
    return rows


def _write(out: dict, stem: Path) -> None:
    out["reproducibility"] = reproducibility(out)
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(out, indent=1))
    stem.with_suffix(".md").write_text(render_md(out))


def rounds_for(given: int | None) -> int:
    """The timing rounds of every context: ``--rounds`` where given, else :data:`ROUNDS`."""
    return ROUNDS if given is None else given


def _extrapolated(c: dict) -> str:
    """The validation models of a context scored outside the correction's calibration range."""
    names = c.get("extrapolated")
    if names is None:
        return "-"
    return f"{len(names)}: {', '.join(names)}" if names else "0"


def _rounds_text(rounds: int | None) -> str:
    return str(rounds_for(rounds))


def render_md(out: dict) -> str:
    s = out["settings"]
    lines = [
        "# LUT accuracy on the host (independent runs from an empty store)",
        "",
        f"Host `{out['host']}` ({out['platform']}, {out['cpus']} CPUs). Target: {out['target']}.",
        f"Settings of the last invocation: threads={s['threads']}, rounds={_rounds_text(s['rounds'])}, "
        f"model-readings={s.get('model_readings', 1)} per round, "
        f"real-n={s['real_n']}, real-calib={s['real_calib']}, real-others={s['real_others']}, "
        f"toy-n={s['toy_n']}, toy-calib={s['toy_calib']}, toy-span={s.get('toy_span', 0)}, seed={s['seed']}, "
        f"vary-models={s.get('vary_models', True)} (each row's own settings are in the JSON).",
        "Each row is one collection into a new, empty store; `load` is the 1-min load average before it "
        "started and after it ended; `drift` says whether a competing CPU load ran mid-collection; "
        "`commit`: the code it ran (before 2cd5669 the whole models were timed after the collection, "
        "in rounds of their own; from it, among the blocks; from fe5869f each whole model is read 3 times "
        "per round, the fastest reading kept - before, once; from 5689769 the call-overhead probe is read "
        "among the blocks and the toy calibration adds `toy-span` fbnetv2-f children over the zoo's "
        "weights). The JSON has each row's CPU from then on. `re-measured`: blocks the drift reference "
        "called unstable and, from the commit after 07a10a3, `contended` ones (their timing waited > 25% of "
        "its time for a CPU); then the models with any re-measure. `extrapolated`: validation models whose "
        "prediction applied the correction outside the range of the calibration models it was fitted on "
        "(their layer counts, entry sums and weights, +-25%), named; `-`: not recorded (before that column).",
        "",
        "| run | scale | runtime | dtype | n | within 10% | within 5% | RMSPE % | worst model (error) "
        "| re-measured blocks / models | drift | rounds | load | time s | commit | extrapolated |",
        "| --- " * 16 + "|",
    ]
    for run in out["runs"]:
        for c in run["contexts"]:
            head = f"| {run['run']} | {c['scale']} | {c['runtime']} | {c['dtype']} |"
            if c["status"] != "ok":
                lines.append(f"{head} {c['status']}: {c.get('reason', '')[:120]} ||||||||||||")
                continue
            val = [m for m in c["models"] if m["role"] == "validation"]
            worst = max(val, key=lambda m: abs(m["predicted_ms"] / m["measured_ms"] - 1))
            err = 100 * (worst["predicted_ms"] / worst["measured_ms"] - 1)
            remeasured = sum(1 for m in c["models"] if m["remeasured"])
            contended = c.get("collect", {}).get("contended")
            cs = c.get("settings", s)
            rounds = c.get("rounds") or cs.get("rounds") or OLD_ROUNDS
            load = c.get("load_avg_start", out["load_avg_start"])[0]
            lines.append(
                f"{head} {c['n']} | **{c['within10_pct']:.0f}%** | {c['within5_pct']:.0f}% | "
                f"{c['rmspe_pct']:.1f} | {worst['name']} ({err:+.1f}%) | "
                f"{c.get('collect', {}).get('remeasured', '')}"
                f"{f' ({contended} contended)' if contended else ''} / {remeasured} | "
                f"{'on' if cs.get('drift') else 'off'} | {rounds} | "
                f"{load:.1f} -> {c['load_avg_after'][0]:.1f} | "
                f"{c['elapsed_s']:.0f} | {c.get('commit', 'before 2cd5669')} | {_extrapolated(c)} |"
            )
    after = [(run["run"], c) for run in out["runs"] for c in run["contexts"] if c.get("after")]
    if after:
        lines += [
            "",
            "## Whole models timed among the blocks vs after the collection (`--models-after`)",
            "",
            "The same collection and LUT; the validation models timed whole in the collection's rounds "
            "(the scored ground truth above) and again after it, in rounds of their own.",
            "",
            "| run | scale | runtime | dtype | among the blocks: within 10% / RMSPE % | after: within 10% / "
            "RMSPE % | measured after / among (median, 5-95%) |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for i, c in after:
            among = {m["name"]: m["measured_ms"] for m in c["models"] if m["role"] == "validation"}
            r = sorted(
                m["measured_ms"] / among[m["name"]] for m in c["after"]["models"] if m["name"] in among
            )
            q = [r[round(f * (len(r) - 1))] for f in (0.5, 0.05, 0.95)]
            lines.append(
                f"| {i} | {c['scale']} | {c['runtime']} | {c['dtype']} | {c['within10_pct']:.0f}% / "
                f"{c['rmspe_pct']:.1f} | {c['after']['within10_pct']:.0f}% / {c['after']['rmspe_pct']:.1f} | "
                f"{q[0]:.3f} ({q[1]:.3f}-{q[2]:.3f}) |"
            )
    rep = reproducibility(out)
    if rep:
        lines += [
            "",
            "## Run to run: the same models in every run",
            "",
            "How far apart the runs put each validation model: its whole-model measurement (the ground "
            "truth, the quietest of the interleaved rounds) and its prediction (a new collection each run). "
            "`spread`: slowest over fastest run, minus 1; `agree`: models whose every run is within +-10% of "
            "their median across runs.",
            "",
            "| scale | runtime | dtype | runs | n | measured: median / max spread | measured: agree | "
            "predicted: median / max spread | predicted: agree |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in rep:
            m, p = r["measured"], r["predicted"]
            lines.append(
                f"| {r['scale']} | {r['runtime']} | {r['dtype']} | {r['runs']} | {r['n']} | "
                f"{m['median_spread_pct']:.1f}% / {m['max_spread_pct']:.0f}% ({m['max_spread_model']}) | "
                f"{m['agree10_pct']:.0f}% | {p['median_spread_pct']:.1f}% / {p['max_spread_pct']:.0f}% "
                f"({p['max_spread_model']}) | {p['agree10_pct']:.0f}% |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
