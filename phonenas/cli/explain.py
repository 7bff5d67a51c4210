"""`phonenas lut explain ARCH --device D`: where a LUT prediction misses, layer by layer.

Registered on the ``lut`` group by importing this module (phonenas/cli/main.py). ExecuTorch only: the
whole model and every distinct layer block of ARCH (the LUT's own cached artifacts) are timed in ONE
``phonenas-runner --profile`` process on the device; the model's ETDump events (XNNPACK's per-operator
times, 1 us resolution) are split into layers by matching each layer block's own compute operators
(convolutions and fully-connected GEMMs, which is how XNNPACK lowers 1x1 convs) in execution order.
Printed per layer: the LUT entry, the same layer block timed alone in this process (``alone now``: the
LUT entry may be hours or a machine away, so ``in model`` against ``alone now`` is the model-context
effect without the device's drift since the collection), its cost in the prediction, the time the same
layer took inside the whole model, and the difference; then the model's timed median against the
prediction and against the plain sum of the blocks timed now.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from phonenas.cli.lut import _filter, app
from phonenas.cli.options import StoreOption, ThreadsOption
from phonenas.errors import PhoneNASError

_out = Console()
_COMPUTE = ("Convolution", "Deconvolution", "Fully Connected", "Batch Matrix Multiply")


def is_compute_op(name: str) -> bool:
    """XNNPACK operators that anchor a layer (every conv/linear of the layer lowers to one of them)."""
    return name.startswith(_COMPUTE)


@dataclass(frozen=True)
class LayerSlice:
    layer: int
    ops: tuple[str, ...]
    ms: float


def segment_ops(model_ops: Sequence[tuple[str, float]], compute_per_layer: Sequence[int]) -> list[LayerSlice]:
    """Split the model's XNNPACK ops (name, ms) into layers holding ``compute_per_layer[i]`` compute ops.

    An op belongs to the layer of the last compute op before it (ops before the first one, e.g. the
    input layout transpose, to the first layer that has compute). Layers without compute ops (skips)
    get no ops. Raises ``ValueError`` when the counts do not add up (the model was lowered differently
    from its blocks), rather than returning a misaligned table.
    """
    total = sum(1 for name, _ in model_ops if is_compute_op(name))
    if total != sum(compute_per_layer):
        raise ValueError(
            f"the model has {total} compute operators, its layer blocks {sum(compute_per_layer)}: "
            "the whole model was lowered differently, so its ops cannot be split into layers"
        )
    owners = [i for i, n in enumerate(compute_per_layer) for _ in range(n)]  # compute op j -> layer
    ops: dict[int, list[tuple[str, float]]] = {i: [] for i in range(len(compute_per_layer))}
    seen = 0
    current = owners[0] if owners else 0
    for name, ms in model_ops:
        if is_compute_op(name):
            current = owners[seen]
            seen += 1
        ops[current].append((name, ms))
    return [
        LayerSlice(i, tuple(n for n, _ in ops[i]), sum(ms for _, ms in ops[i]))
        for i in range(len(compute_per_layer))
    ]


@app.command("explain")
def explain(
    arch: str = typer.Argument(..., help="Zoo name, arch string or arch JSON path."),
    device: str = typer.Option("host", "--device", help="'host' or an adb serial (the LUT's device)."),
    store: StoreOption = Path("lut"),
    dtype: str = typer.Option("fp32", "--dtype", "-d", help="dtype of the LUT (fp32 | int8)."),
    threads: ThreadsOption = 1,
    runs: int = typer.Option(20, "--runs", help="Timed (and profiled) runs per file."),
    runner: Annotated[
        Path | None,
        typer.Option(
            "--runner", help="phonenas-runner binary for the device (default: built/resolved per ABI)."
        ),
    ] = None,
    cache: Annotated[
        Path | None, typer.Option("--cache", help="Exported-artifact cache (default: STORE/artifacts).")
    ] = None,
    input_hw: int = typer.Option(None, "--input-hw", help="Override the arch's input resolution."),
    adb_host: str = typer.Option(None, "--adb-host", help="adb server host (default 127.0.0.1)."),
    adb_port: int = typer.Option(None, "--adb-port", help="adb server port (default 5037)."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
) -> None:
    """Per-layer time measured inside the whole model (ETDump) beside the LUT's per-layer prediction.

    ExecuTorch only (phonenas-runner --profile). The LUT must hold ARCH's layers for the device.

    Example:

      phonenas lut explain mobilenetv3_small --device host --dtype fp32
    """
    import android_bench as ab
    from deploy import Dtype
    from latency.devices import NATIVE_RUNNER
    from latency.export import ArtifactCache, model_artifact
    from latency.lut import LUT, MissingEntriesError
    from latency.selection import select_context
    from search.zoo import resolve_arch

    spec = resolve_arch(arch)
    if input_hw:
        spec = spec.with_input_hw(input_hw)
    lut_store, ctx = select_context(store, _filter(device, "executorch", dtype, threads))
    lut = LUT.from_store(lut_store, ctx)
    try:
        pred = lut.predict(spec)
    except MissingEntriesError as e:
        raise PhoneNASError(
            f"{e}; collect them first: phonenas lut collect --arch {arch} --device {device} "
            f"--runtime executorch --dtype {dtype}"
        ) from None
    art = ArtifactCache(cache or store / "artifacts")
    rt, dt = "executorch", Dtype(ctx.dtype)
    model_pte = model_artifact(art, spec, rt, dt)
    keys = list(dict.fromkeys(c.key for c in pred.layers if c.source != "identity"))
    blocks = [art.get(k, rt, dt) for k in keys]

    dev = ab.HostDevice() if device == "host" else ab.AdbDevice(device, host=adb_host, port=adb_port)
    if runner is None or str(runner) == NATIVE_RUNNER:
        abi = "host" if device == "host" else ab.read_device_info(dev).abi
        try:
            binary = ab.native.runner_for_abi(abi)
        except ab.NativeBuildError as e:
            raise PhoneNASError(str(e)) from None
    elif runner.is_file():
        binary = runner
    else:
        raise PhoneNASError(f"runner {runner} not found; build it as in docs/android_runners.md")
    proto = ab.MeasurementProtocol(threads=threads, runs=runs, warmup=5, remeasure_attempts=0, cooldown_s=0.0)
    res = ab.measure_batch(dev, ab.NativeRunner(binary, profile=True), [model_pte, *blocks], proto)
    for what, result in zip(["the model", *[k.label() for k in keys]], res.results, strict=True):
        if isinstance(result, ab.DeviceError):
            raise PhoneNASError(f"timing {what} failed: {result}")
    model_m = res.results[0]
    assert not isinstance(model_m, ab.DeviceError)
    # each distinct layer block timed alone in the same process as the model, minutes apart at most: the
    # LUT entry may come from another hour (or machine), so "in model - alone now" is the model-context
    # effect free of the device's drift since the collection; "alone now - LUT entry" is that drift, plus
    # the harness difference where the LUT was timed by another runner (host LUTs default to the Python
    # one: its per-call cost is in the entries, which the boundary correction takes out)
    alone_now = {
        k: r.stats.median_ms
        for k, r in zip(keys, res.results[1:], strict=True)
        if not isinstance(r, ab.DeviceError)
    }
    model_ops = [(o.name, o.median_ms) for o in res.profiles[0] if o.kind == "delegate"]
    if not model_ops:
        raise PhoneNASError(
            "the runner's ETDump profile has no XNNPACK operator events; the ExecuTorch it was built "
            "against lacks the event tracer (build with -DEXECUTORCH_ENABLE_EVENT_TRACER=ON)"
        )
    block_compute = {
        k: sum(1 for o in prof if o.kind == "delegate" and is_compute_op(o.name))
        for k, prof in zip(keys, res.profiles[1:], strict=True)
    }
    per_layer = [block_compute.get(c.key, 0) if c.source != "identity" else 0 for c in pred.layers]
    try:
        slices = segment_ops(model_ops, per_layer)
    except ValueError as e:
        raise PhoneNASError(f"{arch}: {e}") from None
    execute = next((o.median_ms for o in res.profiles[0] if o.name == "Method::execute"), None)
    outside = execute - sum(ms for _, ms in model_ops) if execute is not None else None

    rows: list[dict[str, Any]] = []
    for c, s in zip(pred.layers, slices, strict=True):
        rows.append({
            "layer": c.name, "key": c.key.label(), "lut_entry_ms": c.measured_ms, "lut_cost_ms": c.cost_ms,
            "alone_now_ms": alone_now.get(c.key) if c.source != "identity" else None,
            "in_model_ms": s.ms, "diff_ms": c.cost_ms - s.ms, "ops": list(s.ops),
        })  # fmt: skip
    summary = {
        "arch": arch, "context": ctx.label(), "device": device,
        "predicted_ms": pred.latency_ms, "plain_sum_ms": pred.plain_sum_ms, "overhead_ms": pred.overhead_ms,
        "measured_median_ms": model_m.stats.median_ms, "profiled_execute_ms": execute,
        "plain_sum_now_ms": sum(r["alone_now_ms"] or 0.0 for r in rows),
        "outside_xnnpack_ms": outside, "runs": runs, "runner": str(binary),
        "runtime_version": model_m.runtime_version,
    }  # fmt: skip
    if as_json:
        _out.print_json(json.dumps({**summary, "layers": rows}))
        return
    t = Table(title=f"{arch} on {ctx.label()}: LUT per layer vs measured inside the model (ETDump)")
    cols = ("layer", "key", "LUT entry ms", "alone now ms", "LUT cost ms", "in model ms", "LUT - model")
    for col in (*cols, "XNNPACK ops"):
        t.add_column(col, justify="right" if "ms" in col or col == "LUT - model" else "left")
    worst = sorted(rows, key=lambda r: -abs(r["diff_ms"]))[:3]
    for r in rows:
        mark = "bold red" if r in worst and abs(r["diff_ms"]) > 0.05 * max(r["in_model_ms"], 1e-9) else ""
        ops = ", ".join(o.rsplit(" #", 1)[0] for o in r["ops"])
        t.add_row(
            r["layer"], r["key"], f"{r['lut_entry_ms']:.4f}",
            "-" if r["alone_now_ms"] is None else f"{r['alone_now_ms']:.4f}", f"{r['lut_cost_ms']:.4f}",
            f"{r['in_model_ms']:.4f}", f"{r['diff_ms']:+.4f}", ops[:60], style=mark,
        )  # fmt: skip
    _out.print(t)
    _out.print(
        f"predicted {pred.latency_ms:.4f} ms (plain sum {pred.plain_sum_ms:.4f}, "
        f"overhead {pred.overhead_ms:+.4f}; blocks timed now sum to {summary['plain_sum_now_ms']:.4f}); "
        f"measured median {model_m.stats.median_ms:.4f} ms over {runs} runs "
        f"({100 * (pred.latency_ms / model_m.stats.median_ms - 1):+.1f}%); profiled execute "
        + (
            f"{execute:.4f} ms, outside XNNPACK {outside:.4f} ms"
            if execute is not None and outside is not None
            else "n/a"
        )
        + f". ExecuTorch {model_m.runtime_version}; ETDump op times have 1 us resolution.",
        highlight=False,
    )
