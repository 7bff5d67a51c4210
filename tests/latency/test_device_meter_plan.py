"""DeviceMeter's round plan with a batch runner: repeated artifacts (a whole model read MODEL_READINGS
times per round, the call-overhead probe) and the drift reference's re-measures."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import android_bench as ab
from latency.meters import DeviceMeter


class BatchRunner:
    name = "fake-batch"

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def batch_argv(self, *args, **kwargs):  # marks a batch runner; never called here
        raise AssertionError


@pytest.fixture
def meter(monkeypatch):
    batches: list[list[str]] = []
    timed = iter(range(1, 1000))

    def measure_batch(device, runner, artifacts, protocol, *, info=None, cache=None):
        batches.append([Path(a).name for a in artifacts])
        # every item of the batch is its own timing, at its own place: a distinct reading each
        return SimpleNamespace(
            results=tuple(SimpleNamespace(samples_ms=[float(next(timed))]) for _ in artifacts)
        )

    monkeypatch.setattr(ab, "measure_batch", measure_batch)

    def make(batch_size: int) -> DeviceMeter:
        m = DeviceMeter(SimpleNamespace(id="fake"), runner=BatchRunner(batch_size))
        m._info = SimpleNamespace()
        m.batches = batches  # type: ignore[attr-defined]
        return m

    return make


def _read(m: DeviceMeter, name: str) -> float:
    return m.measure(Path(name), (3, 8, 8), "executorch")[0]


def test_repeated_artifacts_are_timed_in_one_batch_each_reading_its_own(meter):
    m = meter(64)
    plan = ["P", "a", "P", "b", "P"]
    m.plan([Path(p) for p in plan])
    got = [_read(m, p) for p in plan]
    assert m.batches == [plan]  # one process for the round (the old lookup by name started 3 more)
    assert got == [1.0, 2.0, 3.0, 4.0, 5.0]  # each reading of P is a different timing, in plan order


def test_an_item_asked_again_is_timed_afresh_from_its_place_on(meter):
    m = meter(64)
    plan = ["P", "a", "P", "b", "c"]
    m.plan([Path(p) for p in plan])
    assert [_read(m, p) for p in plan[:4]] == [1.0, 2.0, 3.0, 4.0]
    # the drift reference says the device moved while "P", "b" ran: both are asked again
    assert _read(m, "P") == 6.0 and _read(m, "b") == 7.0
    assert _read(m, "c") == 8.0  # from the new batch, not the one timed before the re-measure
    assert m.batches == [plan, ["P", "b", "c"]]


def test_batches_hold_at_most_batch_size_items(meter):
    m = meter(2)
    plan = ["P", "a", "P", "b", "P"]
    m.plan([Path(p) for p in plan])
    assert [_read(m, p) for p in plan] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert m.batches == [["P", "a"], ["P", "b"], ["P"]]
