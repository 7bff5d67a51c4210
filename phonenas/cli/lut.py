"""`phonenas lut ...`: collect, inspect, validate and use measured block latency tables.

Thin commands over :mod:`latency`: context selection (:mod:`latency.selection`), the device -> meter
factory (:mod:`latency.devices`), store summaries (:mod:`latency.summary`) and predictions
(:meth:`latency.lut.Prediction.to_dict`) live there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from phonenas.cli.options import (
    DEFAULT_EXPORT_WORKERS,
    AdbHostOption,
    AdbPortOption,
    CacheOption,
    CooldownOption,
    DeviceFilter,
    DeviceOption,
    DevicesOption,
    DtypeFilter,
    DtypeOption,
    ExportWorkersOption,
    InputHwOption,
    RemeasureOption,
    RoundsOption,
    RunnerOption,
    RunsOption,
    RuntimeFilter,
    RuntimeOption,
    StoreOption,
    ThreadsFilter,
    ThreadsOption,
    WarmupOption,
)
from phonenas.cli.progress import BarProgress, progress_bar
from phonenas.console import LOG_NAME, quiet_console
from phonenas.errors import PhoneNASError

if TYPE_CHECKING:
    from latency.devices import MeterOptions
    from latency.progress import BlockProgress

app = typer.Typer(
    help=(
        "Block latency lookup tables measured on real runtimes.\n\n"
        "Examples:\n\n"
        "  phonenas lut collect --device host --runtime executorch --dtype int8 --space digits\n\n"
        "  phonenas lut show\n\n"
        "  phonenas lut predict fbnetv2_f1 --runtime executorch --dtype int8\n\n"
        "  phonenas lut validate --runtime executorch --dtype fp32 --n 20"
    ),
    no_args_is_help=True,
)
_out = Console()


def _lut_names(runtime: str, dtype: str) -> tuple[str, Any]:
    """(target name, LUT dtype) for what the user typed; one-line error naming the choices."""
    from latency.keys import resolve_lut

    try:
        return resolve_lut(runtime, dtype)
    except ValueError as e:
        raise PhoneNASError(str(e)) from None


def _runner(path: Path | None, runtime: str) -> Any:
    """A native runner binary for phones: LiteRT's benchmark_model or ExecuTorch's executor_runner."""
    from latency.devices import native_runner

    try:
        return native_runner(path, runtime)
    except ValueError as e:
        raise PhoneNASError(str(e)) from None


def _meters(devices: list[str], options: MeterOptions) -> list:
    """Meters for the devices, each reachable and ready (checked before any work starts)."""
    from latency.devices import meters_for

    try:
        return meters_for(devices, options)
    except ValueError as e:
        raise PhoneNASError(str(e)) from None


def _can_time(meters, runtime: str) -> None:
    from latency.devices import check_can_time
    from latency.meters import RuntimeUnavailable

    try:
        check_can_time(meters, runtime)
    except RuntimeUnavailable as e:
        raise PhoneNASError(str(e)) from None


def _filter(device: str | None, runtime: str | None, dtype: str | None, threads: int | None):
    from latency.selection import ContextFilter

    try:
        return ContextFilter(device, runtime, dtype, threads)
    except ValueError as e:
        raise PhoneNASError(str(e)) from None


def _keys_for(space: str | None, archs: list[str], num_classes: int | None = None):
    from latency.keys import keys_from_archs, keys_from_layers

    keys = []
    if space:
        from search.space import get_space

        keys += keys_from_layers(get_space(space, num_classes).candidate_layers())
    if archs:
        from search.zoo import resolve_arch

        keys += keys_from_archs([resolve_arch(a) for a in archs])
    return list(dict.fromkeys(keys))


_COMMAND = re.compile(r" \| cmd=.*?(?= \| (?:rc|stderr)=|$)")


def _remeasure_line(rep) -> str | None:
    """What a collection re-measured and why, and what to do about blocks still unstable (None: nothing)."""
    if not (rep.remeasured or rep.contended or rep.unstable):
        return None
    said = (
        f"re-measured {rep.remeasured}x ({rep.contended} timing(s) dropped because they waited for a CPU, "
        "the others because the drift reference moved)"
    )
    if rep.unstable:
        said += (
            f"; {rep.unstable} block(s) kept although still unstable: with the device quiet, collect again "
            "into a new --store to time them afresh"
        )
    return said


def _brief(error: str) -> str:
    """First line of a stored failure, without the device command android_bench errors carry."""
    return _COMMAND.sub("", error.splitlines()[0] if error else "")


@app.command()
def collect(
    device: DevicesOption = None,
    runtime: RuntimeOption = "executorch",
    dtype: DtypeOption = "fp32",
    space: Annotated[
        str | None, typer.Option("--space", help="Search space preset whose candidate layers to measure.")
    ] = None,
    num_classes: Annotated[
        int | None,
        typer.Option(
            "--num-classes", min=1, help="Classes of the data the search will run on (default: the preset's)."
        ),
    ] = None,
    arch: Annotated[
        list[str] | None,
        typer.Option("--arch", help="Also measure the layers of ARCH (zoo name, arch string, JSON)."),
    ] = None,
    store: StoreOption = Path("lut"),
    cache: CacheOption = None,
    threads: ThreadsOption = 1,
    cpus: Annotated[
        str, typer.Option("--cpus", help="Pin timing to these host CPUs, e.g. '1' or '0,1'.")
    ] = "",
    runs: RunsOption = None,
    warmup: WarmupOption = None,
    cooldown: CooldownOption = None,
    remeasure: RemeasureOption = None,
    rounds: RoundsOption = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N keys (quick trial).")] = None,
    budget_min: Annotated[
        float | None,
        typer.Option(
            "--budget-min",
            help="Measure a designed sample, then the layers the learned block model is least sure of, "
            "for about this many minutes (or until its held-out error stops improving); store "
            "predictions for the rest. For spaces too large to measure (fbnetv2-f). One device.",
        ),
    ] = None,
    sample: Annotated[
        int, typer.Option("--sample", help="With --budget-min: size of the designed first sample.")
    ] = 200,
    export_workers: ExportWorkersOption = DEFAULT_EXPORT_WORKERS,
    adb_host: AdbHostOption = None,
    adb_port: AdbPortOption = None,
    runner: RunnerOption = None,
    ios_app: Annotated[
        Path | None,
        typer.Option(
            "--ios-app",
            help="iPhones: the built PhoneNASBench.app, installed when its hash changed (docs/ios.md). "
            "Default: the app already installed on the phone.",
        ),
    ] = None,
    compute_units: Annotated[
        str,
        typer.Option(
            "--compute-units", help="iPhones, Core ML: cpuOnly | cpuAndGPU | cpuAndNeuralEngine | all."
        ),
    ] = "all",
) -> None:
    """Measure every layer a search space (or arch) can produce that the store does not have yet.

    Re-running the same command resumes: nothing stored is measured again. With --budget-min, a
    designed sample and actively chosen layers are measured and a learned block-latency model predicts
    the rest (stored as predicted entries; `lut show` and `lut predict` say how many of each).

    Examples:

      phonenas lut collect --device host --runtime executorch --dtype int8 --space digits

      phonenas lut collect --device host --runtime executorch --dtype fp32 --space fbnetv2-f --budget-min 30

      phonenas lut collect --device 00008110-001A2B3C4D5E801E --runtime coreml --dtype fp16 --space digits
      --ios-app ios/build/Build/Products/Release-iphoneos/PhoneNASBench.app   (macOS; docs/ios.md)
    """
    from latency.collect import collect as run_collect
    from latency.collect import collect_many
    from latency.devices import MeterOptions
    from latency.export import ArtifactCache
    from latency.store import LUTStore

    # cheapest checks first: names, files, then the devices (adb) - all before any key is enumerated
    rt, dt = _lut_names(runtime, dtype)
    device, arch = device or ["host"], arch or []
    if not space and not arch:
        raise PhoneNASError("nothing to collect: pass --space NAME (digits, fbnetv2-f) and/or --arch ARCH")
    if budget_min is not None and (budget_min <= 0 or len(device) != 1 or sample < 1):
        raise PhoneNASError(
            "--budget-min needs a positive number of minutes, --sample >= 1 and exactly one --device "
            "(learn one device's LUT at a time)"
        )
    native = _runner(runner, rt)
    meters = _meters(
        device,
        MeterOptions(
            threads=threads,
            cpus=cpus,
            runs=runs,
            adb_host=adb_host,
            adb_port=adb_port,
            runner=native,
            warmup=warmup,
            cooldown_s=cooldown,
            remeasure=remeasure,
            ios_app=ios_app,
            compute_units=compute_units,
            rounds=rounds,
        ),
    )
    _can_time(meters, rt)
    keys = _keys_for(space, arch, num_classes)
    keys = keys[:limit] if limit else keys
    lut = LUTStore(store)
    art = ArtifactCache(cache or store / "artifacts")
    _out.print(f"{len(keys)} layer keys, {rt} {dt.value}, store {store}")
    with quiet_console(store / LOG_NAME, _out), progress_bar(_out) as bar:
        shown = BarProgress(bar, _out, desc_width=None, info_width=60)

        def on_progress(dev: str, p: BlockProgress) -> None:
            info = f"{p.key.label()} {p.median_ms:.4f} ms" if p.median_ms is not None else p.key.label()
            shown.update(f"{dev} {p.phase}", p.done, p.total, info)

        if budget_min is not None:
            from latency.active import learn_block_latency

            learned = learn_block_latency(
                lut,
                keys,
                rt,
                dt,
                meters[0],
                art,
                budget_s=60 * budget_min,
                initial=sample,
                export_workers=export_workers,
                on_progress=lambda p: on_progress(meters[0].device_id, p),
            )
        elif len(meters) == 1:
            reports = {
                meters[0].device_id: run_collect(
                    lut,
                    keys,
                    rt,
                    dt,
                    meters[0],
                    art,
                    export_workers,
                    on_progress=lambda p: on_progress(meters[0].device_id, p),
                )
            }
        else:
            reports = collect_many(lut, keys, rt, dt, meters, art, on_progress=on_progress)
    lut.compact()
    if budget_min is not None:
        _print_learned(meters[0].device_id, learned)
        return
    failed_any = False
    for dev, rep in reports.items():
        _out.print(
            f"{dev}: measured {rep.measured}, already stored {rep.skipped}, failed {len(rep.failed)} "
            f"in {rep.elapsed_s:.0f} s ({rep.blocks_per_min:.0f} blocks/min; exports {rep.exports}, "
            f"cache hits {rep.cache_hits})"
        )
        said = _remeasure_line(rep)
        if said:
            _out.print(f"  {said}", highlight=False)
        for key, err in rep.failed[:10]:
            _out.print(f"  [red]failed[/red] {key.label()}: {_brief(err)[:160]}", highlight=False)
        failed_any |= bool(rep.failed)
    if failed_any:
        raise PhoneNASError("some layers failed (listed above); fix the cause and re-run to resume")


def _print_learned(device_id: str, rep: Any) -> None:
    """One line for a learned collection (:class:`latency.active.ActiveReport`), plus failed layers."""
    err = f"{rep.heldout_rmspe_pct[-1]:.1f}%" if rep.heldout_rmspe_pct else "-"
    stops = {
        "converged": "held-out error stopped improving",
        "budget": "time budget spent",
        "exhausted": "every layer measured",
    }
    _out.print(
        f"{device_id}: measured {rep.measured}, predicted {rep.predicted} of {rep.candidates} layers "
        f"by the block model '{rep.model or '-'}' (held-out block RMSPE {err}) in "
        f"{rep.elapsed_s / 60:.1f} min; stop: {stops.get(rep.stop, rep.stop)}"
    )
    failed = [f for r in rep.collects for f in r.failed]
    for key, e in failed[:10]:
        _out.print(f"  [red]failed[/red] {key.label()}: {_brief(e)[:160]}", highlight=False)
    if failed:
        raise PhoneNASError("some layers failed (listed above); fix the cause and re-run to resume")


@app.command()
def show(
    store: StoreOption = Path("lut"),
    runtime: RuntimeFilter = None,
    dtype: DtypeFilter = None,
    device: DeviceFilter = None,
    rows: Annotated[int, typer.Option("--rows", help="Also list the N slowest entries of each context.")] = 0,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write every row (all contexts) to this CSV file.")
    ] = None,
) -> None:
    """Summary of the store: one line per context (entries, median range, call overhead, correction).

    Example:

      phonenas lut show --runtime executorch --rows 10
    """
    from latency.store import LUTStore
    from latency.summary import slowest_entries, summarize_store

    flt = _filter(device, runtime, dtype, None)
    lut = LUTStore(store)
    if csv:
        _out.print(f"wrote {lut.export_csv(csv)}")
    if lut.frame().empty:
        raise PhoneNASError(f"the LUT store {store} is empty; run `phonenas lut collect` first")
    t = Table(title=f"LUT {store}")
    for c in ("context", "entries", "median ms", "call ms", "correction"):
        t.add_column(c, overflow="fold")
    for s in summarize_store(lut, flt):
        corr = s.correction
        t.add_row(
            s.context.label(),
            f"{s.entries} (+{s.predicted} predicted)" if s.predicted else str(s.entries),
            f"{s.median_min_ms:.4f}-{s.median_max_ms:.4f}" if s.entries else "-",
            f"{s.call_ms:.4f}" if s.call_ms is not None else "-",
            f"call {corr.call_ms:.4f} ms + {corr.io_ms_per_melem:.3f} ms/Melem ({corr.method})"
            if corr
            else "-",
        )
        if rows and s.entries:
            entries = Table(title=s.context.label())
            for c in ("layer", "median ms", "p10", "p90", "n"):
                entries.add_column(c)
            for e in slowest_entries(lut, s.context, rows):
                entries.add_row(
                    e.key.label(), f"{e.median_ms:.4f}", f"{e.p10_ms:.4f}", f"{e.p90_ms:.4f}", str(e.n)
                )
            _out.print(entries)
    _out.print(t)


@app.command()
def predict(
    arch: Annotated[str, typer.Argument(help="Zoo name, arch string or arch JSON path.")],
    store: StoreOption = Path("lut"),
    runtime: RuntimeFilter = None,
    dtype: DtypeFilter = None,
    device: DeviceFilter = None,
    threads: ThreadsFilter = None,
    interpolate: Annotated[
        bool, typer.Option("--interpolate", help="Estimate missing layers from neighbours.")
    ] = False,
    input_hw: InputHwOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the breakdown as JSON.")] = False,
) -> None:
    """Predicted latency of ARCH from the LUT, with a per-layer breakdown.

    Example:

      phonenas lut predict "r32:stem_k3_c16_s2_hs:ir_k3_e3_c24_s2:head_c96_hs:n10" -r executorch -d int8
    """
    from latency.lut import LUT
    from latency.selection import select_context
    from search.zoo import resolve_arch

    spec = resolve_arch(arch)
    if input_hw:
        spec = spec.with_input_hw(input_hw)
    lut_store, ctx = select_context(store, _filter(device, runtime, dtype, threads))
    pred = LUT.from_store(lut_store, ctx).predict(spec, interpolate=interpolate)
    if as_json:
        _out.print_json(json.dumps(pred.to_dict()))
        return
    t = Table(title=f"{arch} on {ctx.label()}")
    for c in ("layer", "key", "entry ms", "cost ms", "share", "source"):
        t.add_column(c)
    total = pred.latency_ms or 1.0
    for lc in pred.layers:
        t.add_row(
            lc.name,
            lc.key.label(),
            f"{lc.measured_ms:.4f}",
            f"{lc.cost_ms:.4f}",
            f"{100 * lc.cost_ms / total:.1f}%",
            lc.source if lc.source != "interpolated" else "[yellow]interpolated[/yellow]",
        )
    if pred.spill_ms:
        t.add_row(
            "cache spill",
            "model weights",
            "",
            f"{pred.spill_ms:.4f}",
            f"{100 * pred.spill_ms / total:.1f}%",
            "",
        )
    t.add_row(
        "overhead",
        "per-model call",
        "",
        f"{pred.overhead_ms:.4f}",
        f"{100 * pred.overhead_ms / total:.1f}%",
        "",
    )
    _out.print(t)
    if pred.extrapolated:
        _out.print(f"[yellow]warning:[/yellow] {pred.extrapolated}", highlight=False)
    _out.print(
        f"predicted latency: [bold]{pred.latency_ms:.4f} ms[/bold] (plain sum {pred.plain_sum_ms:.4f} ms; "
        f"correction: {pred.correction.method})"
        + (" [yellow]includes interpolated layers[/yellow]" if pred.interpolated else "")
    )
    counts = pred.counts
    _out.print(
        f"layers: {counts.get('lut', 0)} measured, {counts.get('predicted', 0)} predicted by the block model"
        + (f", {counts['interpolated']} interpolated" if counts.get("interpolated") else "")
    )


@app.command()
def validate(
    runtime: RuntimeOption = "executorch",
    dtype: DtypeOption = "fp32",
    space: Annotated[
        str, typer.Option("--space", help="Search space to sample random archs from.")
    ] = "digits",
    n: Annotated[int, typer.Option("--n", help="Random validation archs.")] = 20,
    calib: Annotated[
        int, typer.Option("--calib", help="Random calibration archs (for the boundary correction).")
    ] = 8,
    zoo: Annotated[bool, typer.Option("--zoo/--no-zoo", help="Also validate on the zoo models.")] = True,
    zoo_hw: Annotated[int, typer.Option("--zoo-hw", help="Input resolution for the zoo models.")] = 64,
    seed: Annotated[int, typer.Option("--seed", help="RNG seed for sampling archs.")] = 0,
    zoo_calib: Annotated[
        str,
        typer.Option(
            "--zoo-calib",
            help="Comma list of zoo models used for calibration only (not scored), "
            "e.g. fbnetv2_f1,mobilenetv3_small.",
        ),
    ] = "",
    zoo_span: Annotated[
        int,
        typer.Option(
            "--zoo-span",
            min=0,
            help="Calibration models spread over the zoo models' sizes (fbnetv2-f children at --zoo-hw, "
            "not scored), so the zoo is not predicted outside the correction's fitted range; 0: none.",
        ),
    ] = 6,
    edges: Annotated[
        int,
        typer.Option(
            "--edges",
            min=0,
            help="That many heavy (higher-resolution) and as many short (skipped-block) children of --space "
            "for calibration, not scored, so that its heaviest and shortest random archs are not predicted "
            "outside the correction's fitted range; use it at real scale (--space fbnetv2-f); 0: none.",
        ),
    ] = 0,
    device: DeviceOption = "host",
    runs: RunsOption = None,
    warmup: WarmupOption = None,
    cooldown: CooldownOption = None,
    remeasure: RemeasureOption = None,
    rounds: RoundsOption = None,
    adb_host: AdbHostOption = None,
    adb_port: AdbPortOption = None,
    runner: RunnerOption = None,
    fit_spill: Annotated[
        bool,
        typer.Option(
            "--fit-spill",
            help="Also fit the cache-spill term (whole models with more weights than the caches keep); "
            "needs large calibration models (--zoo-span, --zoo-calib).",
        ),
    ] = False,
    store: StoreOption = Path("lut"),
    cache: CacheOption = None,
    threads: ThreadsOption = 1,
    export_workers: ExportWorkersOption = DEFAULT_EXPORT_WORKERS,
    out: Annotated[Path | None, typer.Option("--out", help="Write the full result as JSON here.")] = None,
) -> None:
    """Measure random archs (+ zoo) whole vs. the LUT prediction on the host: RMSE, RMSPE, within +-5/10/15%.

    Fits and stores the boundary correction of this context on separate calibration archs.

    Example:

      phonenas lut validate --runtime executorch --dtype int8 --n 20

      phonenas lut validate --runtime executorch --dtype fp32 \\
          --zoo-calib fbnetv2_f1,fbnetv2_l1,mobilenetv3_small --fit-spill

      phonenas lut validate --device R58M12ABCDE --runtime executorch --dtype int8 --n 10 --no-zoo

      phonenas lut validate --space fbnetv2-f --no-zoo --edges 2 --fit-spill --runtime executorch --dtype fp32

    The correction is stored per device and context: run this once per phone so its LUT predicts whole models.
    """
    from latency.devices import MeterOptions
    from latency.export import ArtifactCache
    from latency.store import LUTStore
    from latency.validate import sample_validation_archs
    from latency.validate import validate as run_validate

    rt, dt = _lut_names(runtime, dtype)
    zoo_cal = [z.strip() for z in zoo_calib.split(",") if z.strip()]
    if zoo_cal and not zoo:
        raise PhoneNASError("--zoo-calib needs the zoo models; drop --no-zoo")
    (meter,) = _meters(
        [device],
        MeterOptions(
            threads=threads,
            runs=runs,
            adb_host=adb_host,
            adb_port=adb_port,
            runner=_runner(runner, rt),
            warmup=warmup,
            cooldown_s=cooldown,
            remeasure=remeasure,
            rounds=rounds,
        ),
    )
    _can_time([meter], rt)
    val, cal = sample_validation_archs(space, n, calib, seed, zoo, zoo_hw, zoo_cal, zoo_span, edges)
    with quiet_console(store / LOG_NAME, _out), progress_bar(_out) as bar:
        on_progress = BarProgress(bar, _out, desc_width=None).update

        res = run_validate(
            LUTStore(store),
            val,
            cal,
            rt,
            dt,
            meter,
            ArtifactCache(cache or store / "artifacts"),
            export_workers,
            on_progress,
            fit_weights=fit_spill,
        )
    t = Table(title=f"LUT accuracy on {res.context.label()} ({n} random + {'zoo' if zoo else 'no zoo'})")
    for c in ("predictor", "n", "RMSE ms", "RMSPE %", "<=5%", "<=10%", "<=15%"):
        t.add_column(c)
    for p in res.predictors:
        m = res.metrics(p)
        t.add_row(
            p,
            str(m.n),
            f"{m.rmse_ms:.4f}",
            f"{m.rmspe_pct:.1f}",
            f"{m.within_5_pct:.0f}%",
            f"{m.within_10_pct:.0f}%",
            f"{m.within_15_pct:.0f}%",
        )
    _out.print(t)
    far = [m.name for m in res.models if m.role == "validation" and m.extrapolated]
    if far:
        _out.print(
            f"[yellow]warning:[/yellow] {len(far)} scored model(s) outside the correction's calibration "
            f"range ({', '.join(far)}): their {res.predictors[-1]} predictions extrapolate it - "
            "calibrate on models like them (--edges N for the space's children; --zoo-calib NAMES, "
            "--zoo-span for the zoo) before trusting those to 10%",
            highlight=False,
        )
    if out:
        out.write_text(json.dumps(res.to_dict(), indent=1))
        _out.print(f"wrote {out}")
