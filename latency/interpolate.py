"""Estimates for unmeasured channel counts from measured neighbours (always reported as interpolated).

Neighbours share everything but the widths (kind, kernel, input HxW, stride, SE, activation, hidden
width). With two or more neighbours of distinct MACs, latency is fitted as ``a + b * MACs`` on them
(nearest first, up to 6); with one, it is scaled by the MAC ratio. No neighbour -> an error.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from latency.keys import BlockKey, Context


class InterpolationError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def _group(k: BlockKey) -> tuple[object, ...]:
    return (k.kind, k.kernel, k.in_hw, k.stride, k.se, k.act, k.hidden_ch if k.mid_ch else -1, k.mid_ch == 0)


def interpolate_ms(key: BlockKey, entries: Mapping[BlockKey, float], context: Context) -> float:
    """Estimated latency of ``key`` from ``entries`` measured in ``context``."""
    g = _group(key)
    nbrs = [(k, ms) for k, ms in entries.items() if _group(k) == g]
    if not nbrs:
        raise InterpolationError(
            f"cannot interpolate {key.label()} for {context.label()}: no measured layer of the same type, "
            "kernel, resolution, stride, SE and activation; collect it with `phonenas lut collect`"
        )
    target = key.to_layer().macs

    def dist(k: BlockKey) -> float:
        return (
            abs(np.log((k.in_ch + 1) / (key.in_ch + 1)))
            + abs(np.log((k.mid_ch + 1) / (key.mid_ch + 1)))
            + abs(np.log((k.out_ch + 1) / (key.out_ch + 1)))
        )

    nbrs.sort(key=lambda kv: dist(kv[0]))
    near = nbrs[:6]
    macs = np.array([k.to_layer().macs for k, _ in near], dtype=np.float64)
    ms = np.array([v for _, v in near], dtype=np.float64)
    if len(near) >= 2 and np.ptp(macs) > 0:
        b, a = np.polyfit(macs, ms, 1)
        if b > 0:
            return float(max(a + b * target, 0.0))
    base_macs = max(float(macs[0]), 1.0)
    return float(ms[0] * max(target, 1.0) / base_macs)
