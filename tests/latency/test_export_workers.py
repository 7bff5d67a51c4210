"""A killed collection takes its export workers with it (no orphans burning the cores of its re-run)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

SCRIPT = """
import os, signal, time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from latency.collect import die_with_parent

def slow(x):
    time.sleep(120)
    return x

if __name__ == "__main__":
    with ProcessPoolExecutor(2, mp_context=get_context("spawn"), initializer=die_with_parent) as pool:
        futs = [pool.submit(slow, i) for i in range(2)]
        while len(pool._processes) < 2 or not all(p.is_alive() for p in pool._processes.values()):
            time.sleep(0.1)
        time.sleep(1.0)  # workers have run their initializer and picked up work
        print(" ".join(str(p.pid) for p in pool._processes.values()), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_export_workers_die_with_the_collector(tmp_path) -> None:
    script = tmp_path / "collector.py"
    script.write_text(SCRIPT)
    log = tmp_path / "out.txt"
    with log.open("w") as f:  # a file, not a pipe: surviving workers would hold a pipe open
        subprocess.run([sys.executable, str(script)], stdout=f, stderr=subprocess.STDOUT, timeout=120)
    pids = [int(p) for p in log.read_text().splitlines()[0].split()]
    assert len(pids) == 2, log.read_text()
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftover = [p for p in pids if _alive(p)]
    for p in leftover:
        os.kill(p, 9)
    assert not leftover, f"export workers {leftover} outlived the killed collector"
