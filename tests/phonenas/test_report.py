"""The report renders: files exist, tables carry the numbers, and headless Chromium loads every image."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from phonenas.report import ReportData, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _data() -> ReportData:
    pareto = pd.DataFrame(
        {
            "model": ["searched@1ms", "searched@2ms", "mbv3s_x0.5", "mbv3s_x1.0"],
            "kind": ["searched", "searched", "baseline", "baseline"],
            "runtime": "executorch",
            "dtype": "int8",
            "latency_ms": [1.0, 2.0, 1.4, 2.6],
            "accuracy": [0.93, 0.96, 0.90, 0.95],
        }
    )
    prediction = pd.DataFrame(
        {
            "model": ["a", "b"],
            "runtime": "executorch",
            "dtype": "int8",
            "predicted_ms": [1.05, 1.8],
            "measured_ms": [1.0, 2.0],
        }
    )
    blocks = pd.DataFrame(
        {
            "layer": ["stem", "s0.b0"] * 2,
            "context": ["executorch int8"] * 2 + ["litert fp32"] * 2,
            "latency_ms": [0.1, 0.2, 0.3, 0.05],
        }
    )
    deploy = pd.DataFrame({"model": ["a"], "target": ["executorch"], "dtype": ["int8"], "size_kb": [12.5]})
    return ReportData(
        "PhoneNAS test report", pareto, prediction, blocks, deploy, {"device": "host"}, ["a note"]
    )


def test_report_writes_tables_and_plots(tmp_path: Path) -> None:
    html_path, md_path = write_report(_data(), tmp_path)
    md = md_path.read_text()
    for png in ("pareto.png", "prediction.png", "block_latency.png"):
        assert (tmp_path / png).stat().st_size > 5000, png
        assert f"]({png})" in md and f"src='{png}'" in html_path.read_text()
    assert "| searched@1ms | searched | executorch | int8 | 1 | 0.93 |" in md
    assert re.search(r"\| a \| executorch \| int8 \| 1\.05 \| 1 \| 5 \|", md), md  # +5% error column


def test_report_rejects_missing_columns(tmp_path: Path) -> None:
    d = _data()
    with pytest.raises(ValueError, match="lacks columns"):
        ReportData("x", d.pareto.drop(columns=["accuracy"]), d.prediction, d.block_latency, d.deploy)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    html_path, _ = write_report(_data(), tmp_path)
    # A probe copy reports each image's decoded width into the DOM once the page has loaded.
    probe = tmp_path / "probe.html"
    probe.write_text(
        html_path.read_text().replace(
            "</body>",
            "<script>window.addEventListener('load',()=>{document.body.setAttribute('data-images',"
            "JSON.stringify([...document.images].map(i=>[i.getAttribute('src'),i.complete?i.naturalWidth:0])))})"
            "</script></body>",
        )
    )
    profile = tmp_path / "chrome-profile"
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    m = re.search(r"data-images=\"([^\"]*)\"", out)
    assert m, "page did not finish loading in Chromium"
    images = json.loads(m.group(1).replace("&quot;", '"'))
    assert sorted(src for src, _ in images) == ["block_latency.png", "pareto.png", "prediction.png"]
    assert all(width > 100 for _, width in images), images
    assert "PhoneNAS test report" in out
