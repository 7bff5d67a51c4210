"""ruff and mypy run as part of the test command, so CI (.ci/run) checks them too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["search", "latency", "deploy", "android_bench", "phonenas"]


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    out = _run("ruff", "check", *PACKAGES, "tests", "benchmarks")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.slow
def test_mypy_is_clean() -> None:
    out = _run("mypy", *PACKAGES)
    assert out.returncode == 0, out.stdout + out.stderr
