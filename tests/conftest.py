"""Suite-wide fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject addopts): one worker per CPU, at most MAX_WORKERS. Every worker imports torch
    and several tests export models or spawn export workers of their own (~2-3 GB each), so a 32-core box
    must not start 32 of them; most of the suite waits on subprocesses (runners, adb, exports), so two
    workers on two cores still overlap one test's waiting with another's work."""
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


@pytest.fixture(scope="session")
def artifact_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One exported-artifact cache for the CLI end-to-end tests (``--cache``): exports depend on the block,
    runtime and dtype only, never on the device or the store, so the drift reference, the call-overhead
    probe and the digits blocks are exported once per session instead of once per test. Tests that count
    exports or cache hits keep their own cache."""
    return tmp_path_factory.mktemp("artifacts")
