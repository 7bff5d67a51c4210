"""A deterministic fake device whose speed drifts on purpose (drift reference and block-model tests)."""

from __future__ import annotations

from latency.export import OVERHEAD_KEY
from latency.keys import BlockKey, keys_from_archs
from latency.reference import REFERENCE_KEY
from tests.support.lut_fakes import small_arch

ARCHS = [small_arch(c, se) for c in range(16, 81, 8) for se in (False, True)]
KEYS = keys_from_archs(ARCHS)


def true_ms(key: BlockKey) -> float:
    """The device's latency of a layer at its nominal speed (a smooth function of its shape)."""
    if key == REFERENCE_KEY:
        return 0.2
    if key == OVERHEAD_KEY:
        return 0.01
    return 0.02 + key.to_layer().macs / 2e6


class DriftingMeter:
    """Times in a fake clock: every call costs ``cost_s``; the device runs ``speed(t)`` times slower."""

    device_id = "drift"
    rounds = 1

    def __init__(self, speed, cost_s: float = 0.5) -> None:
        self.speed = speed
        self.cost_s = cost_s
        self.t = 0.0
        self.calls: list[str] = []
        self.by_label = {k.label(): k for k in [*KEYS, REFERENCE_KEY, OVERHEAD_KEY]}

    def clock(self) -> float:
        return self.t

    def context(self, runtime, dtype, probe):
        from latency.keys import Context

        return Context("drift", runtime, "0", dtype, 1, "")

    def provenance(self):
        from latency.store import Provenance

        return Provenance(device_model="drift")

    def measure(self, artifact, input_chw, runtime):
        key = self.by_label[artifact.read_text()]
        factor = self.speed(self.t, self.calls)
        self.t += self.cost_s
        self.calls.append("ref" if key == REFERENCE_KEY else key.label())
        base = true_ms(key) * factor
        return [base * f for f in (0.99, 1.0, 1.0, 1.01, 1.0)]


def export_label(key, runtime, dtype, out_path):
    out_path.write_text(key.label())
    return out_path
