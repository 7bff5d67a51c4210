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
