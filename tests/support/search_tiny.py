"""A search space small enough to enumerate, and digits cut down so a search epoch takes under a second."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from search.arch import Act, HeadSpec
from search.data import DataBundle, load_data
from search.space import SearchSpace, StageChoices, StemChoices


def make_tiny_space(num_classes: int = 10) -> SearchSpace:
    """Every feature of the supernet on a space small enough to enumerate: 2 resolutions, a stride-1
    first block whose widths overlap its input (weighted residual), expansion, kernel, SE and skip choices."""
    return SearchSpace(
        "tiny",
        (12, 16),
        StemChoices((8, 12)),
        (
            StageChoices((8, 16), 1, 2, (2.0, 3.0), (3, 5)),
            StageChoices((16, 24), 2, 1, (2.0, 4.0), (3,), (False, True), (Act.HSWISH,), skip=True),
        ),
        HeadSpec(conv_ch=16),
        num_classes=num_classes,
    )


def make_tiny_data() -> DataBundle:
    """Digits at 16x16, cut down so a search epoch takes well under a second."""
    full = load_data("digits", size=16, seed=0)
    cut = {"train": 128, "arch": 64, "val": 64, "test": 64, "trainval": 192}
    splits = {}
    for name, n in cut.items():
        x, y = full.split(name).tensors
        splits[name] = TensorDataset(x[:n].clone(), y[:n].clone())
    torch.set_num_threads(1)
    return DataBundle("digits-tiny", 10, 3, 16, splits)
