"""A killed collection takes its export workers with it (no orphans burning the cores of its re-run)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

LINUX = sys.platform.startswith("linux")

SCRIPT = """
import os, signal, time
from latency.collect import ExportPool

def slow(x):
    time.sleep(120)
    return x

if __name__ == "__main__":
    with ExportPool(2) as pool:
        futs = [pool.submit(slow, i) for i in range(2)]
        pids = pool.wait_started(2, timeout_s=300)  # the handshake: both ran die_with_parent
        print(" ".join(str(p) for p in pids), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
"""

ORPHAN = """
import os, sys, time
from latency.collect import die_with_parent

if __name__ == "__main__":
    parent = int(sys.argv[1])
    while os.getppid() == parent:  # wait until the parent is gone (re-parented to init or a subreaper)
        time.sleep(0.01)
    die_with_parent(parent)
    print("survived", flush=True)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not LINUX, reason="PR_SET_PDEATHSIG is Linux-only")
def test_export_workers_die_with_the_collector(tmp_path) -> None:
    script = tmp_path / "collector.py"
    script.write_text(SCRIPT)
    log = tmp_path / "out.txt"
    with log.open("w") as f:  # a file, not a pipe: surviving workers would hold a pipe open
        subprocess.run([sys.executable, str(script)], stdout=f, stderr=subprocess.STDOUT, timeout=600)
    pids = [int(p) for p in log.read_text().splitlines()[0].split()]
    assert len(pids) == 2, log.read_text()
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftover = [p for p in pids if _alive(p)]
    for p in leftover:
        os.kill(p, 9)
    assert not leftover, f"export workers {leftover} outlived the killed collector"


@pytest.mark.skipif(not LINUX, reason="PR_SET_PDEATHSIG is Linux-only")
def test_a_worker_whose_collector_died_before_prctl_exits_at_once(tmp_path) -> None:
    """The race PR_SET_PDEATHSIG leaves open: the parent dies before the worker arms the death signal."""
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    log = tmp_path / "out.txt"
    # an intermediate shell starts the "worker" in the background and exits at once: the worker is
    # re-parented before it calls die_with_parent($$ of that shell)
    with log.open("w") as f:
        subprocess.run(
            ["sh", "-c", f'"{sys.executable}" "{script}" $$ & echo $!'],
            stdout=f,
            stderr=subprocess.STDOUT,
            timeout=60,
        )
    pid = int(log.read_text().split()[0])
    deadline = time.monotonic() + 120
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _alive(pid)
    if alive:
        os.kill(pid, 9)
    assert not alive, f"worker {pid} outlived its collector"
    assert "survived" not in log.read_text()


def test_export_workers_are_kept_across_uses_and_replaced_when_broken() -> None:
    from latency.collect import ExportWorkers

    with pytest.raises(ValueError, match=">= 1 worker"):
        ExportWorkers(0)
    with ExportWorkers(1) as workers:
        first = workers.pool()
        pid = first.submit(os.getpid).result(timeout=300)
        assert workers.pool() is first and workers.pool().submit(os.getpid).result(timeout=300) == pid
        assert workers.starts == 1
        with pytest.raises(Exception):  # noqa: B017, PT011 - BrokenProcessPool: the worker died
            first.submit(os._exit, 1).result(timeout=300)
        second = workers.pool()  # a dead worker's pool is replaced, not reused
        assert second is not first and workers.starts == 2
        assert second.submit(os.getpid).result(timeout=300) != pid
    assert workers._pool is None  # closed with the block


@pytest.mark.slow
def test_collections_share_one_set_of_export_workers(tmp_path) -> None:
    from latency.collect import ExportWorkers, collect
    from latency.export import ArtifactCache
    from latency.keys import BlockKey
    from latency.meters import HostMeter
    from latency.store import LUTStore
    from latency.timer import TimingProtocol
    from search.arch import Act, LayerKind

    keys = [
        BlockKey(LayerKind.IR, 3, 16, 48, 24, 8, 2, False, Act.RELU),
        BlockKey(LayerKind.IR, 5, 24, 72, 24, 4, 1, True, Act.HSWISH),
        BlockKey(LayerKind.IR, 3, 8, 24, 8, 8, 1, False, Act.RELU),
    ]
    meter = HostMeter(protocol=TimingProtocol(warmup=3, min_runs=10, max_runs=20, max_time_s=0.2), rounds=1)
    store, cache = LUTStore(tmp_path / "lut"), ArtifactCache(tmp_path / "art")
    with ExportWorkers(2) as workers:
        a = collect(store, keys[:2], "executorch", "fp32", meter, cache, workers)
        pool = workers.pool()
        b = collect(store, keys, "executorch", "fp32", meter, cache, workers)
        assert workers.pool() is pool and workers.starts == 1
    assert (a.measured, a.exports) == (2, 2) and not a.failed
    assert (b.measured, b.skipped, b.exports) == (
        1,
        2,
        1,
    ) and not b.failed  # one missing key: still in a worker
