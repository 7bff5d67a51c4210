"""LiteRT ``.tflite`` with an NHWC (channels-last) input: the same exporter and runner as ``tflite``.

Phones' camera pipelines hand over NHWC buffers; this variant moves the transpose into the model.
Runners still take NCHW (they transpose on the way in). LUTs are measured with ``tflite`` (NCHW).
"""

from __future__ import annotations

from dataclasses import replace

from deploy.targets.tflite import SPEC as NCHW
from deploy.targets.tflite import LiteRT

SPEC = replace(
    NCHW,
    name="tflite-nhwc",
    title="LiteRT (.tflite, NHWC input)",
    layout="nhwc",
    lut_dtypes={},  # same runtime and delegate as tflite: its LUT covers this one
    aliases=("litert-nhwc",),
    order=50,
    in_default_set=False,
)

TARGET = LiteRT(SPEC)
