import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from deploy import Dtype
from latency.collect import MODEL_READINGS, collect
from latency.export import OVERHEAD_KEY, ArtifactCache
from latency.keys import BlockKey
from latency.reference import REFERENCE_KEY
from latency.store import LUTStore
from tests.support.lut_fakes import FakeMeter, fake_exporter

KEYS = [BlockKey("ir", 3, c, 3 * c, c, 8, 1, False, "relu") for c in range(8, 38)]


def _cache(tmp_path, log):
    return ArtifactCache(tmp_path / "art", salt=("test",), exporter=fake_exporter(log))


def test_collect_measures_each_key_once_and_resumes(tmp_path):
    store, mlog, elog = LUTStore(tmp_path / "lut"), tmp_path / "measure.log", tmp_path / "export.log"
    rep = collect(store, KEYS[:10], "executorch", "fp32", FakeMeter(mlog), _cache(tmp_path, elog))
    assert rep.measured == 10 and rep.skipped == 0 and not rep.failed
    rep2 = collect(
        LUTStore(tmp_path / "lut"), KEYS[:12], "executorch", "fp32", FakeMeter(mlog), _cache(tmp_path, elog)
    )
    assert rep2.measured == 2 and rep2.skipped == 10
    ref = _cache(tmp_path, elog).path_for(REFERENCE_KEY, "executorch", Dtype.FP32).name
    probe = _cache(tmp_path, elog).path_for(OVERHEAD_KEY, "executorch", Dtype.FP32).name
    calls = mlog.read_text().split()
    measured = [a for a in calls if a not in (ref, probe)]
    assert len(measured) == len(set(measured)) == 12
    # the call-overhead probe: first run only, read MODEL_READINGS times among its blocks
    assert calls.count(probe) == MODEL_READINGS and calls.index(probe) > calls.index(measured[0])
    # the drift reference: the nominal reading + readings between the blocks of both runs (how many
    # depends on the wall time; its share is tested on a fake clock in test_drift.py)
    assert calls.count(ref) >= 1 + 2 * 2
    assert len(elog.read_text().split()) == 13 + 1  # + the reference, exported once
    df = LUTStore(tmp_path / "lut").frame()
    assert (df["entry"] == "layer").sum() == 12 and (df["entry"] == "overhead").sum() == 1
    assert (df["entry"] == "reference").sum() == 1
    assert (df["ref_ratio"] > 0).all() and (df["remeasured"] == 0).all()
    # another dtype is another context: measured afresh, exports cached per dtype
    rep3 = collect(store, KEYS[:2], "executorch", "int8", FakeMeter(mlog), _cache(tmp_path, elog))
    assert rep3.measured == 2


def test_failing_export_is_reported_and_others_continue(tmp_path):
    def flaky(key, runtime, dtype, out_path):
        if key.in_ch == 9:
            raise RuntimeError("unsupported op")
        out_path.write_text(key.label())
        return out_path

    cache = ArtifactCache(tmp_path / "art", salt=("t",), exporter=flaky)
    rep = collect(
        LUTStore(tmp_path / "lut"), KEYS[:3], "litert", "int8", FakeMeter(tmp_path / "m.log"), cache
    )
    assert rep.measured == 2 and [k.in_ch for k, _ in rep.failed] == [9]
    assert "unsupported op" in rep.failed[0][1]


SCRIPT = textwrap.dedent("""
    from pathlib import Path
    from latency.collect import MODEL_READINGS, collect
    from latency.export import ArtifactCache
    from latency.keys import BlockKey
    from latency.store import LUTStore
    from tests.support.lut_fakes import FakeMeter, fake_exporter
    root = Path({root!r})
    keys = [BlockKey("ir", 3, c, 3 * c, c, 8, 1, False, "relu") for c in range(8, 38)]
    cache = ArtifactCache(root / "art", salt=("test",), exporter=fake_exporter(root / "export.log"))
    collect(LUTStore(root / "lut"), keys, "executorch", "fp32", FakeMeter(root / "measure.log", 0.05), cache)
""")


def test_sigkill_mid_run_then_resume_loses_and_duplicates_nothing(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(root=str(tmp_path)))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    lut = tmp_path / "lut"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(lut.glob("part-*.parquet"))) < 8:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    rows_before = LUTStore(lut).frame()
    assert 8 <= len(rows_before) < 31, "the kill should land mid-run"
    measured_before = (tmp_path / "measure.log").read_text().split()

    subprocess.run([sys.executable, str(script)], env=env, check=True, timeout=120)
    df = LUTStore(lut).frame()
    layers = df[df["entry"] == "layer"]
    assert len(layers) == 30 and (df["entry"] == "overhead").sum() == 1
    assert not df.duplicated(["entry", "in_ch"]).any()
    # earlier rows survive unchanged
    assert set(rows_before["row_id"]) <= set(df["row_id"])
    cache = _cache(tmp_path, tmp_path / "x.log")
    ref = cache.path_for(REFERENCE_KEY, "executorch", Dtype.FP32).name
    probe = cache.path_for(OVERHEAD_KEY, "executorch", Dtype.FP32).name
    calls = (tmp_path / "measure.log").read_text().split()
    measured = [a for a in calls if a not in (ref, probe)]
    measured_before = [a for a in measured_before if a not in (ref, probe)]
    stored_before = {k for k in _artifact_names(tmp_path, rows_before)}
    # nothing stored before the kill was measured again; at most the in-flight key was measured twice
    again = measured[len(measured_before) :]
    assert not stored_before & set(again)
    assert len(measured) <= 30 + 1
    # the call-overhead probe is stored after the blocks: the killed run's readings are lost, the resumed
    # run reads it again
    assert (rows_before["entry"] != "overhead").all()
    assert MODEL_READINGS <= calls.count(probe) <= 2 * MODEL_READINGS
    exports = (tmp_path / "export.log").read_text().split()
    assert len(exports) <= 31 + 1 and set(exports) >= {k.label() for k in KEYS}


def _artifact_names(tmp_path, rows):
    cache = ArtifactCache(tmp_path / "art", salt=("test",), exporter=fake_exporter(tmp_path / "x.log"))
    from deploy import Dtype

    by_ch = {k.in_ch: k for k in [*KEYS, OVERHEAD_KEY]}
    for r in rows.to_dict("records"):
        if r["entry"] == "layer":
            yield cache.path_for(by_ch[int(r["in_ch"])], "executorch", Dtype.FP32).name
