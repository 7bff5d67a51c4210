"""`phonenas lut ...`: collect, inspect, validate and use measured block latency tables."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import TaskID
from rich.table import Table

from phonenas.cli.progress import progress_bar
from phonenas.errors import PhoneNASError

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

STORE = typer.Option(Path("lut"), "--store", help="LUT store directory (parquet parts; created if needed).")
RUNTIME = typer.Option("executorch", "--runtime", "-r", help="executorch | litert | onnx | coreml.")
DTYPE = typer.Option("fp32", "--dtype", "-d", help="fp32 | int8 (| fp16 for coreml).")
THREADS = typer.Option(1, "--threads", help="Runtime threads while timing.")




def _keys_for(space: str | None, archs: list[str]):
    from latency.keys import keys_from_archs, keys_from_layers

    if not space and not archs:
        raise PhoneNASError("nothing to collect: pass --space NAME (digits, fbnetv2-f) and/or --arch ARCH")
    keys = []
    if space:
        from search.space import get_space

        keys += keys_from_layers(get_space(space).candidate_layers())
    if archs:
        from search.zoo import resolve_arch

        keys += keys_from_archs([resolve_arch(a) for a in archs])
    return list(dict.fromkeys(keys))


NATIVE_RUNNER = "phonenas-runner"  # --runner value: PhoneNAS's own runner, built/resolved per device ABI


def _runner(path: Path | None, runtime):
    """A native runner: phonenas-runner (executorch; ``--runner phonenas-runner`` picks the build for
    each device's ABI), or your own executor_runner (executorch) / benchmark_model (litert)."""
    import android_bench as ab
    from latency.keys import Runtime

    if path is None:
        return None  # the Python-runtime runner (devices with Python + runtimes)
    native = path.name.startswith(NATIVE_RUNNER)
    if native and Runtime(runtime) is not Runtime.EXECUTORCH:
        raise PhoneNASError(f"phonenas-runner times ExecuTorch only; use --runtime executorch, not {runtime}")
    if native and str(path) == NATIVE_RUNNER and not path.is_file():
        return NATIVE_RUNNER  # resolved per device in _meters
    if not path.is_file():
        raise PhoneNASError(f"runner {path} not found; build it as in docs/android_runners.md and pass its path")
    if native:
        return ab.NativeRunner(path)
    if Runtime(runtime) is Runtime.LITERT:
        return ab.BenchmarkModelRunner(path)
    if Runtime(runtime) is Runtime.EXECUTORCH:
        return ab.ExecutorRunner(path)
    raise PhoneNASError(f"--runner works with --runtime executorch or litert, not {Runtime(runtime).value}")


def _device_runner(runner, device):
    """Resolve ``--runner phonenas-runner`` for one device: the host build or the NDK build for its ABI."""
    import android_bench as ab

    if runner != NATIVE_RUNNER:
        return runner
    abi = "host" if isinstance(device, ab.HostDevice) else ab.read_device_info(device).abi
    try:
        return ab.NativeRunner(ab.native.runner_for_abi(abi))
    except ab.NativeBuildError as e:
        raise PhoneNASError(str(e)) from None


def _meters(
    devices: list[str], threads: int, cpus: str, runs: int | None, adb_host: str | None, adb_port: int | None,
    runner=None,
):
    import android_bench as ab
    from latency.keys import parse_core_mask
    from latency.meters import DeviceMeter, HostMeter, Meter
    from latency.timer import TimingProtocol

    meters: list[Meter] = []
    for d in devices:
        if d == "host" and runner is None:
            timing = TimingProtocol() if runs is None else TimingProtocol(min_runs=runs, max_runs=runs)
            cpu_set = parse_core_mask(cpus)
            meters.append(HostMeter(threads, sorted(cpu_set) if cpu_set else None, timing))
        else:
            dev = ab.HostDevice() if d == "host" else ab.AdbDevice(d, host=adb_host, port=adb_port)
            proto = ab.MeasurementProtocol(threads=threads, runs=runs or 50)
            meters.append(DeviceMeter(dev, runner=_device_runner(runner, dev), protocol=proto))
    return meters


@app.command()
def collect(
    device: Annotated[
        list[str] | None,
        typer.Option("--device", help="'host' or an adb serial; repeat for several devices."),
    ] = None,
    runtime: str = RUNTIME,
    dtype: str = DTYPE,
    space: str = typer.Option(None, "--space", help="Search space preset whose candidate layers to measure."),
    arch: Annotated[
        list[str] | None,
        typer.Option("--arch", help="Also measure the layers of ARCH (zoo name, arch string, JSON)."),
    ] = None,
    store: Path = STORE,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Exported-artifact cache (default: STORE/artifacts).")
    ] = None,
    threads: int = THREADS,
    cpus: str = typer.Option("", "--cpus", help="Pin timing to these host CPUs, e.g. '1' or '0,1'."),
    runs: int = typer.Option(None, "--runs", help="Fixed number of timed runs (default: adaptive, 30-300)."),
    limit: int = typer.Option(None, "--limit", help="Only the first N keys (quick trial)."),
    export_workers: int = typer.Option(
        os.cpu_count() or 1,
        "--export-workers",
        help="Processes exporting before timing starts (0 = in this process).",
    ),
    adb_host: str = typer.Option(None, "--adb-host", help="adb server host (default 127.0.0.1)."),
    adb_port: int = typer.Option(None, "--adb-port", help="adb server port (default 5037)."),
    runner: Annotated[
        Path | None,
        typer.Option(
            "--runner",
            help="A native runner, pushed once and cached by hash (docs/android_runners.md): "
            "'phonenas-runner' (executorch; many blocks per process, built for this host automatically) "
            "or a path to phonenas-runner / executor_runner (executorch) / benchmark_model (litert). "
            "Default: the device's Python runtimes.",
        ),
    ] = None,
) -> None:
    """Measure every layer a search space (or arch) can produce that the store does not have yet.

    Re-running the same command resumes: nothing stored is measured again.

    Example:

      phonenas lut collect --device host --runtime executorch --dtype int8 --space digits
    """
    from latency.collect import collect as run_collect
    from latency.collect import collect_many
    from latency.export import ArtifactCache
    from latency.keys import DType, Runtime
    from latency.store import LUTStore

    rt, dt = _runtime(runtime), _dtype(dtype)
    device, arch = device or ["host"], arch or []
    keys = _keys_for(space, arch)
    keys = keys[:limit] if limit else keys
    lut = LUTStore(store)
    art = ArtifactCache(cache or store / "artifacts")
    meters = _meters(device, threads, cpus, runs, adb_host, adb_port, _runner(runner, rt))
    _out.print(f"{len(keys)} layer keys, {Runtime(rt).value} {DType(dt).value}, store {store}")
    with progress_bar(_out) as bar:
        tasks: dict[str, TaskID] = {}

        def on_progress(dev: str, p) -> None:
            name = f"{dev} {p.phase}"
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=p.total, info="")
            info = f"{p.key.label()} {p.median_ms:.4f} ms" if p.median_ms is not None else p.key.label()
            bar.update(tasks[name], completed=p.done, total=p.total, info=info[:60])

        if len(meters) == 1:
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
    failed_any = False
    for dev, rep in reports.items():
        _out.print(
            f"{dev}: measured {rep.measured}, already stored {rep.skipped}, failed {len(rep.failed)} "
            f"in {rep.elapsed_s:.0f} s ({rep.blocks_per_min:.0f} blocks/min; exports {rep.exports}, "
            f"cache hits {rep.cache_hits})"
        )
        for key, err in rep.failed[:10]:
            _out.print(f"  [red]failed[/red] {key.label()}: {err.splitlines()[0][:160]}", highlight=False)
        failed_any |= bool(rep.failed)
    if failed_any:
        raise PhoneNASError("some layers failed (listed above); fix the cause and re-run to resume")


def _runtime(text: str):
    from latency.keys import Runtime

    try:
        return Runtime(text.strip().lower())
    except ValueError:
        raise PhoneNASError(f"unknown runtime {text!r}; choose executorch, litert, onnx or coreml") from None


def _dtype(text: str):
    from latency.keys import DType

    try:
        return DType(text.strip().lower())
    except ValueError:
        raise PhoneNASError(f"unknown dtype {text!r}; choose fp32, int8 or fp16") from None


def select_context(
    store_path: Path, device: str | None, runtime: str | None, dtype: str | None, threads: int | None
):
    """The one stored context matching the filters (error naming the candidates otherwise)."""
    from latency.store import LUTStore

    lut = LUTStore(store_path)
    ctxs = [
        c
        for c in lut.contexts()
        if (device is None or c.device_id == device)
        and (runtime is None or c.runtime == _runtime(runtime))
        and (dtype is None or c.dtype == _dtype(dtype))
        and (threads is None or c.threads == threads)
    ]
    if not ctxs:
        have = "; ".join(c.label() for c in lut.contexts()) or "none"
        raise PhoneNASError(
            f"no LUT in {store_path} for the given filters (stored contexts: {have}); "
            "run `phonenas lut collect` first"
        )
    if len(ctxs) > 1:
        raise PhoneNASError(
            "several LUT contexts match: "
            + "; ".join(c.label() for c in ctxs)
            + "; narrow with --device/--runtime/--dtype/--threads"
        )
    return lut, ctxs[0]


@app.command()
def show(
    store: Path = STORE,
    runtime: str = typer.Option(None, "--runtime", "-r", help="Only this runtime."),
    dtype: str = typer.Option(None, "--dtype", "-d", help="Only this dtype."),
    device: str = typer.Option(None, "--device", help="Only this device id."),
    rows: int = typer.Option(0, "--rows", help="Also list the N slowest entries of each context."),
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write every row (all contexts) to this CSV file.")
    ] = None,
) -> None:
    """Summary of the store: one line per context (entries, median range, call overhead, correction).

    Example:

      phonenas lut show --runtime executorch --rows 10
    """
    from latency.correction import Correction
    from latency.store import ENTRY_LAYER, ENTRY_OVERHEAD, LUTStore

    lut = LUTStore(store)
    df = lut.frame()
    if csv:
        _out.print(f"wrote {lut.export_csv(csv)}")
    if df.empty:
        raise PhoneNASError(f"the LUT store {store} is empty; run `phonenas lut collect` first")
    if runtime:
        df = df[df["runtime"] == _runtime(runtime).value]
    if dtype:
        df = df[df["dtype"] == _dtype(dtype).value]
    if device:
        df = df[df["device_id"] == device]
    t = Table(title=f"LUT {store}")
    for c in ("context", "entries", "median ms", "call ms", "correction"):
        t.add_column(c, overflow="fold")
    for ctx in lut.contexts():
        sub = df
        for f, v in ctx.as_row().items():
            sub = sub[sub[f] == v]
        layers, over = sub[sub["entry"] == ENTRY_LAYER], sub[sub["entry"] == ENTRY_OVERHEAD]
        if sub.empty:
            continue
        corr = Correction.load(store, ctx)
        t.add_row(
            ctx.label(),
            str(len(layers)),
            f"{layers['median_ms'].min():.4f}-{layers['median_ms'].max():.4f}" if len(layers) else "-",
            f"{over['median_ms'].iloc[0]:.4f}" if len(over) else "-",
            f"call {corr.call_ms:.4f} ms + {corr.io_ms_per_melem:.3f} ms/Melem ({corr.method})"
            if corr
            else "-",
        )
        if rows and len(layers):
            _show_rows(layers, rows, ctx.label())
    _out.print(t)


def _show_rows(layers, n: int, title: str) -> None:
    from latency.keys import BLOCK_FIELDS, BlockKey

    t = Table(title=title)
    for c in ("layer", "median ms", "p10", "p90", "n"):
        t.add_column(c)
    for r in layers.sort_values("median_ms", ascending=False).head(n).to_dict("records"):
        key = BlockKey(**{f: r[f] for f in BLOCK_FIELDS})
        t.add_row(
            key.label(), f"{r['median_ms']:.4f}", f"{r['p10_ms']:.4f}", f"{r['p90_ms']:.4f}", str(r["n"])
        )
    _out.print(t)


@app.command()
def predict(
    arch: str = typer.Argument(..., help="Zoo name, arch string or arch JSON path."),
    store: Path = STORE,
    runtime: str = typer.Option(None, "--runtime", "-r", help="Runtime of the LUT to use."),
    dtype: str = typer.Option(None, "--dtype", "-d", help="dtype of the LUT to use."),
    device: str = typer.Option(None, "--device", help="Device id of the LUT to use."),
    threads: int = typer.Option(None, "--threads", help="Threads of the LUT to use."),
    interpolate: bool = typer.Option(False, "--interpolate", help="Estimate missing layers from neighbours."),
    input_hw: int = typer.Option(None, "--input-hw", help="Override the arch's input resolution."),
    as_json: bool = typer.Option(False, "--json", help="Print the breakdown as JSON."),
) -> None:
    """Predicted latency of ARCH from the LUT, with a per-layer breakdown.

    Example:

      phonenas lut predict "r32:stem_k3_c16_s2_hs:ir_k3_e3_c24_s2:head_c96_hs:n10" -r executorch -d int8
    """
    from latency.lut import LUT
    from search.zoo import resolve_arch

    spec = resolve_arch(arch)
    if input_hw:
        spec = spec.with_input_hw(input_hw)
    lut_store, ctx = select_context(store, device, runtime, dtype, threads)
    lut = LUT.from_store(lut_store, ctx)
    pred = lut.predict(spec, interpolate=interpolate)
    if as_json:
        _out.print_json(
            json.dumps(
                {
                    "context": ctx.as_row(),
                    "latency_ms": pred.latency_ms,
                    "plain_sum_ms": pred.plain_sum_ms,
                    "overhead_ms": pred.overhead_ms,
                    "correction": pred.correction.method,
                    "interpolated": pred.interpolated,
                    "layers": [
                        {
                            "name": c.name,
                            "key": c.key.label(),
                            "measured_ms": c.measured_ms,
                            "cost_ms": c.cost_ms,
                            "source": c.source,
                        }
                        for c in pred.layers
                    ],
                }
            )
        )
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
    t.add_row(
        "overhead",
        "per-model call",
        "",
        f"{pred.overhead_ms:.4f}",
        f"{100 * pred.overhead_ms / total:.1f}%",
        "",
    )
    _out.print(t)
    _out.print(
        f"predicted latency: [bold]{pred.latency_ms:.4f} ms[/bold] (plain sum {pred.plain_sum_ms:.4f} ms; "
        f"correction: {pred.correction.method})"
        + (" [yellow]includes interpolated layers[/yellow]" if pred.interpolated else "")
    )


@app.command()
def validate(
    runtime: str = RUNTIME,
    dtype: str = DTYPE,
    space: str = typer.Option("digits", "--space", help="Search space to sample random archs from."),
    n: int = typer.Option(20, "--n", help="Random validation archs."),
    calib: int = typer.Option(8, "--calib", help="Random calibration archs (for the boundary correction)."),
    zoo: bool = typer.Option(True, "--zoo/--no-zoo", help="Also validate on the zoo models."),
    zoo_hw: int = typer.Option(64, "--zoo-hw", help="Input resolution for the zoo models."),
    seed: int = typer.Option(0, "--seed", help="RNG seed for sampling archs."),
    zoo_calib: Annotated[
        str,
        typer.Option(
            "--zoo-calib",
            help="Comma list of zoo models used for calibration only (not scored), e.g. fbnetv2_f1,mobilenetv3_small.",
        ),
    ] = "",
    device: str = typer.Option(
        "host", "--device", help="'host' or an adb serial: where the blocks and whole models are timed."
    ),
    runs: int = typer.Option(None, "--runs", help="Fixed number of timed runs (default: adaptive)."),
    adb_host: str = typer.Option(None, "--adb-host", help="adb server host (default 127.0.0.1)."),
    adb_port: int = typer.Option(None, "--adb-port", help="adb server port (default 5037)."),
    runner: Annotated[
        Path | None,
        typer.Option("--runner", help="Phones: executor_runner / benchmark_model binary (as for `lut collect`)."),
    ] = None,
    fit_spill: bool = typer.Option(
        False,
        "--fit-spill",
        help="Also fit the cache-spill term (whole models with more weights than the caches keep); "
        "needs large calibration models (--zoo-calib).",
    ),
    store: Path = STORE,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Artifact cache (default: STORE/artifacts).")
    ] = None,
    threads: int = THREADS,
    export_workers: int = typer.Option(os.cpu_count() or 1, "--export-workers", help="Export processes."),
    out: Annotated[Path | None, typer.Option("--out", help="Write the full result as JSON here.")] = None,
) -> None:
    """Measure random archs (+ zoo) whole vs. the LUT prediction on the host: RMSE, RMSPE, within +-5/10/15%.

    Fits and stores the boundary correction of this context on separate calibration archs.

    Example:

      phonenas lut validate --runtime executorch --dtype int8 --n 20

      phonenas lut validate --runtime executorch --dtype fp32 --zoo-calib fbnetv2_f1,fbnetv2_l1,mobilenetv3_small --fit-spill

      phonenas lut validate --device R58M12ABCDE --runtime executorch --dtype int8 --n 10 --no-zoo

    The correction is stored per device and context: run this once per phone so its LUT predicts whole models.
    """
    from latency.export import ArtifactCache
    from latency.store import LUTStore
    from latency.validate import sample_validation_archs
    from latency.validate import validate as run_validate

    zoo_cal = [z.strip() for z in zoo_calib.split(",") if z.strip()]
    if zoo_cal and not zoo:
        raise PhoneNASError("--zoo-calib needs the zoo models; drop --no-zoo")
    val, cal = sample_validation_archs(space, n, calib, seed, zoo, zoo_hw, zoo_cal)
    rt = _runtime(runtime)
    (meter,) = _meters([device], threads, "", runs, adb_host, adb_port, _runner(runner, rt))
    with progress_bar(_out) as bar:
        tasks: dict[str, TaskID] = {}

        def on_progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total, info="")
            bar.update(tasks[phase], completed=done, total=total)

        res = run_validate(
            LUTStore(store),
            val,
            cal,
            rt,
            _dtype(dtype),
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
    if out:
        out.write_text(json.dumps(res.to_dict(), indent=1))
        _out.print(f"wrote {out}")
