"""`phonenas zoo ...`: the reference models (FBNetV2 F1-L2, MobileNetV3) with their published numbers."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from phonenas.cli.arch import layers_payload, print_layers
from search.arch import encode_arch, profile_arch
from search.zoo import PUBLISHED, ZOO, get_arch

app = typer.Typer(
    help=(
        "Reference models: FBNetV2 F1-F4/L1/L2 and MobileNetV3-Small/Large as arch specs.\n\n"
        "Example:\n\n"
        "  phonenas zoo list\n\n"
        "  phonenas zoo show fbnetv2_f1"
    ),
    no_args_is_help=True,
)


def zoo_rows() -> list[dict[str, Any]]:
    """One row per zoo model: our MACs/params next to the published ones."""
    rows = []
    for name, arch in ZOO.items():
        profile = profile_arch(arch)
        pub = PUBLISHED[name]
        rows.append(
            {
                "name": name,
                "input_hw": arch.input_hw,
                "macs": profile.macs,
                "published_macs_m": pub.macs_m,
                "delta_pct": 100.0 * (profile.macs / 1e6 - pub.macs_m) / pub.macs_m,
                "params": profile.params,
                "published_params_m": pub.params_m,
                "top1": pub.top1,
                "source": pub.source,
                "residual": pub.residual,
                "arch": encode_arch(arch),
            }
        )
    return rows


@app.command("list")
def list_models(
    as_json: bool = typer.Option(
        False, "--json", help="Print the rows as JSON (with source, residual, arch)."
    ),
) -> None:
    """Every zoo model: input size, MACs (ours and published, delta %), params, published top-1.

    Example:

      phonenas zoo list --json
    """
    rows = zoo_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="PhoneNAS zoo (MACs = multiply-accumulates of conv/linear layers)")
    for col in ("name", "input", "MACs (ours)", "published", "delta %", "params", "top-1 %"):
        table.add_column(col, justify="left" if col == "name" else "right", no_wrap=col == "name")
    for r in rows:
        table.add_row(
            r["name"],
            f"{r['input_hw']}",
            f"{r['macs'] / 1e6:.2f}M",
            f"{r['published_macs_m']:.2f}M",
            f"{r['delta_pct']:+.2f}",
            f"{r['params'] / 1e6:.3f}M",
            "-" if r["top1"] is None else f"{r['top1']:.1f}",
        )
    console = Console()
    console.print(table)
    console.print("Why ours differs from published: `phonenas zoo list --json` (residual) or search/zoo.py.")


@app.command("show")
def show(
    name: str = typer.Argument(..., help=f"Zoo model: {', '.join(ZOO)}."),
    input_hw: int | None = typer.Option(
        None, "--input-hw", help="Input resolution (default: the published one)."
    ),
    num_classes: int | None = typer.Option(None, "--num-classes", help="Number of classes (default 1000)."),
    as_json: bool = typer.Option(False, "--json", help="Print the per-layer table as JSON."),
) -> None:
    """Per-layer table of a zoo model (shapes, hidden widths, MACs, params), totals and its arch string.

    Example:

      phonenas zoo show mobilenetv3_small --input-hw 160 --num-classes 10
    """
    arch = get_arch(name, input_hw=input_hw, num_classes=num_classes)
    if as_json:
        typer.echo(json.dumps({"name": name, **layers_payload(arch)}, indent=2))
        return
    print_layers(arch, title=f"{name} @ {arch.input_hw}px")
