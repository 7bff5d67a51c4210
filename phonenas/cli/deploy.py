"""`phonenas deploy ...`: export, quantize, verify and bundle a model per runtime; re-verify bundles."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from deploy.registry import specs
from deploy.types import Dtype
from phonenas.cli.options import DEFAULT_TARGETS, InputHwOption, TargetsOption
from phonenas.console import LOG_NAME, quiet_console
from phonenas.errors import PhoneNASError


def _base_dtypes() -> str:
    """'fp32; fp16 for coreml, executorch-coreml' from the descriptors."""
    other: dict[str, list[str]] = {}
    for s in specs():
        if s.base_dtype.value != "fp32":
            other.setdefault(s.base_dtype.value, []).append(s.name)
    return "; ".join(["fp32", *(f"{d} for {', '.join(names)}" for d, names in other.items())])


app = typer.Typer(
    help=(
        f"Export a model to each deploy target ({', '.join(s.name for s in specs())}: see --targets and "
        "docs/runtimes.md), int8-quantize it "
        "with calibration data, verify every artifact against PyTorch and write one bundle per target.\n\n"
        "Examples:\n\n"
        f"  phonenas deploy --arch fbnetv2_f1 --train-epochs 3 --input-hw 32 --targets {DEFAULT_TARGETS} "
        "--quantize int8 --calib digits --out bundles/f1\n\n"
        "  phonenas deploy --arch best_arch.json --weights best.pt --targets executorch "
        "--quantize int8 --out bundles/x\n\n"
        "  phonenas deploy verify bundles/f1"
    ),
    invoke_without_command=True,
)
_out = Console(width=140)
_err = Console(stderr=True)

ALL_TARGETS = DEFAULT_TARGETS


def _resolve_arch(text: str, input_hw: int | None, num_classes: int | None, in_ch: int | None):
    from search.arch import ArchSpec
    from search.zoo import resolve_arch

    arch = resolve_arch(text)
    if input_hw or num_classes or in_ch:
        arch = ArchSpec(
            input_hw or arch.input_hw,
            arch.stem,
            arch.stages,
            arch.head,
            num_classes or arch.num_classes,
            in_ch or arch.in_ch,
        )
    return arch


@app.callback()
def deploy(
    ctx: typer.Context,
    arch: Annotated[
        str | None, typer.Option("--arch", "-a", help="Zoo name (fbnetv2_f1), arch string or arch JSON file.")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option("--weights", "-w", help="state_dict file (torch.save(model.state_dict())).")
    ] = None,
    targets: TargetsOption = ALL_TARGETS,
    quantize: Annotated[
        str,
        typer.Option(
            "--quantize",
            "-q",
            help=f"Extra dtypes beside each target's base ({_base_dtypes()}): "
            f"{', '.join(d.value for d in Dtype if d is not Dtype.FP32)}, or none.",
        ),
    ] = "int8",
    calib: Annotated[
        str, typer.Option("--calib", help="Calibration/verification data: digits or an ImageFolder path.")
    ] = "digits",
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output directory (one bundle per target inside).")
    ] = Path("bundles"),
    device: Annotated[
        str | None,
        typer.Option("--device", help="Phone the bundle is for (recorded; prefixes bundle names)."),
    ] = None,
    input_hw: InputHwOption = None,
    num_classes: Annotated[
        int | None, typer.Option("--num-classes", help="Override the arch's classes (default: the data's).")
    ] = None,
    train_epochs: Annotated[
        int,
        typer.Option(
            "--train-epochs", help="Without --weights: train this many epochs on --calib data first."
        ),
    ] = 0,
    threads: Annotated[
        int, typer.Option("--threads", help="Runtime threads for host verification timing.")
    ] = 1,
    lut: Annotated[
        Path | None,
        typer.Option(
            "--lut", help="LUT store: record LUT-predicted latency per target/dtype in the manifest."
        ),
    ] = None,
    n_verify: Annotated[
        int, typer.Option("--n-verify", help="Labelled test images used for numeric checks.")
    ] = 200,
) -> None:
    """Export + quantize + verify + bundle (runs when no sub-command is given)."""
    if ctx.invoked_subcommand is not None:
        return
    if not arch:
        raise PhoneNASError(
            "pass --arch (a zoo name such as fbnetv2_f1, an arch string or a JSON file); see --help"
        )
    # cheapest, most likely causes first: files that are not there, names that do not exist
    if weights is not None and not weights.is_file():
        raise PhoneNASError(
            f"weights file {weights} not found; pass a state_dict saved with torch.save(model.state_dict())"
        )
    if lut is not None and not lut.is_dir():
        raise PhoneNASError(
            f"LUT store {lut} not found; collect one with `phonenas lut collect` or drop --lut"
        )
    from deploy import DeployError
    from deploy.data import eval_data
    from deploy.pipeline import DeployRequest, load_model
    from deploy.pipeline import deploy as run_deploy
    from deploy.registry import resolve
    from search.data import load_data

    try:
        names = tuple(resolve(t).name for t in targets.split(",") if t.strip())
        quant = (
            ()
            if quantize.strip().lower() in ("", "none")
            else tuple(Dtype.parse(q) for q in quantize.split(",") if q.strip())
        )
        spec = _resolve_arch(arch, input_hw, num_classes, None)
        if num_classes is None and weights is None:  # fresh weights: fit the head to the data
            data_classes = load_data(calib, size=8, channels=spec.in_ch).num_classes
            spec = spec.with_num_classes(data_classes)
        data = eval_data(calib, spec, n_verify=n_verify)
        if weights is not None:
            model, provenance = load_model(spec, weights), str(weights)
        elif train_epochs > 0:
            from search.loop import train_dense

            _err.print(f"training {spec.num_classes}-class model on {calib} for {train_epochs} epochs ...")
            result = train_dense(
                spec, load_data(calib, size=spec.input_hw, channels=spec.in_ch), epochs=train_epochs
            )
            model = result.model.eval()
            provenance = f"trained here on {calib} for {train_epochs} epochs (test acc {result.test_acc:.3f})"
        else:
            _err.print(
                "[yellow]warning:[/yellow] no --weights: exporting seeded random weights "
                "(accuracy is meaningless; pass --weights or --train-epochs)"
            )
            model, provenance = load_model(spec, None), "random init (seed 0)"
        predicted = _predicted_latency(lut, spec, names, device, threads) if lut is not None else {}
        request = DeployRequest(
            spec,
            names,
            quant,
            out,
            data,
            weights=provenance,
            device=device,
            threads=threads,
            predicted_latency_ms=predicted,
        )
        with quiet_console(out / LOG_NAME, _out), _out.status("deploying ...") as status:
            results = run_deploy(request, model, on_step=lambda s: status.update(s))
    except (DeployError, ValueError) as e:
        raise PhoneNASError(str(e)) from None
    failed = _print_results([(r.target, r.path, r.checks, r.export_s, r.size_bytes) for r in results])
    if failed:
        raise PhoneNASError(
            f"{failed} artifact(s) failed verification (see the table above); bundles in {out}"
        )


def _predicted_latency(
    store: Path, spec, names: tuple[str, ...], device: str | None, threads: int
) -> dict[tuple[str, str], float]:
    """LUT prediction for every (target, artifact dtype) the store has exactly one matching LUT for;
    says (as a warning) why a stored LUT gave none."""
    from latency.store import LUTStore
    from latency.target_latency import predict_targets

    got = predict_targets(LUTStore(store), spec, names, device, threads)
    for note in got.notes:
        _err.print(f"[yellow]warning:[/yellow] {note}", highlight=False)
    if not got.latency_ms:
        _err.print(
            f"[yellow]warning:[/yellow] no LUT in {store} matches these targets with --threads {threads}"
            + (f" on device {device}" if device else "")
            + "; the manifests carry no predicted latency",
            highlight=False,
        )
    return got.latency_ms


def _print_results(rows) -> int:
    table = Table(title="deploy", title_justify="left")
    for col in (
        "bundle",
        "dtype",
        "status",
        "KB",
        "export s",
        "host ms",
        "max|d|",
        "cosine",
        "top-1",
        "acc drop",
    ):
        table.add_column(col, no_wrap=True)
    failed = 0
    notes = []
    for target, path, checks, export_s, sizes in rows:
        for c in checks:
            n = c.numerics
            color = {"pass": "green", "fail": "red"}.get(c.status, "yellow")
            failed += c.status == "fail"
            drop = n.accuracy_drop_pts if n else None
            table.add_row(
                path.name,
                c.dtype.value,
                f"[{color}]{c.status}[/{color}]",
                f"{sizes[c.dtype.value] / 1024:.0f}" if c.dtype.value in sizes else "",
                f"{export_s[c.dtype.value]:.1f}" if c.dtype.value in export_s else "",
                f"{c.latency_ms:.3f}" if c.latency_ms else "",
                f"{n.max_abs:.2g}" if n else "",
                f"{n.cosine:.4f}" if n else "",
                f"{100 * n.top1_agreement:.1f}%" if n else "",
                f"{drop:+.1f}" if drop is not None else "",
            )
            if c.reason:
                notes.append(f"{target} {c.dtype.value}: {c.reason}")
            notes += c.warnings
    _out.print(table)
    if rows:
        _out.print(f"bundles in {rows[0][1].parent}")
    for note in notes:
        _out.print(f"  - {note}", highlight=False)
    return failed


@app.command("verify")
def verify(
    bundle: Annotated[
        Path, typer.Argument(help="A bundle directory (has manifest.json) or a directory of bundles.")
    ],
    threads: Annotated[int, typer.Option("--threads", help="Runtime threads.")] = 1,
    time_it: Annotated[bool, typer.Option("--time", help="Also measure host latency.")] = False,
) -> None:
    """Re-check sha256 of every file and the numerics of every artifact that runs here.

    Example: phonenas deploy verify bundles/f1
    """
    from deploy import DeployError
    from deploy.bundle import find_bundles, verify_bundle

    try:
        reports = [verify_bundle(p, threads=threads, time_it=time_it) for p in find_bundles(bundle)]
    except DeployError as e:
        raise PhoneNASError(str(e)) from None
    failed = _print_results([(r.target, r.path, r.checks, {}, {}) for r in reports])
    logging.getLogger(__name__).debug("verified %d bundles", len(reports))
    if failed:
        raise PhoneNASError(f"{failed} artifact(s) failed verification in {bundle}")
    _out.print(
        f"[green]ok[/green]: {len(reports)} bundle(s), hashes match, every runnable artifact within tolerance"
    )
