"""`phonenas arch ...`: validate and inspect an architecture (zoo name, arch string or JSON file)."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from search.arch import ArchSpec, arch_to_dict, encode_arch, profile_arch
from search.zoo import resolve_arch

app = typer.Typer(
    help=(
        "Validate and inspect architectures.\n\n"
        "An ARCH is a zoo name (see `phonenas zoo list`), a compact arch string or a path to an arch "
        "JSON file.\n\n"
        "Example:\n\n"
        "  phonenas arch validate 'r224:stem_k3_c16_s2_hs:ir_k3_e4_c24_s2_se_hs:head_c576_h1024_hs:n1000'"
    ),
    no_args_is_help=True,
)

_ARCH_HELP = (
    "Zoo name, compact arch string (r224:stem_...:blocks:head_...:n1000) or path to an arch JSON file."
)


def _emit_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2))


def layers_payload(arch: ArchSpec) -> dict[str, Any]:
    """Per-layer shapes and costs of ``arch`` as plain data (what `--json` prints)."""
    profile = profile_arch(arch)
    return {
        "arch": encode_arch(arch),
        "input_hw": arch.input_hw,
        "num_classes": arch.num_classes,
        "macs": profile.macs,
        "params": profile.params,
        "layers": [
            {
                "name": s.name,
                "kind": s.kind.value,
                "in_shape": [s.in_ch, s.in_hw, s.in_hw],
                "out_shape": [s.out_ch, s.out_hw, s.out_hw] if s.kind.value != "head" else [s.out_ch],
                "mid_ch": s.mid_ch,
                "kernel": s.kernel,
                "stride": s.stride,
                "se": s.se,
                "act": s.act.value,
                "macs": s.macs,
                "params": s.params,
            }
            for s in profile.layers
        ],
    }


def print_layers(arch: ArchSpec, title: str, console: Console | None = None) -> None:
    """The per-layer table (name, kind, in/out shape, hidden width, MACs, params), totals and arch string."""
    console = console or Console()
    payload = layers_payload(arch)
    table = Table(title=title, show_footer=True)
    table.add_column("layer", footer="total")
    table.add_column("kind")
    table.add_column("op")
    table.add_column("in CxHxW")
    table.add_column("out")
    table.add_column("mid ch", justify="right")
    table.add_column("MACs", justify="right", footer=f"{payload['macs']:,}")
    table.add_column("params", justify="right", footer=f"{payload['params']:,}")
    for layer in payload["layers"]:
        op = f"k{layer['kernel']} s{layer['stride']}" + (" se" if layer["se"] else "") + f" {layer['act']}"
        if layer["kind"] == "skip":
            op = "identity"
        table.add_row(
            layer["name"],
            layer["kind"],
            op,
            "x".join(map(str, layer["in_shape"])),
            "x".join(map(str, layer["out_shape"])),
            str(layer["mid_ch"]),
            f"{layer['macs']:,}",
            f"{layer['params']:,}",
        )
    console.print(table)
    console.print(f"MACs {payload['macs'] / 1e6:.2f}M  params {payload['params'] / 1e6:.3f}M")
    console.print(f"arch: {payload['arch']}", soft_wrap=True, highlight=False)


@app.command("validate")
def validate(
    arch: str = typer.Argument(..., help=_ARCH_HELP),
    as_json: bool = typer.Option(
        False, "--json", help="Print the validated arch as JSON (schema_version'd)."
    ),
) -> None:
    """Parse and validate an arch; print a one-line summary, or one line naming the offending block.

    Example:

      phonenas arch validate my_arch.json

      phonenas arch validate 'r128:stem_k3_c8_s2_hs:ir_k5_e1_c8|ir_k5_e6_c24_s2:head_c1344_h1600_hs:n1000'
    """
    spec = resolve_arch(arch)
    profile = profile_arch(spec)
    if as_json:
        _emit_json({**arch_to_dict(spec), "macs": profile.macs, "params": profile.params})
        return
    n_blocks = sum(len(s) for s in spec.stages)
    typer.echo(
        f"ok: {len(spec.stages)} stages, {n_blocks} blocks, "
        f"input {spec.in_ch}x{spec.input_hw}x{spec.input_hw}, "
        f"{spec.num_classes} classes, {profile.macs / 1e6:.2f}M MACs, {profile.params / 1e6:.3f}M params"
    )
    typer.echo(encode_arch(spec))


@app.command("show")
def show(
    arch: str = typer.Argument(..., help=_ARCH_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the per-layer table as JSON."),
) -> None:
    """Per-layer shapes, hidden widths, MACs and params of an arch.

    Example:

      phonenas arch show fbnetv2_f1 --json
    """
    spec = resolve_arch(arch)
    if as_json:
        _emit_json(layers_payload(spec))
        return
    print_layers(spec, title=arch if len(arch) < 40 else "arch")
