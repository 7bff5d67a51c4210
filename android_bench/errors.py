"""Typed errors raised by android_bench.

Every error carries the command that failed (``cmd``), its return code (``rc``, or ``None`` when the
command never finished) and the tail of its stderr, so a caller can log one line that names the
problem and decide whether to retry. ``transient`` says whether a retry with backoff may succeed.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CommandTimeout",
    "DeviceDisconnected",
    "DeviceError",
    "DeviceNotFound",
    "OutputParseError",
    "RunnerCrashed",
    "RunnerNotFound",
    "StorageFull",
    "ThermalTimeout",
    "UnsupportedRunner",
]

_STDERR_TAIL_CHARS = 2000


class DeviceError(RuntimeError):
    """Base class: something went wrong talking to a device or running a command on it."""

    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        cmd: Sequence[str] | str | None = None,
        rc: int | None = None,
        stderr: str = "",
        device_id: str = "",
    ) -> None:
        self.message = message
        self.cmd: tuple[str, ...] = (cmd,) if isinstance(cmd, str) else tuple(cmd or ())
        self.rc = rc
        self.stderr = stderr[-_STDERR_TAIL_CHARS:]
        self.device_id = device_id
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        if self.device_id:
            parts.append(f"device={self.device_id}")
        if self.cmd:
            cmd = " ".join(self.cmd).replace("\n", " ")
            parts.append("cmd=" + (cmd if len(cmd) <= 200 else cmd[:197] + "..."))
        if self.rc is not None:
            parts.append(f"rc={self.rc}")
        if self.stderr.strip():
            parts.append("stderr=" + self.stderr.strip().splitlines()[-1][:300])
        return " | ".join(parts)


class DeviceNotFound(DeviceError):
    """No device with that serial is attached (or the adb server is not reachable)."""


class DeviceDisconnected(DeviceError):
    """The device went away in the middle of an operation (unplugged, rebooted, adb dropped)."""

    transient = True


class CommandTimeout(DeviceError):
    """A shell command did not finish within its timeout (a hung runner)."""

    transient = True


class StorageFull(DeviceError):
    """The device ran out of space (ENOSPC) while receiving a file."""


class RunnerNotFound(DeviceError):
    """The runner binary or interpreter is missing on the device (rc 126/127)."""


class RunnerCrashed(DeviceError):
    """The runner exited with a non-zero return code or was killed by a signal."""

    transient = True


class OutputParseError(DeviceError):
    """The runner's output did not contain the timings it should (garbage, truncated, zero)."""

    transient = True

    def __init__(self, message: str, *, output: str = "", **kwargs: object) -> None:
        self.output = output[-_STDERR_TAIL_CHARS:]
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ThermalTimeout(DeviceError):
    """The device did not cool below the temperature gate within the allowed time."""

    transient = True


class UnsupportedRunner(DeviceError):
    """The runner binary is not one PhoneNAS can drive (e.g. the wrong ``benchmark_model``); the message
    says which one to build. Not retried."""
