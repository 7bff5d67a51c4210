"""The device transport protocol and the host implementation.

A ``Device`` is anything we can push a file to, pull a file from and run an argv on with a timeout.
``HostDevice`` is this computer; ``android_bench.adb.AdbDevice`` is a phone over adb. Everything above
this layer (metadata, runners, measurement) only speaks this protocol, so it is tested on the host and
on the loopback adbd without a phone.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from android_bench.errors import (
    CommandTimeout,
    DeviceError,
    RunnerCrashed,
    RunnerNotFound,
    StorageFull,
)

__all__ = ["Device", "HostDevice", "ShellResult"]


@dataclass(frozen=True)
class ShellResult:
    """What one command returned: exit code, decoded stdout/stderr and wall time on the host side."""

    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def check(self, device_id: str = "") -> ShellResult:
        """Return self if rc == 0, else raise ``RunnerNotFound`` (126/127) or ``RunnerCrashed``."""
        if self.rc == 0:
            return self
        kind = RunnerNotFound if self.rc in (126, 127) else RunnerCrashed
        what = "command not found or not executable" if kind is RunnerNotFound else "command failed"
        if self.rc > 128 and kind is RunnerCrashed:
            what = f"command killed by signal {self.rc - 128}"
        raise kind(what, cmd=self.argv, rc=self.rc, stderr=self.stderr or self.stdout, device_id=device_id)


@runtime_checkable
class Device(Protocol):
    """A place to run benchmarks. Implementations: ``HostDevice``, ``AdbDevice``."""

    @property
    def id(self) -> str:
        """Stable identifier used in LUT keys (adb serial, ``host``)."""
        ...

    @property
    def work_dir(self) -> str:
        """A writable directory on the device where artifacts and runners are cached."""
        ...

    def push(self, local: str | Path, remote: str, timeout_s: float = 300.0) -> None: ...

    def pull(self, remote: str, local: str | Path, timeout_s: float = 300.0) -> None: ...

    def shell(self, argv: Sequence[str], timeout_s: float = 60.0) -> ShellResult:
        """Run argv (no shell interpretation of its elements), never longer than timeout_s.

        Returns the result whatever the exit code; raises ``CommandTimeout`` on timeout and
        ``DeviceDisconnected`` when the transport breaks.
        """
        ...

    def recover(self, timeout_s: float = 60.0) -> None:
        """Try to get back a usable connection after ``DeviceDisconnected`` (reconnect, wait)."""
        ...


class HostDevice:
    """This computer as a device: files are copied, commands run as subprocesses."""

    def __init__(self, work_dir: str | Path | None = None, device_id: str = "host") -> None:
        self._work_dir = str(work_dir or Path(tempfile.gettempdir()) / "phonenas-bench")
        self._id = device_id

    def __repr__(self) -> str:
        return f"HostDevice(id={self._id!r}, work_dir={self._work_dir!r})"

    @property
    def id(self) -> str:
        return self._id

    @property
    def work_dir(self) -> str:
        return self._work_dir

    def push(self, local: str | Path, remote: str, timeout_s: float = 300.0) -> None:
        dst = Path(remote)
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local, dst)
        except OSError as exc:
            cmd = ("push", str(local), remote)
            if exc.errno == errno.ENOSPC:
                raise StorageFull(
                    "no space left on device", cmd=cmd, stderr=str(exc), device_id=self._id
                ) from exc
            raise DeviceError("push failed", cmd=cmd, stderr=str(exc), device_id=self._id) from exc

    def pull(self, remote: str, local: str | Path, timeout_s: float = 300.0) -> None:
        try:
            shutil.copyfile(remote, local)
        except OSError as exc:
            cmd = ("pull", remote, str(local))
            raise DeviceError("pull failed", cmd=cmd, stderr=str(exc), device_id=self._id) from exc

    def shell(self, argv: Sequence[str], timeout_s: float = 60.0) -> ShellResult:
        argv = tuple(str(a) for a in argv)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            return ShellResult(argv, 127, "", str(exc), time.monotonic() - start)
        except PermissionError as exc:
            return ShellResult(argv, 126, "", str(exc), time.monotonic() - start)
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            _kill_group(proc)
            out, err = proc.communicate()
            raise CommandTimeout(
                f"command did not finish within {timeout_s:g} s",
                cmd=argv,
                stderr=(err or b"").decode(errors="replace"),
                device_id=self._id,
            ) from exc
        rc = proc.returncode
        if rc < 0:  # killed by a signal: use the shell convention so host and adb agree
            rc = 128 - rc
        return ShellResult(
            argv,
            rc,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            time.monotonic() - start,
        )

    def recover(self, timeout_s: float = 60.0) -> None:
        return None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
