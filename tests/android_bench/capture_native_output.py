"""Re-capture the phonenas-runner outputs the parser tests read.

Writes tests/android_bench/data/phonenas_runner_*.txt.

    PYTHONPATH=. python tests/android_bench/capture_native_output.py

Runs the real binary (built by android_bench.native.build_native_runner) on the committed .pte blocks;
paths in the captured text are rewritten to the data-relative names so the files do not depend on
this checkout's location. The numbers are whatever this machine measured at capture time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
BLOCKS = ["et_skip_c1_r1_relu.pte", "et_stem_k3_i3_c16_s2_r24_hs.pte", "et_ir_k3_i16_m48_c16_s2_r12_relu.pte"]


def _run(binary: Path, args: list[str]) -> str:
    res = subprocess.run([str(binary), *args], capture_output=True, text=True, cwd=DATA)
    if res.returncode not in (0, 3):
        raise SystemExit(f"phonenas-runner failed (rc={res.returncode}): {res.stderr[-500:]}")
    return res.stdout


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from android_bench.native import build_native_runner

    binary = build_native_runner()
    garbage = DATA / "not_a_program.pte"
    garbage.write_bytes(b"not an ExecuTorch program")
    try:
        batch = _run(binary, ["--threads=1", "--warmup=3", "--runs=10", BLOCKS[0], garbage.name, *BLOCKS[1:]])
    finally:
        garbage.unlink()
    (DATA / "phonenas_runner_batch.txt").write_text(batch)
    single = _run(binary, ["--threads=1", "--warmup=2", "--runs=5", "--profile", BLOCKS[2]])
    (DATA / "phonenas_runner_profile.txt").write_text(single)
    print("captured", DATA / "phonenas_runner_batch.txt", DATA / "phonenas_runner_profile.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
