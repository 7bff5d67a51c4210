"""Suite-wide fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def artifact_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One exported-artifact cache for the CLI end-to-end tests (``--cache``): exports depend on the block,
    runtime and dtype only, never on the device or the store, so the drift reference, the call-overhead
    probe and the digits blocks are exported once per session instead of once per test. Tests that count
    exports or cache hits keep their own cache."""
    return tmp_path_factory.mktemp("artifacts")
