"""The host timing loop: adaptive stop, and repeating a run whose median never settles (pre-emption)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types

import numpy as np
import pytest

from deploy import timing
from deploy.timing import time_calls
from latency import timer
from latency.timer import TimingProtocol, time_callable


class FakeClock:
    """Each call of ``fn`` advances the clock by the next scripted duration (ms)."""

    def __init__(self, durations_ms):
        self.durations = iter(durations_ms)
        self.now_ns = 0
        self.calls = 0

    def fn(self) -> None:
        self.calls += 1
        self.now_ns += int(next(self.durations) * 1e6)


@pytest.fixture
def clock(monkeypatch):
    def install(durations_ms):
        c = FakeClock(durations_ms)
        fake = types.SimpleNamespace(
            perf_counter_ns=lambda: c.now_ns, monotonic=lambda: 0.0, sleep=lambda s: None
        )
        monkeypatch.setattr(timer, "time", fake)
        monkeypatch.setattr(timing, "time", fake)  # the timing loop itself (deploy.timing.time_calls)
        return c

    return install


PROTO = TimingProtocol(warmup=2, warmup_s=0.0, min_runs=10, max_runs=40, batch=10, rel_ci=0.01)


def _bimodal(n):  # half the calls pre-empted: the median's CI never gets within 1%
    return [1.0 if i % 2 else 3.0 for i in range(n)]


def test_unstable_run_is_repeated_and_lowest_median_kept(clock):
    c = clock(_bimodal(2 + 40) + [1.0] * (2 + 10))
    samples = time_callable(c.fn, PROTO)
    assert len(samples) == 10 and np.median(samples) == pytest.approx(1.0)
    assert c.calls == 42 + 12  # one unstable attempt to max_runs, one stable attempt stopping at min_runs


def test_retries_are_bounded_and_keep_the_best_attempt(clock):
    worse = [3.0 if i % 3 else 1.0 for i in range(42)]  # median 3.0, unstable
    c = clock(_bimodal(42) + worse + _bimodal(42))
    samples = time_callable(c.fn, PROTO)  # retries=2: three attempts, none stable
    assert c.calls == 3 * 42
    assert np.median(samples) == pytest.approx(2.0)  # the first bimodal attempt (median between modes)


def test_stable_run_and_fixed_count_protocol_are_not_repeated(clock):
    c = clock([1.0] * 12)
    assert len(time_callable(c.fn, PROTO)) == 10 and c.calls == 12
    fixed = TimingProtocol(warmup=2, warmup_s=0.0, min_runs=20, max_runs=20)
    c = clock(_bimodal(22) + [1.0] * 100)
    assert len(time_callable(c.fn, fixed)) == 20 and c.calls == 22  # the user asked for exactly 20 runs


def test_protocol_rejects_negative_retries():
    with pytest.raises(ValueError, match="inconsistent"):
        TimingProtocol(retries=-1)
    with pytest.raises(ValueError, match="inconsistent"):
        TimingProtocol(warmup_s=-0.1)


def test_warm_up_lasts_warmup_s_when_its_calls_are_shorter(monkeypatch):
    """A microsecond-scale artifact's first few hundred calls run slow: warm-up is ``warmup`` calls and at
    least ``warmup_s`` seconds of them, so 10 calls of 10 us are not all it gets; a call longer than
    ``warmup_s`` is warmed up ``warmup`` times, no more."""
    for call_s, warm_calls in ((1e-5, 300), (0.05, 10)):
        clock = types.SimpleNamespace(now=0.0, calls=0, step=call_s)

        def fn(c=clock):
            c.calls += 1
            c.now += c.step

        fake = types.SimpleNamespace(
            perf_counter_ns=lambda c=clock: int(c.now * 1e9), monotonic=lambda c=clock: c.now
        )
        monkeypatch.setattr(timer, "time", fake)
        monkeypatch.setattr(timing, "time", fake)
        proto = TimingProtocol(warmup=10, warmup_s=0.003, min_runs=10, max_runs=10)
        samples = time_callable(fn, proto)
        assert len(samples) == 10
        assert clock.calls - 10 == pytest.approx(warm_calls, abs=1)  # 3 ms of 10 us calls; 10 of 50 ms


class ScriptedMeter:
    """Returns scripted medians per artifact, one per call, and logs the call order."""

    device_id = "scripted"

    def __init__(self, medians: dict[str, list[float]], rounds: int) -> None:
        self.medians = {k: iter(v) for k, v in medians.items()}
        self.rounds = rounds
        self.calls: list[str] = []

    def context(self, runtime, dtype, probe):
        from latency.keys import Context

        return Context("scripted", runtime, "0", dtype, 1, "")

    def provenance(self):
        from latency.store import Provenance

        return Provenance(device_model="scripted")

    def measure(self, artifact, input_chw, runtime):
        from latency.reference import REFERENCE_KEY

        name = artifact.read_text()
        if name == REFERENCE_KEY.label():  # the drift reference: a steady device
            return [1.0] * 5
        self.calls.append(name)
        return [next(self.medians[name])] * 5


def test_collect_times_blocks_in_interleaved_rounds_and_keeps_the_lowest_median(tmp_path):
    from latency.collect import collect
    from latency.export import OVERHEAD_KEY, ArtifactCache
    from latency.keys import BlockKey
    from latency.store import LUTStore

    keys = [BlockKey("ir", 3, c, 3 * c, c, 8, 1, False, "relu") for c in (8, 16)]

    def export(key, runtime, dtype, out_path):
        out_path.write_text(key.label())
        return out_path

    a, b, probe = keys[0].label(), keys[1].label(), OVERHEAD_KEY.label()
    probe_readings = [0.2, 0.15, 0.3, 0.25, 0.1, 0.2, 0.3, 0.2, 0.2]
    meter = ScriptedMeter({a: [2.0, 1.0, 3.0], b: [1.5, 1.5, 1.4], probe: probe_readings}, rounds=3)
    store = LUTStore(tmp_path / "lut")
    rep = collect(store, keys, "executorch", "fp32", meter, ArtifactCache(tmp_path / "art", ("t",), export))
    assert rep.measured == 2, rep.failed
    # interleaved: a slow stretch hits different blocks each round; the call-overhead probe is read
    # MODEL_READINGS times per round among the blocks (not alone before them), its fastest reading kept
    assert meter.calls == [probe, a, probe, b, probe] * 3 and rep.models == []
    rows = store.frame()
    got = {r["in_ch"]: r["median_ms"] for r in rows[rows["entry"] == "layer"].to_dict("records")}
    assert got == {8: 1.0, 16: 1.4}
    (over,) = rows[rows["entry"] == "overhead"].to_dict("records")
    assert over["median_ms"] == 0.1 and over["timestamp"] >= rows[rows["entry"] == "layer"]["timestamp"].max()
    # a second run with the probe stored times no probe (and, here, nothing at all)
    meter2 = ScriptedMeter({}, rounds=3)
    collect(store, keys, "executorch", "fp32", meter2, ArtifactCache(tmp_path / "art", ("t",), export))
    assert meter2.calls == [] and len(store.frame()) == len(rows)


def test_whole_models_are_timed_in_rounds_too(tmp_path, monkeypatch):
    from deploy import Dtype
    from latency import validate
    from latency.export import ArtifactCache
    from search.arch import decode_arch

    def export(key, runtime, dtype, out_path):
        out_path.write_text(key.label())
        return out_path

    arch = decode_arch("r16:stem_k3_c8_s2_relu:ir_k3_e3_c8_s1_relu:head_c16_relu:n10")
    art = tmp_path / "m.pte"
    art.write_text("m")
    monkeypatch.setattr(validate, "model_artifact", lambda cache, a, rt, dt: art)
    meter = ScriptedMeter({"m": [0.5, 0.4]}, rounds=2)
    cache = ArtifactCache(tmp_path / "art", ("t",), export)
    out = validate.measure_models([arch], "executorch", Dtype.FP32, meter, cache=cache, readings=1)
    assert out == [[0.4] * 5] and meter.calls == ["m", "m"]
    # by default a whole model is read MODEL_READINGS times per round, the fastest reading kept
    meter = ScriptedMeter({"m": [0.5, 0.45, 0.6, 0.5, 0.35, 0.5]}, rounds=2)
    out = validate.measure_models([arch], "executorch", Dtype.FP32, meter, cache=cache)
    assert validate.MODEL_READINGS == 3 and out == [[0.35] * 5] and meter.calls == ["m"] * 6
    with pytest.raises(ValueError, match="readings"):
        validate.measure_models([arch], "executorch", Dtype.FP32, meter, cache=cache, readings=0)


def test_host_meter_rounds_are_recorded_and_validated():
    from latency.meters import HostMeter

    assert HostMeter().rounds == 3 and HostMeter().provenance().protocol["rounds"] == 3
    with pytest.raises(ValueError, match="rounds"):
        HostMeter(rounds=0)


def test_host_meter_times_the_runners_bare_call_when_offered(monkeypatch, tmp_path):
    import deploy
    from latency import meters

    calls = []

    class Runner:
        def run(self, x):
            calls.append("run")

        def timed_call(self, x):
            calls.append("prepare")
            return lambda: calls.append("bare")

    monkeypatch.setattr(
        deploy, "get_target", lambda name: types.SimpleNamespace(load=lambda p, threads=1: Runner())
    )
    monkeypatch.setattr(meters, "time_callable", lambda fn, protocol: [fn(), 1.0][1:] * 3)
    assert meters.HostMeter().measure(tmp_path / "m.tflite", (1, 4, 4), "litert") == [1.0] * 3
    assert calls == ["prepare", "bare"]


def test_run_queue_wait_sums_every_threads_schedstat_and_is_none_where_the_kernel_is_silent(tmp_path):
    from latency.timer import run_queue_wait_ns

    for tid, stat in {"10": "500 1200 7\n", "11": "90 300 2\n", "12": "garbage\n"}.items():
        (tmp_path / "task" / tid).mkdir(parents=True)
        (tmp_path / "task" / tid / "schedstat").write_text(stat)
    (tmp_path / "task" / "13").mkdir()  # a thread without schedstat (or gone since the listing)
    assert run_queue_wait_ns(tmp_path / "task") == 1500
    (tmp_path / "empty").mkdir()
    assert run_queue_wait_ns(tmp_path / "empty") is None
    assert run_queue_wait_ns(tmp_path / "missing") is None


def test_thread_run_queue_wait_reads_the_calling_threads_schedstat(tmp_path):
    import threading

    from latency.timer import thread_run_queue_wait_ns

    (tmp_path / "schedstat").write_text("500 1200 7\n")
    assert thread_run_queue_wait_ns(tmp_path / "schedstat") == 1200
    (tmp_path / "bad").write_text("garbage\n")
    assert thread_run_queue_wait_ns(tmp_path / "bad") is None
    assert thread_run_queue_wait_ns(tmp_path / "missing") is None
    if thread_run_queue_wait_ns() is None:
        return  # this kernel does not report run-queue waits
    # another thread of this process, runnable all along, does not count in this thread's wait
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    spinners = [threading.Thread(target=spin) for _ in range(4)]
    for t in spinners:
        t.start()
    try:
        w0, t0 = thread_run_queue_wait_ns(), time.perf_counter_ns()
        time.sleep(0.3)  # asleep, not runnable: no wait of its own
        w1, t1 = thread_run_queue_wait_ns(), time.perf_counter_ns()
    finally:
        stop.set()
        for t in spinners:
            t.join()
    assert (w1 - w0) / (t1 - t0) < 0.1


def test_host_meter_says_what_share_of_its_timing_waited_for_a_cpu(monkeypatch, tmp_path):
    import deploy
    from latency import meters

    class Runner:
        def run(self, x):
            pass

    monkeypatch.setattr(
        deploy, "get_target", lambda name: types.SimpleNamespace(load=lambda p, threads=1: Runner())
    )
    monkeypatch.setattr(meters, "time_callable", lambda fn, protocol: [1.0] * 3)
    waits, clock = iter([100, 6_000_100]), iter([0, 10_000_000])
    # one runtime thread: the calling thread's wait alone (the process's other threads may be waiting)
    monkeypatch.setattr(meters, "thread_run_queue_wait_ns", lambda: next(waits))
    monkeypatch.setattr(meters, "run_queue_wait_ns", lambda: pytest.fail("the whole process was read"))
    monkeypatch.setattr(meters, "time", types.SimpleNamespace(perf_counter_ns=lambda: next(clock)))
    meter = meters.HostMeter()
    assert meter.contention() is None
    meter.measure(tmp_path / "m.tflite", (1, 4, 4), "litert")
    assert meter.contention() == pytest.approx(0.6)
    # more runtime threads: the process's threads' wait, per runtime thread
    waits, clock = iter([0, 8_000_000]), iter([0, 10_000_000])
    monkeypatch.setattr(meters, "run_queue_wait_ns", lambda: next(waits))
    two = meters.HostMeter(threads=2)
    two.measure(tmp_path / "m.tflite", (1, 4, 4), "litert")
    assert two.contention() == pytest.approx(0.4)
    monkeypatch.setattr(meters, "thread_run_queue_wait_ns", lambda: None)  # a kernel without schedstat
    monkeypatch.setattr(meters, "time", types.SimpleNamespace(perf_counter_ns=iter([0, 5]).__next__))
    meter.measure(tmp_path / "m.tflite", (1, 4, 4), "litert")
    assert meter.contention() is None


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU pinning needs Linux")
def test_a_busy_process_on_the_timing_cpu_shows_as_run_queue_wait():
    """The signal itself, on this kernel: two busy processes pinned to the CPU this test is pinned to
    leave its thread at most a third of the CPU, so it waits for a CPU most of the time."""
    from latency.timer import pinned, run_queue_wait_ns, thread_run_queue_wait_ns

    if run_queue_wait_ns() is None:
        pytest.skip("this kernel does not report run-queue waits (/proc/self/task/*/schedstat)")
    cpu = min(os.sched_getaffinity(0))
    code = (
        f"import os, time\nos.sched_setaffinity(0, {{{cpu}}})\n"
        "end = time.time() + 20\nwhile time.time() < end: pass\n"
    )
    busy = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    try:
        with pinned({cpu}):
            time.sleep(0.3)  # the competitors are running
            w0, t0 = run_queue_wait_ns(), time.perf_counter_ns()
            end = time.perf_counter() + 0.5
            while time.perf_counter() < end:
                pass
            share = (run_queue_wait_ns() - w0) / (time.perf_counter_ns() - t0)
            w0, t0 = thread_run_queue_wait_ns(), time.perf_counter_ns()
            end = time.perf_counter() + 0.5
            while time.perf_counter() < end:
                pass
            mine = (thread_run_queue_wait_ns() - w0) / (time.perf_counter_ns() - t0)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert share > 0.25, share
    assert mine > 0.25, mine  # the thread's own reading shows it too


def test_time_calls_warms_up_untimed_then_times_each_call():
    calls: list[int] = []
    samples = time_calls(lambda: calls.append(1), runs=5, warmup=3)
    assert len(calls) == 8 and len(samples) == 5
    assert all(s >= 0 for s in samples)
    assert time_calls(lambda: calls.append(1), runs=0, warmup=2) == [] and len(calls) == 10
    with pytest.raises(ValueError, match="runs and warmup"):
        time_calls(lambda: None, runs=-1)
