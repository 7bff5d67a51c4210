"""The quiet console: other libraries' output (Python, native fds, child processes) goes to the log file,
PhoneNAS's own progress and warnings stay on the terminal. Each case runs in a fresh interpreter whose
real stdout/stderr are pipes, so what a user would see is exactly what the subprocess printed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Noise of every kind the runtimes produce, and PhoneNAS's own output, from inside quiet_console.
_NOISY = """
import ctypes, logging, multiprocessing as mp, os, subprocess, sys, warnings
from rich.console import Console
from phonenas.console import configure_logging, quiet_console, capturing
from phonenas.cli.progress import progress_bar

def worker():
    os.write(2, b"worker-fd2-noise\\n")
    print("worker-print-noise", flush=True)

if __name__ == "__main__":
    verbose = sys.argv[2] == "verbose"
    configure_logging(verbose)
    console = Console(force_terminal=False)
    with quiet_console(sys.argv[1], console) as cap:
        os.write(1, b"native-fd1-noise\\n")
        os.write(2, b"native-fd2-noise\\n")
        ctypes.CDLL(None).printf(b"libc-printf-noise\\n")  # C stdio, buffered: flushed before restoring
        print("python-print-noise")
        print("python-stderr-noise", file=sys.stderr)
        warnings.warn("python-warning-noise")
        logging.getLogger("coremltools").warning("third-party-log-noise")
        logging.getLogger("latency.collect").warning("own-warning-line")
        logging.getLogger("deploy.pipeline").info("own-info-line")
        p = mp.get_context("spawn").Process(target=worker)
        p.start(); p.join()
        subprocess.run(["sh", "-c", "echo subprocess-noise >&2"], check=True)
        with progress_bar(console) as bar:
            assert not bar.live._redirect_stdout and not bar.live._redirect_stderr
            task = bar.add_task("own-progress-task", total=1, info="")
            print("print-during-progress-noise")
            bar.update(task, completed=1)
        console.print("own-summary-line")
        assert capturing() is cap and cap.redirected
    assert capturing() is None
    print("after-capture-line", flush=True)
"""

NOISE = (
    "native-fd1-noise",
    "native-fd2-noise",
    "libc-printf-noise",
    "python-print-noise",
    "python-stderr-noise",
    "python-warning-noise",
    "third-party-log-noise",
    "worker-fd2-noise",
    "worker-print-noise",
    "subprocess-noise",
    "print-during-progress-noise",
)


def _run(tmp_path: Path, script: str, *args: str, timeout: int = 300) -> tuple[str, str]:
    path = tmp_path / "noisy.py"
    path.write_text(textwrap.dedent(script))
    out = subprocess.run(
        [sys.executable, str(path), *args],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr, (tmp_path / "out" / "phonenas.log").read_text()


def test_quiet_console_sends_every_kind_of_noise_to_the_log(tmp_path: Path) -> None:
    console, log = _run(tmp_path, _NOISY, str(tmp_path / "out" / "phonenas.log"), "quiet")
    for line in NOISE:
        assert line not in console, f"{line!r} reached the console:\n{console}"
        assert line in log, f"{line!r} missing from the log:\n{log}"
    for line in ("own-warning-line", "own-progress-task", "own-summary-line", "after-capture-line"):
        assert line in console, f"{line!r} missing from the console:\n{console}"
    assert "own-info-line" not in console  # INFO needs --verbose
    assert "own-warning-line" in log and "own-info-line" in log  # the log has our records too
    assert "other libraries' output:" in console and "phonenas.log" in console
    assert "after-capture-line" not in log  # the fds are restored on exit


def test_verbose_shows_the_noise_and_still_logs_it(tmp_path: Path) -> None:
    console, log = _run(tmp_path, _NOISY, str(tmp_path / "out" / "phonenas.log"), "verbose")
    for line in NOISE:
        assert line in console, f"{line!r} not shown with --verbose:\n{console}"
        assert line in log, f"{line!r} missing from the log:\n{log}"
    for line in ("own-warning-line", "own-info-line", "own-summary-line", "after-capture-line"):
        assert line in console
    assert "other libraries' output:" not in console


def test_log_is_appended_across_runs(tmp_path: Path) -> None:
    log_path = str(tmp_path / "out" / "phonenas.log")
    _run(tmp_path, _NOISY, log_path, "quiet")
    _, log = _run(tmp_path, _NOISY, log_path, "quiet")
    assert log.count("==== ") == 2 and log.count("native-fd1-noise") == 2


def test_without_capture_third_party_warnings_still_reach_stderr(tmp_path: Path) -> None:
    script = """
    import logging
    from phonenas.console import configure_logging
    configure_logging(False)
    configure_logging(False)  # idempotent: one handler, one line per record
    logging.getLogger("coremltools").warning("lib-warning")
    logging.getLogger("latency").info("own-info")
    """
    path = tmp_path / "plain.py"
    path.write_text(textwrap.dedent(script))
    out = subprocess.run(
        [sys.executable, str(path)],
        env={"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("lib-warning") == 1 and "own-info" not in out.stderr


# A real noisy call: LiteRT conversion (absl lines such as flatbuffer_export.cc's - which ones depends on
# absl's state), ExecuTorch load (cpuinfo_utils.cpp / threadpool.cpp), coremltools import ("Failed to load
# _MLModelProxy"), torch's _pytree deprecation.
_REAL = """
import sys
from pathlib import Path
from rich.console import Console
from phonenas.console import configure_logging, quiet_console

configure_logging(False)
console = Console(force_terminal=False)
out = Path(sys.argv[1])
with quiet_console(out / "phonenas.log", console):
    import numpy as np
    import torch
    import coremltools  # noqa: F401
    from deploy import Dtype, get_target
    from deploy.verify import verify_artifact
    from search.arch import decode_arch
    from search.build import build_model

    model = build_model(decode_arch("r16:stem_k3_c8_s2_hs:ir_k3_e2_c8_s2_se_hs:head_c16_hs:n10")).eval()
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        ref = model(x).numpy()
    for name in ("tflite", "executorch"):
        target = get_target(name)
        path = out / f"model{target.suffix}"
        target.export(model, x[:1], Dtype.FP32, path, calib=[x])
        check = verify_artifact(target, Dtype.FP32, path, x.numpy(), ref, None, threads=1)
        console.print(f"own-result {name} {check.status}")
"""


@pytest.mark.slow
def test_real_litert_and_executorch_noise_goes_to_the_log(tmp_path: Path) -> None:
    console, log = _run(tmp_path, _REAL, str(tmp_path / "out"), timeout=900)
    lines = console.strip().splitlines()
    # nothing but PhoneNAS's own lines: the two results and where the other libraries' output went
    assert lines[:2] == ["own-result tflite pass", "own-result executorch pass"], console
    assert len(lines) == 3 and lines[2].startswith("other libraries' output:"), console
    # C++ writes to fd 2 (ExecuTorch's cpuinfo/threadpool), Python logging (coremltools) and a torch
    # deprecation warning, all in the log instead. The LiteRT converter's absl lines ("All log messages
    # before absl::InitializeLog() ...", flatbuffer_export.cc) are not required: on 2026-12-05's AMD VM, with
    # the same package versions as earlier passing runs, the converter wrote none of them once coremltools
    # had been imported (it writes them without that import) - whatever it writes still may not reach the
    # console, which the two assertions above check.
    noises = ("cpuinfo_utils.cpp", "threadpool.cpp", "_MLModelProxy", "_pytree.py")
    for noise in noises:
        assert noise in log, f"{noise} missing from the log:\n{log}"


# `phonenas demo` through the real CLI entry point, with the pipeline replaced by one that makes the
# runtimes' kinds of noise (a native fd write, an export worker, a library warning) and reports progress.
_CLI = """
import logging, multiprocessing as mp, os, sys
import pandas as pd
import phonenas.pipeline as pipeline
from phonenas.cli.main import run

def worker():
    os.write(2, b"[cpuinfo_utils.cpp:87] worker-native-noise\\n")

def fake_run_demo(cfg, progress):
    os.write(2, b"I0000 flatbuffer_export.cc:4410] native-noise\\n")
    logging.getLogger("coremltools").warning("Failed to load _MLModelProxy")
    p = mp.get_context("spawn").Process(target=worker)
    p.start(); p.join()
    progress.stage("LUT")
    progress.update("LUT executorch int8", 1, 1, "own-progress-info")
    logging.getLogger("phonenas.pipeline").warning("own-pipeline-warning")
    model = pipeline.ModelRecord("searched@1ms", "searched", "r16:x", 0.9, 0.9, 1.0,
                                 {"executorch int8": 1.0}, {"executorch int8": 1.1},
                                 {"executorch int8": 1.2}, {"executorch int8": "own-remeasure-note"})
    deploy = pd.DataFrame([{"status": "pass"}])
    return pipeline.DemoResult(cfg, [model], pd.DataFrame(), deploy, {"LUT": 1.0},
                               cfg.out / "report.html", cfg.out / "report.md")

if __name__ == "__main__":
    pipeline.run_demo = fake_run_demo
    run(sys.argv[1:])
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_demo_cli_console_is_quiet_unless_verbose(tmp_path: Path, verbose: bool) -> None:
    out = tmp_path / "out"
    args = ["--verbose"] if verbose else []
    console, log = _run(tmp_path, _CLI, *args, "demo", "--out", str(out))
    for noise in ("native-noise", "worker-native-noise", "_MLModelProxy"):
        assert (noise in console) is verbose, console
        assert noise in log, log
    for own in ("LUT", "own-pipeline-warning", "searched@1ms", "deploy checks: 1 pass", "report:"):
        assert own in console, console
    # the target at the measuring session's speed and how far the model landed from it, that speed,
    # and which measurement had to be re-measured
    assert "1 -> 1.2 (-17%)" in console, console
    assert "executorch int8: measured at 1.200x the LUT's speed" in console, console
    assert "searched@1ms executorch int8: own-remeasure-note" in console, console
    # 1.1 predicted vs 1.0 measured is exactly 10% off; 1.0 measured vs 1.2 (target at that speed) is not
    flat = " ".join(console.split())
    assert "within +-10% of the measurement: 1 of 1;" in flat, console
    assert "searched models within +-5% of their target: 0 of 1" in flat, console
