"""A small adbd that speaks the real adb wire protocol on 127.0.0.1, for end-to-end tests and benchmarks.

The real adb server connects to it with ``adb connect 127.0.0.1:PORT`` and treats it like a phone
over wireless adb; adbutils and ``android_bench.AdbDevice`` then drive it through that server, so the
whole client path (adbutils -> adb server -> transport -> device services) is exercised.

Implemented (see AOSP ``packages/modules/adb/protocol.txt``, ``SYNC.TXT`` and ``shell_protocol.h``):
- transport: CNXN handshake (no AUTH; version 0x01000001 so checksums are ignored), OPEN/OKAY/WRTE/
  CLSE streams with one-WRTE-in-flight flow control;
- ``shell,v2[,raw]:CMD`` (stdout/stderr packets + exit-code packet) and legacy ``shell:CMD``;
- ``sync:`` with STAT, LIST, SEND (DATA.../DONE -> OKAY or FAIL), RECV (DATA.../DONE or FAIL), QUIT.

Commands run on this host with ``/bin/sh -c``. Device paths under ``/data/local/tmp``, the cpufreq and
thermal sysfs trees and ``/proc/cpuinfo`` are mapped into a fake root directory (in shell commands by
rewriting the command string, in sync requests by rewriting the path), and ``getprop`` is a script in
the fake ``/system/bin`` answering from a props file, so device metadata parsing sees a phone.

Fault injection (``LoopbackAdbd.faults``): drop the TCP connection after N pushed bytes (one-shot),
limit the bytes /data/local/tmp may hold (ENOSPC -> sync FAIL), and ``reboot(offline_s)`` which drops
every connection and refuses new ones for a while.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

A_CNXN, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_AUTH = (
    0x4E584E43,
    0x4E45504F,
    0x59414B4F,
    0x45534C43,
    0x45545257,
    0x48545541,
)
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
SYNC_DATA_MAX = 64 * 1024

MAPPED_PREFIXES = (
    "/data/local/tmp",
    "/sys/devices/system/cpu",
    "/sys/class/thermal",
    "/sys/class/power_supply",
    "/sys/devices/soc0",
    "/proc/cpuinfo",
    "/system/bin",
)
_PREFIX_RE = re.compile(
    r"(?<![\w./-])(" + "|".join(re.escape(p) for p in MAPPED_PREFIXES) + r")(?=$|[/\s'\"])"
)


@dataclass
class Faults:
    """Knobs the tests turn; read by the service threads."""

    drop_push_after_bytes: int | None = None  # one-shot: close the TCP link mid-SEND
    storage_quota_bytes: int | None = None  # total bytes allowed under /data/local/tmp
    pushes_dropped: int = 0
    log: list[str] = field(default_factory=list)


def build_fake_phone(
    root: Path, props: dict[str, str], cpu_max_khz: list[int], temps_mc: dict[str, int]
) -> None:
    """Lay out the fake sysfs/procfs/getprop tree a phone would show."""
    (root / "data/local/tmp").mkdir(parents=True, exist_ok=True)
    cpu = root / "sys/devices/system/cpu"
    n = len(cpu_max_khz)
    cpu.mkdir(parents=True, exist_ok=True)
    (cpu / "possible").write_text(f"0-{n - 1}\n")
    (cpu / "online").write_text(f"0-{n - 1}\n")
    for i, khz in enumerate(cpu_max_khz):
        d = cpu / f"cpu{i}/cpufreq"
        d.mkdir(parents=True, exist_ok=True)
        (d / "cpuinfo_max_freq").write_text(f"{khz}\n")
        (d / "cpuinfo_min_freq").write_text("300000\n")
        (d / "scaling_cur_freq").write_text(f"{khz // 2}\n")
        (d / "scaling_governor").write_text("schedutil\n")
    for i, (kind, mc) in enumerate(temps_mc.items()):
        z = root / f"sys/class/thermal/thermal_zone{i}"
        z.mkdir(parents=True, exist_ok=True)
        (z / "type").write_text(kind + "\n")
        (z / "temp").write_text(f"{mc}\n")
    bat = root / "sys/class/power_supply/battery"
    bat.mkdir(parents=True, exist_ok=True)
    (bat / "temp").write_text("291\n")
    (bat / "capacity").write_text("87\n")
    proc = root / "proc"
    proc.mkdir(parents=True, exist_ok=True)
    (proc / "cpuinfo").write_text(
        "".join(f"processor\t: {i}\nBogoMIPS\t: 38.40\nCPU part\t: 0xd05\n\n" for i in range(n))
        + "Hardware\t: Loopback SoC\n"
    )
    bindir = root / "system/bin"
    bindir.mkdir(parents=True, exist_ok=True)
    (root / "props.txt").write_text("".join(f"[{k}]: [{v}]\n" for k, v in sorted(props.items())))
    getprop = bindir / "getprop"
    getprop.write_text(
        "#!/bin/sh\n"
        f'PROPS="{root}/props.txt"\n'
        'if [ $# -eq 0 ]; then cat "$PROPS"; exit 0; fi\n'
        'grep -F "[$1]: [" "$PROPS" | sed -e "s/^\\[[^]]*\\]: \\[//" -e "s/\\]$//"\n'
        "exit 0\n"
    )
    getprop.chmod(0o755)


class _Stream:
    def __init__(self, transport: _Transport, local_id: int, remote_id: int) -> None:
        self.t = transport
        self.local_id = local_id
        self.remote_id = remote_id
        self._buf = bytearray()
        self._cv = threading.Condition()
        self._acked = threading.Event()
        self._acked.set()
        self.closed = False
        self.on_close: list = []

    # inbound
    def feed(self, data: bytes) -> None:
        with self._cv:
            self._buf += data
            self._cv.notify_all()

    def peer_closed(self) -> None:
        with self._cv:
            self.closed = True
            self._cv.notify_all()
        self._acked.set()
        for cb in self.on_close:
            cb()

    def recv_exact(self, n: int) -> bytes:
        with self._cv:
            while len(self._buf) < n and not self.closed and self.t.alive:
                self._cv.wait(0.5)
            if len(self._buf) < n:
                raise EOFError("stream closed")
            data = bytes(self._buf[:n])
            del self._buf[:n]
            return data

    # outbound
    def send(self, data: bytes) -> None:
        step = self.t.max_payload
        for i in range(0, len(data), step):
            while not self._acked.wait(0.5):
                if self.closed or not self.t.alive:
                    raise EOFError("stream closed")
            if self.closed or not self.t.alive:
                raise EOFError("stream closed")
            self._acked.clear()
            self.t.write(A_WRTE, self.local_id, self.remote_id, data[i : i + step])

    def ack(self) -> None:
        self._acked.set()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.t.write(A_CLSE, self.local_id, self.remote_id, b"")
        self.t.forget(self.local_id)


class _Transport:
    def __init__(self, adbd: LoopbackAdbd, sock: socket.socket) -> None:
        self.adbd = adbd
        self.sock = sock
        self.alive = True
        self.max_payload = 4096
        self._wlock = threading.Lock()
        self._streams: dict[int, _Stream] = {}
        self._next_id = 1

    def write(self, cmd: int, arg0: int, arg1: int, data: bytes) -> None:
        header = struct.pack("<6I", cmd, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, cmd ^ 0xFFFFFFFF)
        with self._wlock:
            try:
                self.sock.sendall(header + data)
            except OSError:
                self.kill()

    def kill(self) -> None:
        if not self.alive:
            return
        self.alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for s in list(self._streams.values()):
            s.peer_closed()

    def forget(self, local_id: int) -> None:
        self._streams.pop(local_id, None)

    def _read(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def serve(self) -> None:
        try:
            while self.alive:
                cmd, arg0, arg1, length, _crc, magic = struct.unpack("<6I", self._read(24))
                if magic != cmd ^ 0xFFFFFFFF:
                    break
                data = self._read(length) if length else b""
                self._dispatch(cmd, arg0, arg1, data)
        except (OSError, EOFError):
            pass
        finally:
            self.kill()

    def _dispatch(self, cmd: int, arg0: int, arg1: int, data: bytes) -> None:
        if cmd == A_CNXN:
            self.max_payload = min(arg1, MAX_PAYLOAD)
            self.write(A_CNXN, A_VERSION, MAX_PAYLOAD, self.adbd.banner().encode())
        elif cmd == A_OPEN:
            name = data.rstrip(b"\0").decode(errors="replace")
            local_id = self._next_id
            self._next_id += 1
            stream = _Stream(self, local_id, arg0)
            handler = self.adbd.service_for(name)
            if handler is None:
                self.write(A_CLSE, 0, arg0, b"")
                return
            self._streams[local_id] = stream
            self.write(A_OKAY, local_id, arg0, b"")
            threading.Thread(target=self._run_service, args=(handler, stream, name), daemon=True).start()
        elif cmd == A_WRTE:
            writing = self._streams.get(arg1)
            if writing is not None:
                writing.feed(data)
                self.write(A_OKAY, arg1, arg0, b"")
        elif cmd == A_OKAY:
            acked = self._streams.get(arg1)
            if acked is not None:
                acked.ack()
        elif cmd == A_CLSE:
            closed = self._streams.pop(arg1, None)
            if closed is not None:
                closed.peer_closed()

    def _run_service(self, handler, stream: _Stream, name: str) -> None:
        try:
            handler(stream, name)
        except (EOFError, OSError):
            pass
        finally:
            if self.alive:
                stream.close()


class LoopbackAdbd:
    """``start()`` -> port; ``serial`` is what ``adb connect`` calls it; ``stop()`` cleans up."""

    def __init__(
        self, root: Path, props: dict[str, str] | None = None, python_bin: str | None = None
    ) -> None:
        self.root = Path(root)
        self.props = props or {}
        self.python_bin_dir = str(Path(python_bin or sys.executable).parent)
        self.faults = Faults()
        self.port = 0
        self._listener: socket.socket | None = None
        self._transports: list[_Transport] = []
        self._offline_until = 0.0
        self._stopping = False
        self.commands: list[str] = []  # every shell command received, in order (for assertions)

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    def banner(self) -> str:
        p = self.props
        return (
            f"device::ro.product.name={p.get('ro.product.name', 'loopback')};"
            f"ro.product.model={p.get('ro.product.model', 'loopback')};"
            f"ro.product.device={p.get('ro.product.device', 'loopback')};"
            "features=shell_v2,cmd"
        )

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> int:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", 0))
        lst.listen(8)
        self._listener = lst
        self.port = lst.getsockname()[1]
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self.port

    def stop(self) -> None:
        self._stopping = True
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(); close() alone leaves the port listening
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        self.drop_connections()

    def drop_connections(self) -> None:
        """Like pulling the cable: every transport is closed at once."""
        for t in list(self._transports):
            t.kill()
        self._transports.clear()

    def reboot(self, offline_s: float) -> None:
        """Drop all connections and refuse new ones for ``offline_s`` seconds."""
        self._offline_until = time.monotonic() + offline_s
        self.faults.log.append(f"reboot {offline_s}")
        self.drop_connections()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if time.monotonic() < self._offline_until:
                sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = _Transport(self, sock)
            self._transports.append(t)
            threading.Thread(target=t.serve, daemon=True).start()

    # ---- services ---------------------------------------------------------------------------
    def service_for(self, name: str):
        if name.startswith(("shell,v2", "shell:", "shell,raw")):
            return self._shell
        if name == "sync:":
            return self._sync
        return None

    def map_path(self, path: str) -> str:
        for prefix in MAPPED_PREFIXES:
            if path == prefix or path.startswith(prefix + "/"):
                return str(self.root) + path
        return path

    def map_command(self, cmd: str) -> str:
        return _PREFIX_RE.sub(lambda m: str(self.root) + m.group(1), cmd)

    def _shell(self, stream: _Stream, name: str) -> None:
        service, _, command = name.partition(":")
        v2 = ",v2" in service
        self.commands.append(command)
        env = {
            "PATH": f"{self.root}/system/bin:{self.python_bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.root / "data/local/tmp"),
            "TMPDIR": str(self.root / "data/local/tmp"),
            "LANG": "C.UTF-8",
        }
        for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
            if key in os.environ:
                env[key] = os.environ[key]
        proc = subprocess.Popen(
            ["/bin/sh", "-c", self.map_command(command or "true")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.root / "data/local/tmp",
            env=env,
            start_new_session=True,
        )

        def kill() -> None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        stream.on_close.append(kill)
        lock = threading.Lock()

        def pump(pipe, kind: int) -> None:
            for chunk in iter(lambda: os.read(pipe.fileno(), 65536), b""):
                payload = struct.pack("<BI", kind, len(chunk)) + chunk if v2 else chunk
                with lock:
                    stream.send(payload)

        pumps = [
            threading.Thread(target=pump, args=(p, k), daemon=True)
            for p, k in ((proc.stdout, 1), (proc.stderr, 2))
        ]
        for th in pumps:
            th.start()
        rc = proc.wait()
        for th in pumps:
            th.join()
        if rc < 0:
            rc = 128 - rc
        if v2 and not stream.closed:
            with lock:
                stream.send(struct.pack("<BIB", 3, 1, rc & 0xFF))

    def _used_bytes(self) -> int:
        base = self.root / "data/local/tmp"
        return sum(p.stat().st_size for p in base.rglob("*") if p.is_file())

    def _sync(self, stream: _Stream, name: str) -> None:
        while True:
            req = stream.recv_exact(8)
            tag, length = req[:4], struct.unpack("<I", req[4:])[0]
            if tag == b"QUIT":
                return
            arg = stream.recv_exact(length).decode(errors="replace") if length else ""
            if tag == b"STAT":
                try:
                    st = os.lstat(self.map_path(arg))
                    stream.send(b"STAT" + struct.pack("<III", st.st_mode, st.st_size, int(st.st_mtime)))
                except OSError:
                    stream.send(b"STAT" + struct.pack("<III", 0, 0, 0))
            elif tag == b"LIST":
                path = Path(self.map_path(arg))
                for child in sorted(path.iterdir()) if path.is_dir() else []:
                    st = child.lstat()
                    nm = child.name.encode()
                    stream.send(
                        b"DENT" + struct.pack("<IIII", st.st_mode, st.st_size, int(st.st_mtime), len(nm)) + nm
                    )
                stream.send(b"DONE" + struct.pack("<IIII", 0, 0, 0, 0))
            elif tag == b"RECV":
                path = Path(self.map_path(arg))
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    msg = (exc.strerror or str(exc)).encode()
                    stream.send(b"FAIL" + struct.pack("<I", len(msg)) + msg)
                    continue
                for i in range(0, len(data), SYNC_DATA_MAX):
                    chunk = data[i : i + SYNC_DATA_MAX]
                    stream.send(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                stream.send(b"DONE" + struct.pack("<I", 0))
            elif tag == b"SEND":
                if not self._receive_file(stream, arg):
                    return
            else:
                msg = f"unknown sync command {tag!r}".encode()
                stream.send(b"FAIL" + struct.pack("<I", len(msg)) + msg)
                return

    def _receive_file(self, stream: _Stream, spec: str) -> bool:
        path_str, _, mode_str = spec.rpartition(",")
        path = Path(self.map_path(path_str))
        mode = int(mode_str) & 0o777 if mode_str.isdigit() else 0o644
        quota = self.faults.storage_quota_bytes
        used = self._used_bytes() if quota is not None else 0
        received = 0
        error = ""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".adbd-tmp")
        with open(tmp, "wb") as f:
            while True:
                header = stream.recv_exact(8)
                tag, length = header[:4], struct.unpack("<I", header[4:])[0]
                if tag == b"DONE":
                    break
                if tag != b"DATA":
                    error = f"unexpected sync tag {tag!r}"
                    break
                chunk = stream.recv_exact(length)
                received += len(chunk)
                drop_at = self.faults.drop_push_after_bytes
                if drop_at is not None and received >= drop_at:
                    self.faults.drop_push_after_bytes = None
                    self.faults.pushes_dropped += 1
                    self.faults.log.append(f"dropped push of {path_str} at {received} bytes")
                    tmp.unlink(missing_ok=True)
                    stream.t.kill()
                    return False
                if quota is not None and used + received > quota:
                    error = f"write failed: No space left on device ({path_str})"
                    break
                f.write(chunk)
        if error:
            tmp.unlink(missing_ok=True)
            msg = error.encode()
            stream.send(b"FAIL" + struct.pack("<I", len(msg)) + msg)
            return False
        os.chmod(tmp, mode)
        tmp.replace(path)
        stream.send(b"OKAY" + struct.pack("<I", 0))
        return True


class AdbServer:
    """A private adb server on a free port (``adb -P PORT``), with its own HOME for keys."""

    def __init__(self, adb_path: str, home: Path) -> None:
        self.adb_path = adb_path
        self.home = Path(home)
        self.port = _free_port()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANDROID_", "ADB_"))}
        env["HOME"] = str(self.home)
        env["ANDROID_ADB_SERVER_PORT"] = str(self.port)
        env["ADB_MDNS"] = "0"
        return env

    def run(self, *args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.adb_path, "-P", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=self._env(),
        )

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        res = self.run("start-server", timeout_s=60.0)
        if res.returncode != 0:
            raise RuntimeError(f"adb start-server failed: {res.stderr}")

    def connect(self, serial: str, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            res = self.run("connect", serial)
            last = res.stdout + res.stderr
            state = self.run("-s", serial, "get-state").stdout.strip()
            if state == "device":
                return
            time.sleep(0.2)
        raise RuntimeError(f"adb connect {serial} did not reach state 'device': {last}")

    def stop(self) -> None:
        try:
            self.run("kill-server", timeout_s=20.0)
        except subprocess.TimeoutExpired:
            pass


@dataclass
class Phone:
    adbd: LoopbackAdbd
    device: Any  # android_bench.AdbDevice
    server: AdbServer

    @property
    def root(self) -> Path:
        return self.adbd.root

    def set_cpu_temp_c(self, celsius: float) -> None:
        for zone in (self.root / "sys/class/thermal").iterdir():
            if "cpu" in (zone / "type").read_text():
                (zone / "temp").write_text(f"{int(celsius * 1000)}\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bundled_adb() -> str | None:
    """The adb binary shipped inside the adbutils wheel (``adbutils/binaries/adb``), if present.

    Not ``adbutils.adb_path()``: that prefers any adb on PATH, so a machine with Debian's adb would
    never run the bundled one."""
    try:
        import adbutils
    except ImportError:
        return None
    exe = Path(adbutils.__file__).parent / "binaries" / ("adb.exe" if os.name == "nt" else "adb")
    return str(exe) if exe.is_file() and os.access(exe, os.X_OK) else None


def adb_binaries() -> dict[str, str]:
    """The adb binaries this machine has: ``{"bundled": <the adbutils wheel's>, "path": <adb on PATH>}``
    (a key is missing when that binary is; "path" is left out when it is the bundled file itself)."""
    found: dict[str, str] = {}
    bundled = bundled_adb()
    if bundled:
        found["bundled"] = bundled
    on_path = shutil.which("adb")
    if on_path and not (bundled and Path(on_path).resolve() == Path(bundled).resolve()):
        found["path"] = on_path
    return found


def find_adb() -> str:
    """The adb binary bundled in the adbutils wheel (what ``pip install phonenas`` gives users), else
    the one on PATH; tests that must hold for both parametrize over ``adb_binaries()``."""
    found = adb_binaries()
    if not found:
        raise RuntimeError("no adb binary: install adbutils (it bundles adb) or put adb on PATH")
    return found.get("bundled") or found["path"]
