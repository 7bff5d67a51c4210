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


def arch_ms(arch) -> float:
    """A whole model's latency at nominal speed: the sum of its layers' (no boundary effects)."""
    from search.arch import LayerKind, profile_arch

    return sum(
        true_ms(BlockKey.from_layer(la)) for la in profile_arch(arch).layers if la.kind is not LayerKind.SKIP
    )


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


def model_artifacts(root):
    """A stand-in for ``latency.validate.model_artifact`` writing, under ``root``, the model files
    :class:`ModelMeter` reads ('model:<arch>')."""
    from search.arch import encode_arch

    def artifact(cache, arch, runtime, dtype):
        p = root / f"model-{abs(hash(encode_arch(arch)))}.pte"
        p.write_text("model:" + encode_arch(arch))
        return p

    return artifact


class ModelMeter(DriftingMeter):
    """A device the reference cannot follow: the blocks and models run 1.3x slower while the first
    ``slow_s`` seconds last, the small reference never slows down. A model artifact holds 'model:<arch>'."""

    def __init__(self, slow_s: float) -> None:
        super().__init__(lambda t, n: 1.0)
        self.slow_s = slow_s

    def measure(self, artifact, input_chw, runtime):
        from search.arch import decode_arch

        text = artifact.read_text()
        if not text.startswith("model:"):
            if self.by_label[text] == REFERENCE_KEY:
                return super().measure(artifact, input_chw, runtime)
            self.speed = lambda t, n: 1.3 if t < self.slow_s else 1.0
            out = super().measure(artifact, input_chw, runtime)
            self.speed = lambda t, n: 1.0
            return out
        factor = 1.3 if self.t < self.slow_s else 1.0
        self.t += self.cost_s
        self.calls.append("model")
        return [arch_ms(decode_arch(text[len("model:") :])) * factor] * 5


class BusyMeter(DriftingMeter):
    """Another process time-shares the timing CPU from ``start_s`` to ``end_s``: the blocks run
    ``slow`` times slower, the small reference (its calls fit in a scheduler slice) does not, and
    :meth:`contention` (the host meter's run-queue wait share) says how long the timing waited for a CPU.
    ``reports=False``: a meter that cannot tell (no ``contention`` answer)."""

    def __init__(self, start_s: float, end_s: float, slow: float = 2.5, reports: bool = True) -> None:
        super().__init__(lambda t, n: 1.0)
        self.start_s, self.end_s, self.slow, self.reports = start_s, end_s, slow, reports
        self._wait: float | None = None

    def busy(self) -> bool:
        return self.start_s <= self.t < self.end_s

    def measure(self, artifact, input_chw, runtime):
        busy = self.busy()
        self._wait = (0.6 if busy else 0.01) if self.reports else None
        if self.by_label[artifact.read_text()] == REFERENCE_KEY or not busy:
            return super().measure(artifact, input_chw, runtime)
        self.speed = lambda t, n: self.slow
        out = super().measure(artifact, input_chw, runtime)
        self.speed = lambda t, n: 1.0
        return out

    def contention(self) -> float | None:
        return self._wait
