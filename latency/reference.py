"""Drift reference: a fixed block timed between the measurements to follow the device's speed.

A shared VM, a phone under DVFS or thermal throttling, a laptop on battery: the same block runs 1.5-2x
slower for seconds to minutes. A LUT collected through such stretches is wrong by the stretch's factor
on the blocks it hit, and a whole model measured later is timed at yet another speed. So every timing
session (:func:`latency.collect.collect`, :func:`latency.validate.measure_models`) interleaves readings
of :data:`REFERENCE_KEY` - a small fixed layer exported through the same runtime and dtype, timed by
the same meter, hence identical for host and adb devices - with its items:

- an item's ``ref_ms`` is the reading just before it and its ``ref_ratio`` the reference's *level*
  (the fastest of the last ``level_window`` readings) over the context's *nominal* reading (stored once
  per context as the ``reference`` entry). The LUT keeps entries in nominal units (``median /
  ref_ratio``) and scales a prediction by the ratio of the moment it is compared with. The level, not
  the single reading, and the fastest, not the median: on the 2-core VM the small reference's readings
  are bimodal (0.073 ms, or 0.085-0.12 ms in stretches of seconds to a minute) while ms-scale blocks
  and models do not follow (correlation 0.35-0.6 over 4 min); scaling by single readings put whole
  models 30-65% off, and by the median of 15 - which flips with the mode - 39% of models within 10%
  against 77% unscaled (real scale, ExecuTorch fp32). The fastest reading is what the device can do
  now; a sustained slowdown (a competing load, a throttled core) moves it once it fills the window.
- the level is trusted only where it leaves the reference's own noise (:func:`device_scale`): readers
  of the store and of whole-model sessions scale by ``device_scale(ref_ratio, center)``, the ratio taken
  relative to the collection's usual level (``center``, :func:`ratio_center` of the context's stored
  blocks, not the one first reading the nominal is): within ``SPEED_BAND`` of it a level is the
  reference's noise (bimodal on this VM) and reads 1, from twice the band on it is a device running at
  another speed and is followed in full.
- the next reading checks the items timed since the last one: more than ``tolerance`` off the median
  of the last ``window`` readings, or off the previous reading, means the device was unstable while
  they ran: they are measured again (up to ``max_remeasure`` times) and the row records how often and
  whether the kept measurement was still unstable. An item ever re-measured is timed once more after
  all the others (``settle_rounds``): a slow stretch can outlast the rounds.
- a meter that knows how long its timing code waited for a CPU (``contention()``: the host meter reads
  the kernel's run-queue wait) flags a measurement that waited more than ``max_wait`` of its wall time,
  and it is measured again at the end of the round like an unstable one (same budget and flag). The
  reference cannot see that case: a process time-sharing the timing CPU pre-empts millisecond-scale
  calls mid-call but leaves the reference's ~0.1 ms calls whole, so its median does not move (on the
  2-core VM two busy processes per CPU took a 2.4 ms model to 6.4 ms and left the reference's reading
  where it was, re-measuring nothing).
- readings are spaced so that they cost at most ``max_overhead`` of the session's time (a reading is
  due once ``last reading's duration / max_overhead`` seconds have passed, and never sooner than
  ``min_interval_s``): the overhead is bounded by construction whatever the meter's protocol.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import TypeVar

from latency.keys import BlockKey
from latency.store import Drift
from search.arch import Act, LayerKind

log = logging.getLogger(__name__)

# ~0.1-0.3 ms on a phone core or this VM at fp32: long enough to time stably, short enough to be cheap
REFERENCE_KEY = BlockKey(LayerKind.IR, 3, 16, 64, 16, 28, 1, False, Act.RELU)

T = TypeVar("T")

# The drift reference's own noise: a level this close to the collection's typical level is not read as
# a change of the device's speed (:func:`device_scale`). Equal to DriftReference.tolerance, the band
# within which a reading already counts as stable.
SPEED_BAND = 0.10


def device_scale(ratio: float, center: float = 1.0, band: float = SPEED_BAND) -> float:
    """The device's speed relative to the LUT's nominal units that a drift-reference level ``ratio``
    vouches for: ``ratio / center`` inside ``band`` of 1 is the reference's noise and reads 1; from twice
    the band on it is a change of speed and is taken as it is; in between it rises linearly from 1 to
    the ratio (continuous, so that two close levels never scale entries a band apart).

    ``center`` is the collection's usual level (:func:`ratio_center`). Measured on the 2-core Intel VM,
    five real-scale collections (31 validation models each; ExecuTorch fp32/int8, LiteRT fp32; 13
    context-runs), re-fitted offline from their stores (``benchmarks/reference_rescore.py``): scaled by
    the raw level, 93.5-100% of models within 10% except one LiteRT run at 64.5% (RMSPE 10.0%), where the
    level flipped between 1.00 and 0.94 from model to model while the models did not follow; scaled by
    ``device_scale``, 93.5-100% in every context-run (that LiteRT run 93.5%, RMSPE 4.6%) and a lower
    RMSPE in each - as low as not scaling at all - while a throttled phone or a sustained slow stretch,
    which moves the level by more than twice the band, is still followed in full."""
    if not (ratio > 0 and center > 0 and band >= 0):
        raise ValueError(
            f"device_scale needs ratio > 0, center > 0, band >= 0 (got {ratio}, {center}, {band})"
        )
    d = ratio / center - 1.0
    return 1.0 + math.copysign(min(max(2.0 * (abs(d) - band), 0.0), abs(d)), d)


def ratio_center(ratios: Sequence[float]) -> float:
    """The collection's usual drift-reference level: the level a quarter of its measurements ran at or
    faster (25th percentile; 1 for none). Not the nominal itself - one reading at the start, on the VM
    up to 14% off what the collection then mostly saw - and not the median, which a slow stretch over
    half the collection would move: this holds while three quarters of it ran slow."""
    kept = sorted(r for r in ratios if r > 0 and math.isfinite(r))
    if not kept:
        return 1.0
    pos = 0.25 * (len(kept) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(kept) - 1)
    return kept[lo] + (pos - lo) * (kept[hi] - kept[lo])


# ``on_step`` statuses of a measurement that was dropped and will be taken again (no progress made)
REMEASURE_STATUSES = frozenset({"unstable", "contended"})


@dataclass(frozen=True)
class Reading:
    ms: float  # median of the reference's samples
    t: float  # clock at the end of the reading
    cost_s: float  # how long the reading took
    stable: bool  # within tolerance of the recent median


@dataclass
class DriftReference:
    """Readings of the reference artifact through ``measure`` (the meter's ``measure`` bound to it).

    ``nominal_ms``: the context's nominal reading (None: the first reading becomes it)."""

    measure: Callable[[], Sequence[float]]
    nominal_ms: float | None = None
    tolerance: float = 0.10
    window: int = 3
    max_overhead: float = 0.06
    min_interval_s: float = 1.0
    max_remeasure: int = 3
    clock: Callable[[], float] = time.perf_counter
    level_window: int = 15
    readings: list[Reading] = field(default_factory=list)
    settle_rounds: int = 2  # extra rounds, at the end, for items re-measured (time_with_reference)
    max_wait: float = 0.25  # share of a measurement's wall time spent waiting for a CPU (meter.contention)

    def __post_init__(self) -> None:
        if (
            not 0 < self.tolerance < 1
            or not 0 < self.max_wait
            or self.window < 1
            or self.level_window < 1
            or not 0 < self.max_overhead <= 1
            or self.settle_rounds < 0
        ):
            raise ValueError(
                "drift reference needs 0 < tolerance < 1, 0 < max_wait, window >= 1, level_window >= 1, "
                f"0 < max_overhead <= 1, settle_rounds >= 0 (got {self.tolerance}, {self.max_wait}, "
                f"{self.window}, {self.level_window}, {self.max_overhead}, {self.settle_rounds})"
            )
        self.spent_s = 0.0
        self.contended = 0  # measurements dropped because the meter said they waited for a CPU

    @property
    def last(self) -> Reading | None:
        return self.readings[-1] if self.readings else None

    def read(self) -> Reading:
        t0 = self.clock()
        samples = list(self.measure())
        t1 = self.clock()
        ms = float(median(samples))
        if not (ms > 0 and math.isfinite(ms)):
            raise RuntimeError(f"the drift reference read {ms} ms; the meter returned no usable samples")
        recent = [r.ms for r in self.readings[-(self.window - 1) :]] if self.window > 1 else []
        med = float(median([*recent, ms]))
        stable = abs(ms / med - 1.0) <= self.tolerance
        reading = Reading(ms, t1, t1 - t0, stable)
        self.readings.append(reading)
        self.spent_s += t1 - t0
        if self.nominal_ms is None:
            self.nominal_ms = ms
        if not stable:
            log.info(
                "drift reference %.4f ms is %.0f%% off its recent median %.4f ms",
                ms,
                100 * (ms / med - 1),
                med,
            )
        return reading

    def due(self) -> bool:
        last = self.last
        if last is None:
            return True
        gap = max(self.min_interval_s, last.cost_s / self.max_overhead)
        return self.clock() - last.t >= gap

    def steady(self, before: Reading, after: Reading) -> bool:
        """Was the device steady while items were timed between two readings: ``after`` is stable and
        the device did not move by more than the tolerance since ``before``."""
        return after.stable and abs(after.ms / before.ms - 1.0) <= self.tolerance

    def level_ratio(self) -> float:
        """The device's speed now over nominal: the fastest of the last ``level_window`` readings over
        the nominal reading (see the module docstring)."""
        assert self.nominal_ms is not None and self.readings
        return min(r.ms for r in self.readings[-self.level_window :]) / self.nominal_ms


@dataclass(frozen=True)
class Timed:
    """An item's kept samples with the drift reference's view of them."""

    samples_ms: list[float]
    drift: Drift

    @property
    def normalized_median_ms(self) -> float:
        return float(median(self.samples_ms)) / self.drift.ref_ratio


def time_with_reference(
    items: Sequence[T],
    measure: Callable[[T], list[float]],
    drift: DriftReference,
    rounds: int = 1,
    on_final: Callable[[int, Timed], None] | None = None,
    on_error: Callable[[int, BaseException], None] | None = None,
    on_step: Callable[[int, str, float | None], None] | None = None,
    on_round: Callable[[list[T]], None] | None = None,
    contention: Callable[[], float | None] | None = None,
) -> dict[int, Timed]:
    """Time every item ``rounds`` times in interleaved rounds between reference readings.

    A measurement's ratio is the reference's level when it starts (:meth:`DriftReference.level_ratio`);
    the next reading checks it: if that reading
    says the device was unstable (off the recent median, or moved since the reading before), the items
    timed in between are measured again (``drift.max_remeasure`` times at most, then kept and flagged
    ``unstable``). Across rounds the confirmed measurement with the lowest *raw* median wins (with its
    ratio): the quietest one. Not the lowest normalized median: the small reference does not slow down
    in proportion to every item (on the 2-core VM a slow stretch took the reference 1.4-1.6x and whole
    models 1.1-1.3x), so dividing by its ratio made slow-stretch measurements look fastest and kept
    them - ExecuTorch fp32 at real scale fell from 90% to 45% of models within 10% that way.

    ``on_final(i, timed)`` fires as soon as item ``i`` is measured in the last round - nothing measured
    waits for the next reading, so a killed session loses at most the item in flight - and fires again
    with a higher ``remeasured`` count when the item had to be measured again (stores keep the most
    re-measured row). An item whose ``measure`` raises is reported to ``on_error`` once and dropped.
    ``contention()`` (the meter's, optional) follows every measurement: the share of its wall time the
    timing code waited for a CPU; above ``drift.max_wait`` the measurement is dropped and the item
    measured again at the end of the round (``drift.max_remeasure`` times at most, then kept and
    flagged ``unstable``), whatever the reference reads next.
    ``on_step(i, status, median_ms)`` follows every measurement ("timed", "measured", "unstable" or
    "contended": the latter two are re-measured).
    ``on_round(items)`` announces each round's items, in order, before the first is measured (batch
    runners time many of them per process). After the last round, the items ever re-measured (and that
    may be re-measured again) get a round of their own, and those it re-measures another, up to
    ``drift.settle_rounds``; each counts as a re-measurement: a stretch of the device that outlasts the
    retries then moves their timing, not their kept value."""
    confirmed: dict[int, Timed] = {}
    tries: dict[int, int] = {}
    failed: set[int] = set()
    todo = list(range(len(items)))
    r = settle = 0
    while todo:
        last_round = r >= rounds - 1
        queue = deque(i for i in todo if i not in failed)
        if on_round:
            on_round([items[i] for i in queue])
        at_start = {i: tries.get(i, 0) for i in queue}
        pending: list[tuple[int, Timed]] = []
        before = drift.last or drift.read()
        while queue or pending:
            if queue and not (pending and drift.due()):
                i = queue.popleft()
                try:
                    samples = [float(s) for s in measure(items[i])]
                except Exception as e:  # noqa: BLE001 - one bad item must not stop a long session
                    failed.add(i)
                    if on_error:
                        on_error(i, e)
                    continue
                n = tries.get(i, 0)
                wait = contention() if contention else None
                busy = wait is not None and wait > drift.max_wait
                if wait is not None and busy and n < drift.max_remeasure:
                    tries[i] = n + 1
                    queue.append(i)  # at the round's end: a competing load lasts a while
                    drift.contended += 1
                    log.info("measurement waited %.0f%% of its time for a CPU: measured again", 100 * wait)
                    if on_step:
                        on_step(i, "contended", None)
                    continue
                timed = Timed(samples, Drift(before.ms, drift.level_ratio(), n, busy))
                pending.append((i, timed))
                if (
                    last_round and n < drift.max_remeasure and on_final
                ):  # provisional: superseded if re-measured
                    on_final(i, _kept(confirmed.get(i), timed, n))
                if on_step:
                    on_step(i, "measured" if last_round else "timed", float(median(samples)))
                continue
            after = drift.read()
            ok = drift.steady(before, after)
            retry = []
            for i, timed in pending:
                n = tries.get(i, 0)
                if not ok and n < drift.max_remeasure:
                    tries[i] = n + 1
                    retry.append(i)
                    if on_step:
                        on_step(i, "unstable", None)
                    continue
                if not ok:
                    timed = Timed(timed.samples_ms, Drift(timed.drift.ref_ms, timed.drift.ref_ratio, n, True))
                confirmed[i] = _kept(confirmed.get(i), timed, n)
                if last_round and n >= drift.max_remeasure and on_final:
                    on_final(i, confirmed[i])
            queue.extendleft(reversed(retry))
            pending = []
            before = after
        r += 1
        if r < rounds:
            continue
        # settle rounds: an item the reference had re-measured was timed around an unsettled stretch of
        # the device, which can outlast the rounds (a fresh-clone demo: the first 110 of 158 LiteRT
        # blocks of every round, each re-measured once and then read steady by the small reference,
        # were stored 1.3-1.7x slower than in another run; the last 48 agreed within 5%). It is timed
        # once more after all the others (again after a settle round that re-measured it), the lower
        # median kept.
        if settle >= drift.settle_rounds:
            break
        since = at_start if settle else dict.fromkeys(at_start, 0)
        todo = [i for i in since if i not in failed and since[i] < tries.get(i, 0) < drift.max_remeasure]
        settle += 1
        for i in todo:
            tries[i] += 1
    return confirmed


def _kept(prev: Timed | None, new: Timed, tries: int) -> Timed:
    """The lower raw median of two measurements of one item (see :func:`time_with_reference`), carrying
    the item's re-measure count."""
    best = new if prev is None or median(new.samples_ms) < median(prev.samples_ms) else prev
    return Timed(best.samples_ms, _with_tries(best.drift, tries))


def _with_tries(d: Drift, tries: int) -> Drift:
    return Drift(d.ref_ms, d.ref_ratio, tries, d.unstable)


def reference_measure(meter: object, artifact: Path, runtime: str) -> Callable[[], list[float]]:
    """The meter's ``measure`` bound to the reference artifact (host and adb meters alike)."""
    chw = REFERENCE_KEY.input_chw
    return lambda: meter.measure(artifact, chw, runtime)  # type: ignore[attr-defined]
