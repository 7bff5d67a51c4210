"""`phonenas search ...`: inspect the search spaces and run a per-phone DMaskingNAS search."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from phonenas.cli.progress import progress_bar
from phonenas.errors import PhoneNASError

app = typer.Typer(
    help=(
        "FBNetV2/DMaskingNAS channel + resolution search with a differentiable LUT latency cost.\n\n"
        "Examples:\n\n"
        "  phonenas search space --space digits\n\n"
        "  phonenas search run --lut lut --device host --runtime executorch --dtype fp32 --target-ms 0.5\n\n"
        "  phonenas search run --lut lut --device all --runtime executorch --target-ms 5 "
        "--out runs/search\n\n"
        "  phonenas search run --target-mmac 1.0     # no LUT: MACs cost"
    ),
    no_args_is_help=True,
)
_out = Console()
_LUT = typer.Option(None, "--lut", help="LUT store directory (from `phonenas lut collect`); omit for MACs.")
_OUT = typer.Option(Path("runs/search"), "--out", "-o", help="Output directory (one sub-dir per device).")


@app.command()
def space(
    name: str = typer.Option(
        "digits", "--space", "-s", help="Preset: digits (32x32) or fbnetv2-f (ImageNet)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    contains: str = typer.Option(
        None,
        "--contains",
        help="Is ARCH (zoo name, arch string, JSON file) a member of the space? Exit 1 if not.",
    ),
) -> None:
    """Describe a search space: choices per stage, number of architectures, candidate LUT layers,
    and where a preset deviates from the paper.

    Examples:

      phonenas search space --space fbnetv2-f

      phonenas search space --space fbnetv2-f --contains fbnetv2_f4
    """
    from search.arch import ArchError
    from search.space import SpaceError, get_space

    try:
        sp = get_space(name)
    except SpaceError as e:
        raise PhoneNASError(str(e)) from None
    if contains is not None:
        from search.zoo import resolve_arch

        try:
            arch = resolve_arch(contains)
        except ArchError as e:
            raise PhoneNASError(str(e)) from None
        choices, why = sp.with_num_classes(arch.num_classes, arch.in_ch).match(arch)
        if as_json:
            _out.print_json(
                json.dumps(
                    {
                        "space": sp.name,
                        "arch": contains,
                        "member": choices is not None,
                        "reason": why,
                        "choices": choices,
                    }
                )
            )
        elif choices is not None:
            _out.print(f"{contains} is a member of {sp.name} ({len(choices)} choice variables)")
        else:
            _out.print(f"{contains} is NOT a member of {sp.name}: {why}")
        if choices is None:
            raise typer.Exit(1)
        return
    summary = sp.summary()
    if as_json:
        _out.print_json(json.dumps(summary))
        return
    t = Table(title=f"search space {name!r}")
    for c in ("stage", "depth", "stride", "widths", "per", "expansions", "ops"):
        t.add_column(c)
    t.add_row(
        "stem", "1", str(sp.stem.stride), ",".join(map(str, sp.stem.widths)), "", "", f"k{sp.stem.kernel}"
    )
    for k, st in enumerate(sp.stages):
        t.add_row(
            f"s{k}",
            str(st.depth),
            str(st.stride),
            ",".join(map(str, st.widths)),
            "stage" if st.shared_width else "block",
            ",".join(f"{e:g}" for e in st.expands),
            " ".join(o.label for o in st.ops(first=False)),
        )
    _out.print(t)
    hidden = ",".join(map(str, sp.head_hidden)) if sp.head_hidden else str(sp.head.hidden_ch)
    _out.print(
        f"resolutions: {', '.join(map(str, sp.resolutions))}; head conv {sp.head.conv_ch}, hidden {hidden}; "
        f"hidden widths rounded by {sp.mid_rule}"
    )
    _out.print(
        f"architectures: {summary['num_archs']:.3g} (10^{summary['log10_num_archs']}); "
        f"choice variables: {summary['num_variables']}; "
        f"candidate LUT layers: {summary['num_candidate_layers']}"
    )
    for note in sp.notes:
        _out.print(f"- {note}", soft_wrap=True)


def _lut_jobs(
    lut: Path,
    device: str,
    runtime: str,
    dtype: str | None,
    threads: int | None,
    target_ms: float | None,
    interpolate: bool,
    out: Path,
) -> list:
    from latency.cost import LUTCost
    from latency.lut import LUT
    from latency.selection import ContextFilter
    from latency.store import LUTStore

    if not lut.exists():
        raise PhoneNASError(
            f"LUT store {str(lut)!r} not found; collect one with `phonenas lut collect` or "
            "drop --lut to search with the MACs cost"
        )
    store = LUTStore(lut)
    ctxs = [
        c
        for c in store.contexts()
        if ContextFilter(runtime=runtime).matches(
            c
        )  # registry names: onnx = onnxruntime, executorch = XNNPACK
        and (dtype is None or c.dtype.value == dtype.lower())
        and (threads is None or c.threads == threads)
        and (device == "all" or c.device_id == device)
    ]
    have = "; ".join(c.label() for c in store.contexts()) or "none"
    if not ctxs:
        raise PhoneNASError(
            f"no LUT in {lut} for device={device} runtime={runtime} dtype={dtype or 'any'} "
            f"(stored contexts: {have}); run `phonenas lut collect` for it first"
        )
    by_device: dict[str, list] = {}
    for c in ctxs:
        by_device.setdefault(c.device_id, []).append(c)
    for dev, cs in by_device.items():
        if len(cs) > 1:
            raise PhoneNASError(
                f"device {dev} has several matching LUT contexts ({'; '.join(c.label() for c in cs)});"
                " narrow with --dtype/--threads"
            )
    if target_ms is None:
        raise PhoneNASError("a latency search needs --target-ms (e.g. --target-ms 5)")
    from search.run import SearchJob

    jobs = []
    for dev, (ctx,) in sorted(by_device.items()):
        model = LUTCost(LUT.from_store(store, ctx), interpolate=interpolate)
        jobs.append(
            SearchJob(
                ctx.label(), model, target_ms, out / _safe(dev) if device == "all" else out, ctx.as_row()
            )
        )
    return jobs


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


@app.command()
def run(
    lut: Path = _LUT,
    device: str = typer.Option(
        "host", "--device", help="Device id in the LUT, or 'all' for one search per device."
    ),
    runtime: str = typer.Option("executorch", "--runtime", "-r", help="Runtime of the LUT entries."),
    dtype: str = typer.Option(None, "--dtype", "-d", help="dtype of the LUT entries (fp32, int8, fp16)."),
    threads: int = typer.Option(
        None, "--threads", help="Threads of the LUT entries (if several were measured)."
    ),
    target_ms: float = typer.Option(None, "--target-ms", help="Target latency (ms) for the derived model."),
    target_mmac: float = typer.Option(
        None, "--target-mmac", help="Target MMACs when searching without a LUT."
    ),
    loss: str = typer.Option(
        "target", "--loss", help="target: CE + lam*relu(cost/target-1); fbnet: CE*a*log(cost)^b."
    ),
    lam: float = typer.Option(2.0, "--lam", help="Weight of the target penalty."),
    space_name: str = typer.Option("digits", "--space", "-s", help="Search space preset."),
    data: str = typer.Option(
        "digits", "--data", help="'digits' (bundled), an ImageFolder path, or cifar10:<root>."
    ),
    epochs: int = typer.Option(20, "--epochs", help="Search epochs."),
    batch_size: int = typer.Option(64, "--batch-size", help="Batch size."),
    tau_end: float = typer.Option(
        0.2, "--tau-end", help="Gumbel temperature at the last epoch (annealed from 5.0, any epoch count)."
    ),
    tau_decay: float = typer.Option(
        None, "--tau-decay", help="Instead: a fixed temperature decay per epoch from 5.0 (e.g. 0.956)."
    ),
    train_epochs: int = typer.Option(
        0, "--train-epochs", help="Then train the derived model this many epochs."
    ),
    finetune: bool = typer.Option(
        False, "--finetune", help="Start that training from the supernet's weights."
    ),
    interpolate: bool = typer.Option(
        False, "--interpolate", help="Estimate missing LUT entries from neighbours."
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seed (data split, init, Gumbel noise): same seed, same result."
    ),
    tolerance: float | None = typer.Option(
        None,
        "--tolerance",
        help="The derived model's predicted latency must land within +-this fraction of the target "
        "(the LUT's own error takes the rest of a +-5% budget). Default: the search's own "
        "(search.loop.SearchConfig.tolerance).",
        show_default=False,
    ),
    torch_threads: int = typer.Option(
        0, "--torch-threads", help="CPU threads for training (0 = torch default)."
    ),
    out: Path = _OUT,
) -> None:
    """Search one architecture per device for a target latency; resumable (re-run the same command).

    Writes OUT/arch.json (OUT/DEVICE/arch.json with --device all), search.json (probabilities,
    history, predicted latency) and checkpoint.pt; with --train-epochs also model.pt and accuracies.

    Example:

      phonenas search run --lut lut --device host --runtime executorch --dtype fp32 --target-ms 0.5
    """
    import torch

    from search.arch import encode_arch
    from search.cost import MacsCost
    from search.data import DataError
    from search.loss import LossError
    from search.run import SearchJob, SearchRunConfig, prepare, run_job
    from search.space import SpaceError

    if tolerance is not None and not 0 < tolerance < 1:
        raise PhoneNASError(f"--tolerance must be between 0 and 1 (a share of the target), got {tolerance}")
    if torch_threads:
        torch.set_num_threads(torch_threads)
    cfg = SearchRunConfig(
        space=space_name,
        data=data,
        loss=loss,
        lam=lam,
        epochs=epochs,
        batch_size=batch_size,
        tau_end=tau_end,
        tau_decay=tau_decay,
        train_epochs=train_epochs,
        finetune=finetune,
        seed=seed,
    )
    if tolerance is not None:  # else the search's own default (one place says what it is)
        cfg = dataclasses.replace(cfg, tolerance=tolerance)
    try:
        sp, bundle = prepare(cfg)
    except (SpaceError, DataError) as e:
        raise PhoneNASError(str(e)) from None
    if lut is not None:
        jobs = _lut_jobs(lut, device, runtime, dtype, threads, target_ms, interpolate, out)
    else:
        if target_ms is not None:
            raise PhoneNASError("--target-ms needs --lut (a measured LUT); without one use --target-mmac")
        if loss == "target" and target_mmac is None:
            raise PhoneNASError("a MACs search needs --target-mmac (or --loss fbnet)")
        jobs = [SearchJob("MACs", MacsCost(), target_mmac, out, None)]
    for job in jobs:
        try:
            cfg.search_loss(job.target)
        except (LossError, ValueError) as e:
            raise PhoneNASError(str(e)) from None
        _out.rule(
            f"search {sp.name} on {job.label}"
            + (f" -> target {job.target:g} {job.cost_model.unit}" if job.target else "")
        )
        with progress_bar(_out) as prog:
            task = prog.add_task("search", total=None, info="")

            def on_step(step: int, total: int, _t=task) -> None:
                prog.update(_t, completed=step, total=total)

            def on_epoch(s, _t=task) -> None:
                prog.update(
                    _t,
                    info=f"ep {s.epoch} tau {s.tau:.2f} acc {s.train_acc:.3f} "
                    f"E(cost) {s.expected_cost:.4g} argmax {s.argmax_cost:.4g}",
                )

            try:
                done = run_job(cfg, sp, bundle, job, on_step, on_epoch)
            except ValueError as e:
                raise PhoneNASError(str(e).splitlines()[0]) from None
        result = done.result
        _out.print(f"[bold]{encode_arch(result.arch)}[/bold]")
        _out.print(
            f"predicted {result.cost:.4g} {result.unit}"
            + (f" (target {job.target:g}, {result.rule})" if job.target else "")
        )
        if done.train is not None:
            _out.print(
                f"trained {train_epochs} epochs: val {done.train.val_acc:.4f} test {done.train.test_acc:.4f}"
            )
        _out.print(f"wrote {done.arch_path} and {done.search_path}")
