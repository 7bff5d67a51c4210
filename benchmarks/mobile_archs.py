"""Well-known mobile architectures outside the zoo and the search spaces, as PhoneNAS ArchSpecs.

Used by ``benchmarks/lut_accuracy.py`` as an independent validation set (never calibration). Written
from the papers' block tables (timm's ``_efficientnet_builder`` grammar: repeats, kernel, stride,
expansion, width, SE, activation) in PhoneNAS's block vocabulary, so they differ from the published
models where that vocabulary does: ReLU6 is ReLU, EfficientNet's swish is hard-swish (``_hs`` in the
name says so), the SE width is PhoneNAS's (a quarter of the hidden width). Latency, not accuracy, is
what they are for.
"""

from __future__ import annotations

from search.arch import Act, ArchSpec, BlockSpec, BlockType, HeadSpec, StemSpec

# (repeats, kernel, first stride, expansion, out width, SE, act)
Row = tuple[int, int, int, float, int, bool, str]

MOBILENET_V2: tuple[Row, ...] = (
    (1, 3, 1, 1, 16, False, "relu"),
    (2, 3, 2, 6, 24, False, "relu"),
    (3, 3, 2, 6, 32, False, "relu"),
    (4, 3, 2, 6, 64, False, "relu"),
    (3, 3, 1, 6, 96, False, "relu"),
    (3, 3, 2, 6, 160, False, "relu"),
    (1, 3, 1, 6, 320, False, "relu"),
)
MNASNET_A1: tuple[Row, ...] = (
    (1, 3, 1, 1, 16, False, "relu"),
    (2, 3, 2, 6, 24, False, "relu"),
    (3, 5, 2, 3, 40, True, "relu"),
    (4, 3, 2, 6, 80, False, "relu"),
    (2, 3, 1, 6, 112, True, "relu"),
    (3, 5, 2, 6, 160, True, "relu"),
    (1, 3, 1, 6, 320, False, "relu"),
)
MNASNET_B1: tuple[Row, ...] = (
    (1, 3, 1, 1, 16, False, "relu"),
    (3, 3, 2, 3, 24, False, "relu"),
    (3, 5, 2, 3, 40, False, "relu"),
    (3, 5, 2, 6, 80, False, "relu"),
    (2, 3, 1, 6, 96, False, "relu"),
    (4, 5, 2, 6, 192, False, "relu"),
    (1, 3, 1, 6, 320, False, "relu"),
)
EFFICIENTNET_B0: tuple[Row, ...] = (
    (1, 3, 1, 1, 16, True, "hs"),
    (2, 3, 2, 6, 24, True, "hs"),
    (2, 5, 2, 6, 40, True, "hs"),
    (3, 3, 2, 6, 80, True, "hs"),
    (3, 5, 1, 6, 112, True, "hs"),
    (4, 5, 2, 6, 192, True, "hs"),
    (1, 3, 1, 6, 320, True, "hs"),
)
PROXYLESS_MOBILE: tuple[Row, ...] = (  # ProxylessNAS (mobile), Cai et al. 2019, Fig. 4
    (1, 3, 1, 1, 16, False, "relu"),
    (1, 5, 2, 3, 32, False, "relu"),
    (1, 3, 1, 3, 32, False, "relu"),
    (1, 7, 2, 3, 40, False, "relu"),
    (3, 3, 1, 3, 40, False, "relu"),
    (1, 7, 2, 6, 80, False, "relu"),
    (2, 5, 1, 3, 80, False, "relu"),
    (1, 5, 1, 6, 96, False, "relu"),
    (3, 5, 1, 3, 96, False, "relu"),
    (1, 7, 2, 6, 192, False, "relu"),
    (3, 7, 1, 6, 192, False, "relu"),
    (1, 7, 1, 6, 320, False, "relu"),
)

TABLES: dict[str, tuple[int, tuple[Row, ...], int]] = {  # name: (stem width, rows, head conv width)
    "mobilenet_v2": (32, MOBILENET_V2, 1280),
    "mnasnet_a1": (32, MNASNET_A1, 1280),
    "mnasnet_b1": (32, MNASNET_B1, 1280),
    "efficientnet_b0_hs": (32, EFFICIENTNET_B0, 1280),
    "proxylessnas_mobile": (32, PROXYLESS_MOBILE, 1280),
}


def mobile_arch(name: str, input_hw: int = 224, num_classes: int = 1000) -> ArchSpec:
    """``name`` (one of :data:`TABLES`) at ``input_hw``; stages split at every row."""
    if name not in TABLES:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(TABLES)}")
    stem, rows, head = TABLES[name]
    stages = []
    for repeats, kernel, stride, expand, out, se, act in rows:
        stages.append(
            tuple(
                BlockSpec(BlockType.IR, out, stride if i == 0 else 1, kernel, float(expand), se, Act(act))
                for i in range(repeats)
            )
        )
    act = Act.HSWISH if name.endswith("_hs") else Act.RELU
    return ArchSpec(input_hw, StemSpec(stem, 3, 2, act), tuple(stages), HeadSpec(head, 0, act), num_classes)
