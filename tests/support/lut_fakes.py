"""Fakes for LUT tests: a host Context, small arches, fake rows, a logging FakeMeter and exporter."""

from latency.keys import BlockKey, Context
from latency.stats import summarize
from latency.store import Provenance, make_row
from search.arch import ArchSpec, BlockSpec, HeadSpec, StemSpec

CTX = Context("host", "executorch", "1.5.1", "fp32", 1, "")


def small_arch(c2: int = 24, se: bool = True) -> ArchSpec:
    return ArchSpec(
        32,
        StemSpec(16),
        ((BlockSpec("ir", 16), BlockSpec("skip", 16)), (BlockSpec("ir", c2, 2, 5, 4.0, se=se, act="hs"),)),
        HeadSpec(32),
        10,
    )


def fake_row(ctx: Context, key: BlockKey, ms: float, entry: str = "layer") -> dict:
    samples = [ms * f for f in (0.98, 1.0, 1.0, 1.02, 1.01)]
    return make_row(ctx, key, summarize(samples), samples, Provenance(device_model="test"), entry)


class FakeMeter:
    """A meter that logs each call (to count re-measurements) and returns latencies linear in channels."""

    device_id = "fake"

    def __init__(self, log_path, delay_s: float = 0.0) -> None:
        self.log_path = log_path
        self.delay_s = delay_s

    def context(self, runtime, dtype, probe):
        return Context("fake", runtime, "0.0", dtype, 1, "")

    def provenance(self):
        return Provenance(device_model="fake")

    def measure(self, artifact, input_chw, runtime):
        import time

        with open(self.log_path, "a") as fh:
            fh.write(f"{artifact.name}\n")
        time.sleep(self.delay_s)
        base = 0.001 * (len(artifact.read_text()) + sum(input_chw) / 100)
        return [base * f for f in (1.0, 1.01, 0.99, 1.02, 1.0)]


def fake_exporter(log_path):
    def export(key, runtime, dtype, out_path):
        with open(log_path, "a") as fh:
            fh.write(f"{key.label()}\n")
        out_path.write_text(key.label())
        return out_path

    return export
