"""The demo report: static HTML + markdown with matplotlib plots.

Plots: accuracy vs measured latency (searched vs baselines, one panel per runtime), predicted vs
measured latency with the +-10% band, per-block latency heat map per runtime/dtype, plus the deploy
table. Inputs are plain DataFrames so any pipeline (demo, a user's notebook) can render a report.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

PARETO_COLUMNS = ("model", "kind", "runtime", "dtype", "latency_ms", "accuracy")
PREDICTION_COLUMNS = ("model", "runtime", "dtype", "predicted_ms", "measured_ms")
BLOCK_COLUMNS = ("layer", "context", "latency_ms")


@dataclass
class ReportData:
    title: str
    pareto: pd.DataFrame
    prediction: pd.DataFrame
    block_latency: pd.DataFrame
    deploy: pd.DataFrame
    summary: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, cols in (
            ("pareto", PARETO_COLUMNS),
            ("prediction", PREDICTION_COLUMNS),
            ("block_latency", BLOCK_COLUMNS),
        ):
            missing = set(cols) - set(getattr(self, name).columns)
            if missing:
                raise ValueError(f"report table {name!r} lacks columns {sorted(missing)}")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pareto(df: pd.DataFrame, path: Path) -> Path:
    plt = _plt()
    contexts = sorted({(r, d) for r, d in zip(df["runtime"], df["dtype"], strict=True)})
    n = max(1, len(contexts))
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.2), squeeze=False)
    for ax, (runtime, dtype) in zip(axes[0], contexts, strict=False):
        sub = df[(df["runtime"] == runtime) & (df["dtype"] == dtype)]
        for kind, marker, color in (("baseline", "s", "#888888"), ("searched", "o", "#d62728")):
            k = sub[sub["kind"] == kind].sort_values("latency_ms")
            if k.empty:
                continue
            ax.plot(
                k["latency_ms"], 100 * k["accuracy"], marker=marker, color=color, label=kind, lw=1.5, ms=7
            )
            for _, row in k.iterrows():
                ax.annotate(
                    str(row["model"]),
                    (row["latency_ms"], 100 * row["accuracy"]),
                    fontsize=7,
                    xytext=(4, 4),
                    textcoords="offset points",
                )
        ax.set_title(f"{runtime} {dtype}")
        ax.set_xlabel("measured latency (ms)")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.grid(alpha=0.3)
        ax.margins(x=0.12, y=0.12)  # room for the point labels
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:  # one legend under the panels: inside, it covered points and their labels
        fig.legend(handles, labels, loc="lower center", ncol=len(handles), frameon=False)
    fig.suptitle("Accuracy vs measured latency (up and left is better)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_prediction(df: pd.DataFrame, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    hi = max(float(df["measured_ms"].max()), float(df["predicted_ms"].max())) * 1.15 if len(df) else 1.0
    xs = [0.0, hi]
    ax.plot(xs, xs, color="black", lw=1, label="exact")
    ax.fill_between(
        xs, [0.9 * x for x in xs], [1.1 * x for x in xs], color="#2ca02c", alpha=0.15, label="+-10%"
    )
    for (runtime, dtype), sub in df.groupby(["runtime", "dtype"]):
        ax.scatter(sub["measured_ms"], sub["predicted_ms"], s=22, label=f"{runtime} {dtype}")
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    ax.set_xlabel("measured latency (ms)")
    ax.set_ylabel("LUT-predicted latency (ms)")
    ax.set_title("LUT prediction vs whole-model measurement")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_block_heatmap(df: pd.DataFrame, path: Path) -> Path:
    plt = _plt()
    table = df.pivot_table(
        index="layer", columns="context", values="latency_ms", aggfunc="median", sort=False
    )
    table = table * 1000.0  # microseconds read better than 0.00x ms
    fig_h = max(3.0, 0.28 * len(table) + 1.5)
    fig, ax = plt.subplots(figsize=(4.5 + 1.3 * max(1, table.shape[1]), fig_h))
    im = ax.imshow(table.to_numpy(dtype=float), aspect="auto", cmap="magma_r")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns], rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index], fontsize=7)
    values = table.to_numpy(dtype=float)
    mid = float(pd.Series(values.ravel()).mean())
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if not math.isnan(values[i, j]):
                color = "white" if values[i, j] > mid else "black"
                ax.text(j, i, f"{values[i, j]:.1f}", ha="center", va="center", fontsize=6, color=color)
    fig.colorbar(im, ax=ax, label="cost in the model (us)")
    ax.set_title("Per-block latency by runtime (LUT, boundary-corrected, us)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_(none)_\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _fmt(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def _html_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p><em>(none)</em></p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}dt{font-weight:600}"""


def write_report(data: ReportData, out_dir: Path) -> tuple[Path, Path]:
    """Render plots and write ``report.html`` and ``report.md`` into ``out_dir``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = [
        ("Accuracy vs latency", plot_pareto(data.pareto, out_dir / "pareto.png")),
        ("Predicted vs measured latency", plot_prediction(data.prediction, out_dir / "prediction.png")),
        ("Per-block latency", plot_block_heatmap(data.block_latency, out_dir / "block_latency.png")),
    ]
    tables = [
        ("Models", data.pareto),
        (
            "LUT prediction",
            data.prediction.assign(
                error_pct=100 * (data.prediction["predicted_ms"] / data.prediction["measured_ms"] - 1)
            ),
        ),
        ("Deploy", data.deploy),
    ]
    md = [f"# {data.title}\n"]
    md += [f"- **{k}**: {v}" for k, v in data.summary.items()] + [""]
    md += [f"> {n}" for n in data.notes] + [""]
    for title, path in figures:
        md.append(f"## {title}\n\n![{title}]({path.name})\n")
    for title, df in tables:
        md.append(f"## {title}\n\n{_md_table(df)}")
    md_path = out_dir / "report.md"
    md_path.write_text("\n".join(md))

    summary = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in data.summary.items())
    notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in data.notes)
    figs = "".join(
        f"<h2>{html.escape(t)}</h2><img src='{p.name}' alt='{html.escape(t)}'>" for t, p in figures
    )
    tabs = "".join(f"<h2>{html.escape(t)}</h2>{_html_table(df)}" for t, df in tables)
    html_path = out_dir / "report.html"
    html_path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(data.title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(data.title)}</h1><dl>{summary}</dl>{notes}"
        f"{figs}{tabs}</body></html>"
    )
    return html_path, md_path
