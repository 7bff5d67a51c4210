"""`phonenas demo`: the whole flow on this computer with the bundled digits, then a report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from phonenas.cli.options import DEFAULT_TARGETS, ThreadsOption
from phonenas.cli.progress import BarProgress, progress_bar
from phonenas.console import LOG_NAME, quiet_console

if TYPE_CHECKING:
    from phonenas.pipeline import ModelRecord

_out = Console()


def demo(
    out: Path = typer.Option(
        Path("phonenas-out"), "--out", "-o", help="Output directory (re-run to resume)."
    ),
    search_epochs: int = typer.Option(12, "--search-epochs", help="Epochs of each supernet search."),
    train_epochs: int = typer.Option(15, "--train-epochs", help="Epochs of training for every model."),
    targets: str = typer.Option(
        DEFAULT_TARGETS, "--targets", help="Deploy targets (see `phonenas deploy --help`)."
    ),
    threads: ThreadsOption = 1,
    seed: int = typer.Option(0, "--seed", help="Seed for data splits, init and Gumbel noise."),
) -> None:
    """Run the whole flow on this computer with the bundled handwritten digits.

    Collect a LUT (ExecuTorch-XNNPACK int8 and LiteRT fp32) for every candidate layer of the digits
    space -> search at two latency targets -> train the derived models and MobileNetV3-Small baselines
    -> measure all of them whole -> deploy int8 bundles for every target and verify them -> write
    OUT/report.html and OUT/report.md. Re-running resumes from what OUT already holds. Other
    libraries' output goes to OUT/phonenas.log (shown too with `phonenas --verbose demo`).

    Example:

      phonenas demo --out phonenas-out
    """
    from phonenas.pipeline import DemoConfig, run_demo

    cfg = DemoConfig(
        out=out,
        search_epochs=search_epochs,
        train_epochs=train_epochs,
        deploy_targets=tuple(t.strip() for t in targets.split(",") if t.strip()),
        threads=threads,
        seed=seed,
    )
    with quiet_console(out / LOG_NAME, _out), progress_bar(_out) as bar:
        result = run_demo(cfg, BarProgress(bar, _out))
    table = Table(title="PhoneNAS demo: models on this computer")
    labels = sorted({k for m in result.models for k in m.measured_ms})
    for col in ["model", "kind", "test acc %", "target ms"] + [f"{lab} ms (pred)" for lab in labels]:
        table.add_column(col, justify="left" if col in ("model", "kind") else "right", no_wrap=col == "model")
    search = f"{cfg.contexts[0][0]} {cfg.contexts[0][1]}"
    for m in result.models:
        lat = [f"{m.measured_ms[lab]:.3f} ({m.predicted_ms[lab]:.3f})" for lab in labels]
        table.add_row(m.name, m.kind, f"{100 * m.test_acc:.1f}", _target_cell(m, search), *lat)
    _out.print(table)
    for lab in labels:
        speeds = [m.speed[lab] for m in result.models if lab in m.speed]
        if speeds:
            at = f"{min(speeds):.3f}" + (f"-{max(speeds):.3f}" if max(speeds) > min(speeds) else "")
            _out.print(
                f"{lab}: measured at {at}x the LUT's speed (per model, read off the calibration models "
                "nearest it in weights, timed with them); predictions and targets scaled by it"
            )
    for m in result.models:
        for lab, note in m.notes.items():
            _out.print(f"{m.name} {lab}: {note}")
    _out.print(_accuracy_line(result.models, search))
    if not result.deploy.empty:
        counts = result.deploy["status"].value_counts().to_dict()
        _out.print("deploy checks: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    _out.print(f"stage times (s): {result.stage_s}")
    _out.print(f"report: [bold]{result.report_html}[/bold] (and {result.report_md.name})")


def _target_cell(m: ModelRecord, search: str) -> str:
    """The target (LUT units) and, where the device ran at another speed, the target at that speed,
    with how far the model measured from it."""
    if not m.target_ms:
        return ""
    speed = m.speed.get(search, 1.0)
    off = 100 * (m.measured_ms[search] / (m.target_ms * speed) - 1)
    now = f" -> {m.target_ms * speed:.3g}" if abs(speed - 1) > 0.005 else ""
    return f"{m.target_ms:g}{now} ({off:+.0f}%)"


def _accuracy_line(models: list[ModelRecord], search: str) -> str:
    """How many predictions landed within +-10% of their measurement and searched models within +-5% of
    their target (at the measuring session's speed)."""
    pairs = [(m.predicted_ms[lab], ms) for m in models for lab, ms in m.measured_ms.items()]
    ok = sum(abs(p / ms - 1) <= 0.10 + 1e-9 for p, ms in pairs)
    line = f"LUT predictions within +-10% of the measurement: {ok} of {len(pairs)}"
    searched = [(m, t) for m in models if (t := m.target_ms) and search in m.measured_ms]
    if searched:
        hit = sum(
            abs(m.measured_ms[search] / (t * m.speed.get(search, 1.0)) - 1) <= 0.05 for m, t in searched
        )
        line += f"; searched models within +-5% of their target: {hit} of {len(searched)}"
    return line
