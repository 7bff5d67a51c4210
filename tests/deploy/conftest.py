"""Shared fixtures: a tiny 1x16x16 model (fast exports) with well-spread logits, and digits inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.support.deploy_tiny import tiny_model


@pytest.fixture(scope="session")
def model() -> nn.Module:
    return tiny_model()


@pytest.fixture(scope="session")
def digits16() -> torch.Tensor:
    """200 real digit images, 1x16x16, normalised like training."""
    from search.data import digits_dataset

    ds = digits_dataset("test", size=16, channels=1)
    return torch.stack([ds[i][0] for i in range(min(200, len(ds)))])


@pytest.fixture(scope="session")
def calib16() -> list[torch.Tensor]:
    from search.data import digits_dataset

    ds = digits_dataset("train", size=16, channels=1)
    return [torch.stack([ds[i][0] for i in range(64)])]
