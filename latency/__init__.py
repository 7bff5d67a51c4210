"""Latency lookup tables: typed keys, measurement stats, an append-only store, prediction, the search cost.

Collection (``latency.collect``) exports through ``deploy`` and times on the host or through
``android_bench``; those heavy imports happen inside functions only.
"""

from latency.correction import Correction, fit_correction
from latency.cost import LUTCost
from latency.keys import BlockKey, Context, DType, Runtime, keys_from_archs, keys_from_layers
from latency.lut import LUT, LayerCost, MissingEntriesError, Prediction
from latency.stats import LatencyStats, summarize
from latency.store import LUTStore, LUTStoreError, Provenance

__all__ = [
    "LUT",
    "BlockKey",
    "Context",
    "Correction",
    "DType",
    "LUTCost",
    "LUTStore",
    "LUTStoreError",
    "LatencyStats",
    "LayerCost",
    "MissingEntriesError",
    "Prediction",
    "Provenance",
    "Runtime",
    "fit_correction",
    "keys_from_archs",
    "keys_from_layers",
    "summarize",
]
