"""ruff and mypy run as part of the test command, so CI (.ci/run) checks them too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["search", "latency", "deploy", "android_bench", "phonenas"]
SOURCES = [*PACKAGES, "tests", "benchmarks"]


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_is_clean() -> None:
    # E501 (line length) is checked with the formatter below, which fixes most long lines by itself
    out = _run("ruff", "check", "--extend-ignore", "E501", *SOURCES)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_and_line_length() -> None:
    """The tree is `ruff format`-ted and no line exceeds 110 characters (pyproject [tool.ruff])."""
    fmt = _run("ruff", "format", "--check", *SOURCES)
    length = _run("ruff", "check", "--select", "E501", *SOURCES)
    assert fmt.returncode == 0 and length.returncode == 0, fmt.stdout + fmt.stderr + length.stdout


@pytest.mark.slow
def test_mypy_is_clean() -> None:
    out = _run("mypy", *PACKAGES)
    assert out.returncode == 0, out.stdout + out.stderr
