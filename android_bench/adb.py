"""Android phones over adb, driven through adbutils (the adb client protocol, no ``adb`` subprocess).

Shell commands use the shell v2 protocol (separate stdout/stderr and a real exit code); files move
over the sync protocol (SEND/RECV), implemented here on top of adbutils' connection so a device-side
``FAIL`` message (e.g. "No space left on device") is kept and typed instead of being lost.
"""

from __future__ import annotations

import logging
import os
import select
import shlex
import socket
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from android_bench.device import ShellResult
from android_bench.errors import (
    CommandTimeout,
    DeviceDisconnected,
    DeviceError,
    DeviceNotFound,
    StorageFull,
)

__all__ = [
    "DEFAULT_ADB_PORT",
    "AdbDevice",
    "AdbDeviceEntry",
    "adb_server_address",
    "adb_server_reachable",
    "list_adb_devices",
]

log = logging.getLogger(__name__)

DEFAULT_ADB_PORT = 5037
DEFAULT_WORK_DIR = "/data/local/tmp/phonenas"
_SYNC_DATA_MAX = 64 * 1024
_SHELL_STDOUT, _SHELL_STDERR, _SHELL_EXIT = 1, 2, 3
# adb server answers when the device is gone; "unknown data: b''" is adbutils reading EOF
_GONE_MARKERS = (
    "not found",
    "offline",
    "closed",
    "no devices",
    "unauthorized",
    "connection reset",
    "unknown data: b''",
)


def adb_server_address(host: str | None = None, port: int | None = None) -> tuple[str, int]:
    """Explicit values, else ``$ANDROID_ADB_SERVER_HOST`` / ``$ANDROID_ADB_SERVER_PORT`` (as adb does), else
    127.0.0.1:5037."""
    env_port = os.environ.get("ANDROID_ADB_SERVER_PORT", "")
    return (
        host or os.environ.get("ANDROID_ADB_SERVER_HOST") or "127.0.0.1",
        port or (int(env_port) if env_port.isdigit() else DEFAULT_ADB_PORT),
    )


def _client(host: str, port: int) -> Any:
    import adbutils

    return adbutils.AdbClient(host=host, port=port)


def adb_server_reachable(
    host: str = "127.0.0.1", port: int = DEFAULT_ADB_PORT, timeout_s: float = 2.0
) -> bool:
    """True if something accepts connections at the adb server address.

    Checked before every adbutils call: adbutils otherwise runs ``adb start-server`` on the DEFAULT
    port when it cannot connect, leaving a daemon behind that nobody asked for.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _require_server(host: str, port: int, device_id: str = "") -> None:
    if not adb_server_reachable(host, port):
        raise DeviceNotFound(
            f"cannot reach the adb server at {host}:{port} (start it with `adb start-server`)",
            device_id=device_id,
        )


@dataclass(frozen=True)
class AdbDeviceEntry:
    """One line of ``adb devices -l``: serial, state (device/offline/unauthorized) and tags."""

    serial: str
    state: str
    model: str = ""
    transport_id: int | None = None


def list_adb_devices(host: str | None = None, port: int | None = None) -> list[AdbDeviceEntry]:
    """All devices the adb server knows, in any state. Raises ``DeviceNotFound`` if no server."""
    import adbutils

    host, port = adb_server_address(host, port)
    _require_server(host, port)
    try:
        infos = _client(host, port).list(extended=True)
    except adbutils.AdbError as exc:
        raise DeviceNotFound(
            f"cannot reach the adb server at {host}:{port} (start it with `adb start-server`)",
            stderr=str(exc),
        ) from exc
    return [
        AdbDeviceEntry(
            serial=i.serial,
            state=i.state,
            model=i.tags.get("model", ""),
            transport_id=i.transport_id,
        )
        for i in infos
    ]


class AdbDevice:
    """A phone (or anything speaking adbd) reached through an adb server.

    ``AdbDevice("R58M12ABCDE")`` for USB, ``AdbDevice("192.168.1.20:5555")`` for wireless adb (this
    form is reconnected with ``adb connect`` by ``recover``). The adb server address defaults to
    ``$ANDROID_ADB_SERVER_HOST:$ANDROID_ADB_SERVER_PORT``, else 127.0.0.1:5037.
    """

    def __init__(
        self,
        serial: str,
        host: str | None = None,
        port: int | None = None,
        work_dir: str = DEFAULT_WORK_DIR,
    ) -> None:
        self._serial = serial
        self._host, self._port = adb_server_address(host, port)
        self._work_dir = work_dir

    def __repr__(self) -> str:
        return f"AdbDevice(serial={self._serial!r}, server={self._host}:{self._port})"

    @property
    def id(self) -> str:
        return self._serial

    @property
    def serial(self) -> str:
        return self._serial

    @property
    def work_dir(self) -> str:
        return self._work_dir

    # ---- connection -------------------------------------------------------------------------
    def _open(self, service: str, timeout_s: float | None, cmd: Sequence[str]) -> Any:
        """Open a stream to ``service`` on the device; map "device not found" to typed errors."""
        import adbutils

        if not adb_server_reachable(self._host, self._port):
            raise DeviceDisconnected(
                f"adb server at {self._host}:{self._port} is not reachable", cmd=cmd, device_id=self.id
            )
        try:
            # host:transport:<serial> works on every adb server version; adbutils' open_transport asks
            # for the server version first (an extra connection per command)
            conn = _client(self._host, self._port).make_connection(timeout=timeout_s)
            conn.send_command(f"host:transport:{self._serial}")
            conn.check_okay()
            conn.send_command(service)
            conn.check_okay()
            return _Stream(conn)
        except adbutils.AdbTimeout as exc:
            raise CommandTimeout("adb did not answer", cmd=cmd, stderr=str(exc), device_id=self.id) from exc
        except (adbutils.AdbError, OSError, EOFError) as exc:
            raise self._gone_or_error(exc, cmd) from exc

    def _gone_or_error(self, exc: BaseException, cmd: Sequence[str]) -> DeviceError:
        text = str(exc).lower()
        if isinstance(exc, OSError | EOFError) or any(m in text for m in _GONE_MARKERS):
            return DeviceDisconnected("device connection lost", cmd=cmd, stderr=str(exc), device_id=self.id)
        return DeviceError("adb request failed", cmd=cmd, stderr=str(exc), device_id=self.id)

    def state(self) -> str:
        """``device``, ``offline``, ``unauthorized`` ... or ``absent`` if the server does not list it."""
        for entry in list_adb_devices(self._host, self._port):
            if entry.serial == self._serial:
                return entry.state
        return "absent"

    def recover(self, timeout_s: float = 60.0) -> None:
        """Reconnect (``adb connect`` for host:port serials) and wait until the device is back."""
        deadline = time.monotonic() + timeout_s
        delay_s = 0.2
        last = "never seen"
        while True:
            try:
                if _is_tcp_serial(self._serial) and self.state() != "device":
                    client = _client(self._host, self._port)
                    client.disconnect(self._serial)
                    last = client.connect(self._serial, timeout=max(1.0, min(5.0, timeout_s)))
                last = self.state()
                if last == "device":
                    self.shell(["true"], timeout_s=10.0).check(self.id)
                    return
            except DeviceError as exc:
                last = str(exc)
            except Exception as exc:  # adbutils raises plain AdbError subclasses here
                last = str(exc)
            if time.monotonic() + delay_s > deadline:
                raise DeviceDisconnected(
                    f"device did not come back within {timeout_s:g} s", stderr=last, device_id=self.id
                )
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 5.0)

    # ---- shell ------------------------------------------------------------------------------
    def shell(self, argv: Sequence[str], timeout_s: float = 60.0) -> ShellResult:
        argv = tuple(str(a) for a in argv)
        cmdline = " ".join(shlex.quote(a) for a in argv)
        start = time.monotonic()
        conn = self._open(f"shell,v2,raw:{cmdline}", timeout_s, argv)
        out, err = bytearray(), bytearray()
        rc: int | None = None
        try:
            sock = conn.conn
            while rc is None:
                remaining = timeout_s - (time.monotonic() - start)
                if remaining <= 0:
                    raise TimeoutError()
                sock.settimeout(remaining)
                header = _recv_exact(sock, 5)
                kind, length = header[0], struct.unpack("<I", header[1:])[0]
                payload = _recv_exact(sock, length) if length else b""
                if kind == _SHELL_STDOUT:
                    out += payload
                elif kind == _SHELL_STDERR:
                    err += payload
                elif kind == _SHELL_EXIT:
                    rc = payload[0] if payload else 255
        except TimeoutError as exc:
            raise CommandTimeout(
                f"command did not finish within {timeout_s:g} s",
                cmd=argv,
                stderr=err.decode(errors="replace"),
                device_id=self.id,
            ) from exc
        except (OSError, EOFError) as exc:
            raise DeviceDisconnected(
                "connection lost while the command ran",
                cmd=argv,
                stderr=err.decode(errors="replace") or str(exc),
                device_id=self.id,
            ) from exc
        finally:
            conn.close()
        return ShellResult(
            argv, rc, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - start
        )

    # ---- files (sync protocol) --------------------------------------------------------------
    def push(self, local: str | Path, remote: str, timeout_s: float = 300.0, mode: int = 0o755) -> None:
        cmd = ("push", str(local), remote)
        conn = self._open("sync:", timeout_s, cmd)
        try:
            sock = conn.conn
            sock.settimeout(timeout_s)
            spec = f"{remote},{0o100000 | mode}".encode()
            sock.sendall(b"SEND" + struct.pack("<I", len(spec)) + spec)
            early_reply = False
            try:
                with open(local, "rb") as f:
                    while chunk := f.read(_SYNC_DATA_MAX):
                        sock.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                        if select.select([sock], [], [], 0)[0]:  # the device answered early: a FAIL
                            early_reply = True
                            break
                if not early_reply:
                    sock.sendall(b"DONE" + struct.pack("<I", int(time.time())))
            except OSError:
                # the device may have failed the write (ENOSPC) and closed the stream mid-upload:
                # its FAIL message is still readable before the reset
                failure = _read_pending_fail(sock)
                if failure is not None:
                    raise _sync_failure(failure, cmd, self.id) from None
                raise
            status = _recv_exact(sock, 8)
            if status[:4] == b"FAIL":
                message = _recv_exact(sock, struct.unpack("<I", status[4:])[0]).decode(errors="replace")
                raise _sync_failure(message, cmd, self.id)
            if status[:4] != b"OKAY":
                raise DeviceError("unexpected sync reply", cmd=cmd, stderr=repr(status), device_id=self.id)
            sock.sendall(b"QUIT" + struct.pack("<I", 0))
        except (TimeoutError, OSError, EOFError) as exc:
            raise self._sync_error("push", exc, cmd, timeout_s) from exc
        finally:
            conn.close()

    def pull(self, remote: str, local: str | Path, timeout_s: float = 300.0) -> None:
        cmd = ("pull", remote, str(local))
        conn = self._open("sync:", timeout_s, cmd)
        tmp = Path(f"{local}.part")
        try:
            sock = conn.conn
            sock.settimeout(timeout_s)
            path = remote.encode()
            sock.sendall(b"RECV" + struct.pack("<I", len(path)) + path)
            with open(tmp, "wb") as f:
                while True:
                    header = _recv_exact(sock, 8)
                    tag, length = header[:4], struct.unpack("<I", header[4:])[0]
                    if tag == b"DATA":
                        f.write(_recv_exact(sock, length))
                    elif tag == b"DONE":
                        break
                    elif tag == b"FAIL":
                        message = _recv_exact(sock, length).decode(errors="replace")
                        raise DeviceError("pull failed", cmd=cmd, stderr=message, device_id=self.id)
                    else:
                        raise DeviceError(
                            "unexpected sync reply", cmd=cmd, stderr=repr(header), device_id=self.id
                        )
            sock.sendall(b"QUIT" + struct.pack("<I", 0))
            tmp.replace(local)
        except (TimeoutError, OSError, EOFError) as exc:
            raise self._sync_error("pull", exc, cmd, timeout_s) from exc
        finally:
            conn.close()
            tmp.unlink(missing_ok=True)

    def _sync_error(self, op: str, exc: BaseException, cmd: tuple[str, ...], timeout_s: float) -> DeviceError:
        """A transport failure of a sync ``op`` as its typed error: a timeout or a lost connection."""
        if isinstance(exc, TimeoutError):
            return CommandTimeout(f"{op} did not finish within {timeout_s:g} s", cmd=cmd, device_id=self.id)
        return DeviceDisconnected(f"connection lost during {op}", cmd=cmd, stderr=str(exc), device_id=self.id)


class _Stream:
    """An open adb stream; ``close`` skips adbutils' fixed 10 ms linger (the protocol is done by then)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.conn: socket.socket = conn.conn

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass


def _sync_failure(message: str, cmd: tuple[str, ...], device_id: str) -> DeviceError:
    low = message.lower()
    if "no space" in low or "enospc" in low or "disk full" in low:
        return StorageFull("no space left on device", cmd=cmd, stderr=message, device_id=device_id)
    return DeviceError("push failed", cmd=cmd, stderr=message, device_id=device_id)


def _read_pending_fail(sock: socket.socket) -> str | None:
    try:
        sock.settimeout(2.0)
        header = _recv_exact(sock, 8)
        if header[:4] != b"FAIL":
            return None
        return _recv_exact(sock, struct.unpack("<I", header[4:])[0]).decode(errors="replace")
    except (OSError, EOFError):
        return None


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"stream closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def _is_tcp_serial(serial: str) -> bool:
    host, sep, port = serial.rpartition(":")
    return bool(sep and host and port.isdigit())
