"""Build ``phonenas-runner`` (``runner/``) for this host against the installed executorch wheel.

One documented command does it by hand (README, docs/android_runners.md)::

    python -m android_bench.native            # -> build/phonenas-runner, prints its path

and every test, benchmark and CLI path that needs the binary calls :func:`build_native_runner`, which
rebuilds only when the sources, the executorch version or the compiler changed (a stamp file holds
the hash of all three). The build runs under ``nice`` with ``-j2`` (``PHONENAS_BUILD_JOBS``) and a
file lock, so concurrent callers wait for one build. Requires ``cmake`` and a C++17 compiler; the
executorch package is located without importing it (no torch import).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = [
    "RUNNER_SOURCE",
    "NativeBuildError",
    "build_native_runner",
    "executorch_package_dir",
    "runner_for_abi",
]

log = logging.getLogger(__name__)

RUNNER_SOURCE = Path(__file__).resolve().parents[1] / "runner"
DEFAULT_BUILD_DIR = Path(__file__).resolve().parents[1] / "build"
BINARY_NAME = "phonenas-runner"


class NativeBuildError(RuntimeError):
    """phonenas-runner cannot be built here; the message says what is missing."""


def executorch_package_dir() -> Path:
    """The installed ``executorch`` package directory (its CMake config lives under lib/cmake)."""
    spec = importlib.util.find_spec("executorch")
    if spec is None or not spec.submodule_search_locations:
        raise NativeBuildError(
            "the executorch Python package is not installed; install the project (pip install -e .) "
            "so phonenas-runner can be built against its wheel"
        )
    root = Path(list(spec.submodule_search_locations)[0])
    if not (root / "lib" / "cmake" / "executorch" / "executorch-config.cmake").is_file():
        raise NativeBuildError(
            f"{root} has no lib/cmake/executorch/executorch-config.cmake (executorch >= 1.5)"
        )
    return root


def _compiler_id() -> str:
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or ""
    if not cxx:
        return ""
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30)
        return cxx + " " + out.stdout.splitlines()[0] if out.stdout else cxx
    except (OSError, subprocess.SubprocessError):
        return cxx


def source_hash(et_dir: Path | None = None) -> str:
    """Hash of the runner sources, the executorch version and the compiler."""
    h = hashlib.sha256()
    for p in sorted(RUNNER_SOURCE.rglob("*")):
        if p.is_file() and p.suffix in (".cpp", ".h", ".txt", ".cmake"):
            h.update(p.relative_to(RUNNER_SOURCE).as_posix().encode())
            h.update(p.read_bytes())
    try:
        h.update(importlib.metadata.version("executorch").encode())
    except importlib.metadata.PackageNotFoundError:
        pass
    h.update(str(et_dir or "").encode())
    h.update(_compiler_id().encode())
    return h.hexdigest()


def _find_cmake() -> str:
    """cmake from this Python's environment (the ``cmake`` wheel of the dev extra), else PATH."""
    local = Path(sys.executable).parent / "cmake"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which("cmake")
    if found is None:
        raise NativeBuildError(
            "cmake not found; install the dev extra (pip install -e '.[dev]' brings the cmake wheel) "
            "or a system cmake >= 3.19, and a C++17 compiler"
        )
    return found


def build_native_runner(build_dir: str | Path | None = None, *, force: bool = False) -> Path:
    """Return ``<build_dir>/phonenas-runner``, building it first when missing or out of date."""
    build_dir = Path(build_dir or DEFAULT_BUILD_DIR)
    if not (RUNNER_SOURCE / "CMakeLists.txt").is_file():
        raise NativeBuildError(f"runner sources not found at {RUNNER_SOURCE} (a source checkout is needed)")
    cmake = _find_cmake()
    et_dir = executorch_package_dir()
    digest = source_hash(et_dir)
    binary = build_dir / BINARY_NAME
    stamp = build_dir / (BINARY_NAME + ".stamp")
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / (BINARY_NAME + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and binary.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
            return binary
        tree = build_dir / f"runner-{digest[:12]}"
        jobs = os.environ.get("PHONENAS_BUILD_JOBS", "2")
        nice = [shutil.which("nice") or "nice", "-n", "10"] if shutil.which("nice") else []
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        configure = [
            *nice,
            cmake,
            "-S",
            str(RUNNER_SOURCE),
            "-B",
            str(tree),
            *gen,
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_PREFIX_PATH={et_dir}",
            f"-DPython3_EXECUTABLE={sys.executable}",
        ]
        build = [*nice, cmake, "--build", str(tree), "-j", jobs]
        log.info("building phonenas-runner in %s (executorch at %s)", tree, et_dir)
        for cmd in (configure, build):
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                tail = (res.stdout + res.stderr).strip().splitlines()[-15:]
                raise NativeBuildError(
                    f"phonenas-runner build failed ({' '.join(cmd[len(nice) : len(nice) + 2])}):\n"
                    + "\n".join(tail)
                )
        tmp = build_dir / (BINARY_NAME + ".tmp")
        shutil.copy2(tree / BINARY_NAME, tmp)
        os.replace(tmp, binary)
        stamp.write_text(digest + "\n")
        for old in build_dir.glob("runner-*"):  # keep only the current build tree
            if old != tree and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        return binary


_HOST_ABI = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64-v8a", "arm64": "arm64-v8a"}


def runner_for_abi(abi: str, build_dir: str | Path | None = None) -> Path:
    """The phonenas-runner binary for a device ABI: this host's build (built on demand) when the ABI
    matches the host (``host``, the loopback phone), else the cross-compiled
    ``<build_dir>/android-<abi>/phonenas-runner`` of docs/android_runners.md."""
    import platform

    build_dir = Path(build_dir or DEFAULT_BUILD_DIR)
    if abi in ("", "host") or _HOST_ABI.get(platform.machine().lower()) == abi:
        return build_native_runner(build_dir)
    cross = build_dir / f"android-{abi}" / BINARY_NAME
    if cross.is_file():
        return cross
    raise NativeBuildError(
        f"no phonenas-runner for ABI {abi}: cross-compile it with the NDK into {cross} "
        "(docs/android_runners.md, 'phonenas-runner for a phone') or pass --runner PATH"
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Build phonenas-runner for this host (cached by source hash).")
    ap.add_argument("--build-dir", default=str(DEFAULT_BUILD_DIR))
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = ap.parse_args(argv)
    try:
        print(build_native_runner(args.build_dir, force=args.force))
    except NativeBuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
