"""iPhones as android_bench devices: the PhoneNASBench app driven through ``xcrun devicectl`` (macOS).

iOS runs code only inside a signed app, so an iPhone is timed by the benchmark app in ``ios/PhoneNASBench``
(docs/ios.md). :class:`IosAppDevice` implements the ``Device`` protocol over devicectl so the shared
``measure_artifact`` (push by hash, retries with backoff, re-measure on noise) drives it unchanged
(several iPhones: ``latency.collect_many``, one thread per device):

- ``push`` / ``pull`` copy into / out of the app's data container (``device copy to|from --domain-type
  appDataContainer``); paths are container-relative (``Documents/phonenas/...``);
- ``shell`` understands exactly what the shared code sends: the file-cache commands (``stat -c %s``,
  ``mkdir -p``, ``mv -f``, ``chmod``), ``pkill`` (terminates the app) and the :class:`IosAppRunner` argv,
  which becomes one app launch: a manifest is copied in, the app is launched with ``--manifest``, the
  host polls for the result file (with a timeout), copies it out and returns it as stdout. Anything else
  returns rc 127 ("iOS has no shell").

The runner, the result format and model packing live in :mod:`android_bench.ios_runner` (re-exported).
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from android_bench.device import ShellResult
from android_bench.devicectl import AppNotInstalled, Devicectl, DevicectlDevice, HostNotTrusted
from android_bench.errors import CommandTimeout, DeviceError, DeviceNotFound
from android_bench.info import DeviceInfo
from android_bench.ios_runner import (
    BUNDLE_ID,
    COMPUTE_UNITS,
    STAMP_NAME,
    AppReportedError,
    IosAppRunner,
    IosModelResult,
    IosRunnerOutput,
    app_bundle_sha256,
    pack_model,
    parse_ios_result,
)

__all__ = [
    "BUNDLE_ID",
    "COMPUTE_UNITS",
    "AppReportedError",
    "IosAppDevice",
    "IosAppRunner",
    "IosHostUnsupported",
    "IosModelResult",
    "IosRunnerOutput",
    "app_bundle_sha256",
    "documents_relative",
    "host_is_macos",
    "ios_device_info",
    "looks_like_ios_udid",
    "open_ios_device",
    "pack_model",
    "parse_ios_result",
]

log = logging.getLogger(__name__)

APP_DIR = "Documents/phonenas"  # container-relative root of everything PhoneNAS copies in
# Classic UDIDs: 40 hex (A11 and older) or 8-16 hex with a dash (A12+); CoreDevice identifiers are UUIDs.
_UDID = re.compile(
    r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{8}-[0-9a-fA-F]{16}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})$"
)


class IosHostUnsupported(DeviceError):
    """Timing on an iPhone was asked for on a host without Xcode's devicectl (Linux, Windows)."""


def host_is_macos() -> bool:
    return sys.platform == "darwin"


def looks_like_ios_udid(spec: str) -> bool:
    """True for iPhone UDIDs and CoreDevice identifiers (never for adb serials such as emulator-5554)."""
    return bool(_UDID.match(spec))


# ---- metadata -------------------------------------------------------------------------------------
def ios_device_info(dev: DevicectlDevice) -> DeviceInfo:
    """What devicectl says about an iPhone, as android_bench's DeviceInfo (no cores/temperatures:
    iOS exposes neither; the app reports ProcessInfo.thermalState instead)."""
    return DeviceInfo(
        device_id=dev.udid or dev.identifier,
        model=dev.marketing_name or dev.model,
        manufacturer="Apple",
        soc=dev.cpu,
        hardware=dev.model,
        abi="arm64",
        os_version=f"iOS {dev.os_version}" if dev.os_version else "",
    )


# ---- the device --------------------------------------------------------------------------------
class IosAppDevice:
    """An iPhone running PhoneNASBench, behind the android_bench ``Device`` protocol (see module doc)."""

    def __init__(
        self,
        udid: str,
        bundle_id: str = BUNDLE_ID,
        devicectl: Devicectl | None = None,
        poll_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._udid = udid
        self.bundle_id = bundle_id
        self.ctl = devicectl or Devicectl()
        self.poll_s = poll_s
        self._sleep = sleep
        self._staged: dict[str, Path] = {}  # remote .part path -> local file (see push)
        self._pid: int | None = None
        self.launches = 0

    def __repr__(self) -> str:
        return f"IosAppDevice(udid={self._udid!r}, bundle_id={self.bundle_id!r})"

    @property
    def id(self) -> str:
        return self._udid

    @property
    def work_dir(self) -> str:
        return APP_DIR

    # -- files --
    def push(self, local: str | Path, remote: str, timeout_s: float = 300.0) -> None:
        """Copy into the app container. A ``*.part`` destination (PushCache's temporary name) is only
        staged: the transfer happens on the ``mv`` that follows, straight to the final name, because
        devicectl cannot rename files inside a container."""
        if remote.endswith(".part"):
            self._staged[remote] = Path(local)
            return
        self.ctl.copy_to(self._udid, self.bundle_id, local, remote, timeout_s)

    def pull(self, remote: str, local: str | Path, timeout_s: float = 300.0) -> None:
        self.ctl.copy_from(self._udid, self.bundle_id, remote, local, timeout_s)

    def _size(self, remote: str) -> int | None:
        """Size of a container file, -1 if it exists with an unknown size, None if absent."""
        parent, name = str(PurePosixPath(remote).parent), PurePosixPath(remote).name
        try:
            files = self.ctl.list_files(self._udid, self.bundle_id, parent)
        except DeviceError as exc:
            if type(exc) is not DeviceError:  # locked, untrusted, not installed, timeout: not "absent"
                raise
            return None  # the folder does not exist yet
        for f in files:
            if PurePosixPath(f.relative_path).name == name and "/" not in f.relative_path.strip("/"):
                return -1 if f.size is None else f.size
        return None

    # -- the pseudo-shell --
    def shell(self, argv: Sequence[str], timeout_s: float = 60.0) -> ShellResult:
        argv = tuple(str(a) for a in argv)
        t0 = time.monotonic()

        def done(rc: int, out: str = "", err: str = "") -> ShellResult:
            return ShellResult(argv, rc, out, err, time.monotonic() - t0)

        if not argv:
            return done(127, err="empty command")
        cmd = argv[0]
        if cmd == "stat" and argv[1:3] == ("-c", "%s") and len(argv) == 4:
            size = self._size(argv[3])
            if size is None:
                return done(1, err=f"stat: {argv[3]}: No such file or directory")
            # -1: devicectl did not report a size, so PushCache cannot compare it and copies again once
            return done(0, out=f"{size}\n" if size >= 0 else "unknown-size\n")
        if cmd in ("mkdir", "chmod"):
            return done(0)  # devicectl creates folders on copy; iOS has no execute bits to set
        if cmd == "mv" and len(argv) == 4 and argv[1] == "-f":
            local = self._staged.pop(argv[2], None)
            if local is None:
                return done(1, err=f"mv: {argv[2]} was not pushed through this device")
            self.ctl.copy_to(self._udid, self.bundle_id, local, argv[3], max(timeout_s, 300.0))
            return done(0)
        if cmd == "pkill":
            self.stop_app()
            return done(0)
        if PurePosixPath(cmd).name == STAMP_NAME:
            return self._launch(argv, timeout_s, done)
        return done(127, err=f"iOS has no shell: {shlex.join(argv)!r} cannot run on an iPhone")

    def stop_app(self) -> None:
        if self._pid is not None:
            try:
                self.ctl.terminate(self._udid, self._pid)
            except DeviceError as exc:
                log.warning("%s: could not terminate the app (pid %s): %s", self._udid, self._pid, exc)
            self._pid = None

    def _launch(
        self, argv: tuple[str, ...], timeout_s: float, done: Callable[..., ShellResult]
    ) -> ShellResult:
        opts = dict(zip(argv[1::2], argv[2::2], strict=False))
        try:
            manifest = {
                "models": [documents_relative(opts["--model"])],
                "warmup": int(opts["--warmup"]),
                "runs": int(opts["--runs"]),
                "threads": int(opts["--threads"]),
                "compute_units": opts.get("--compute-units", "all"),
                "thermal_gate": opts.get("--thermal-gate"),
                "thermal_timeout_s": float(opts.get("--thermal-timeout-s", 180)),
            }
        except (KeyError, ValueError) as exc:
            return done(2, err=f"bad PhoneNASBench arguments {shlex.join(argv[1:])!r}: {exc}")
        text = self.run_manifest(manifest, timeout_s)
        if text is None:
            return done(
                134,
                err="PhoneNASBench exited without writing its result (crashed or was killed; "
                "see Xcode > Window > Devices and Simulators > View Device Logs)",
            )
        return done(0, out=text)

    def run_manifest(self, manifest: dict, timeout_s: float) -> str | None:
        """One app launch timing ``manifest['models']`` (Documents-relative paths); returns the result
        text, None if the app died without one, raises ``CommandTimeout`` (after terminating it)."""
        run_id = uuid.uuid4().hex[:16]
        body = {"format": "phonenas-ios-manifest 1", "run_id": run_id,
                "output": f"phonenas/results/{run_id}.txt", **manifest}  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="phonenas-ios-") as tmp:
            local = Path(tmp) / f"{run_id}.json"
            local.write_text(json.dumps(body, indent=1))
            self.ctl.copy_to(self._udid, self.bundle_id, local, f"{APP_DIR}/manifests/{run_id}.json", 120.0)
            self._pid = self.ctl.launch(
                self._udid, self.bundle_id, ["--manifest", f"phonenas/manifests/{run_id}.json"]
            )
            self.launches += 1
            log.info("%s: launched %s pid %s for run %s", self._udid, self.bundle_id, self._pid, run_id)
            deadline = time.monotonic() + timeout_s
            result = f"{APP_DIR}/results/{run_id}.txt"
            wait = min(0.1, self.poll_s)  # back off to poll_s: a short run is picked up in a fraction of it
            while True:
                self._sleep(wait)
                wait = min(self.poll_s, 2 * wait)
                if self._size(result) is not None:
                    out = Path(tmp) / "result.txt"
                    self.pull(result, out, 120.0)
                    self.stop_app()  # it exits by itself; make sure it is gone before the next launch
                    return out.read_text(errors="replace")
                alive = self._pid is None or self._pid in self.ctl.running_pids(self._udid)
                if not alive:
                    self._pid = None
                    if self._size(result) is None:  # it may have written the file and exited in between
                        return None
                    continue
                if time.monotonic() > deadline:
                    self.stop_app()
                    raise CommandTimeout(
                        f"PhoneNASBench did not finish within {timeout_s:g} s (terminated)",
                        cmd=(
                            "devicectl",
                            "device",
                            "process",
                            "launch",
                            self.bundle_id,
                            "--manifest",
                            run_id,
                        ),
                        device_id=self._udid,
                    )

    def recover(self, timeout_s: float = 60.0) -> None:
        """After a transport error: wait until devicectl lists the phone again (connected tunnel)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if any(self._udid in d.ids for d in self.ctl.list_devices()):
                    return
            except DeviceError:
                pass
            if time.monotonic() > deadline:
                return
            self._sleep(min(2.0, max(0.1, self.poll_s)))


def documents_relative(remote: str) -> str:
    """Container path -> path relative to Documents (what the app resolves)."""
    p = PurePosixPath(remote)
    if p.parts[:1] != ("Documents",):
        raise ValueError(f"{remote}: models must live under Documents/ in the app container")
    return str(PurePosixPath(*p.parts[1:]))


def open_ios_device(
    udid: str,
    *,
    bundle_id: str = BUNDLE_ID,
    app_path: str | Path | None = None,
    devicectl: Devicectl | None = None,
    poll_s: float = 1.0,
) -> tuple[IosAppDevice, DeviceInfo, str]:
    """Check the phone is attached, trusted and has the app (installing ``app_path`` when its hash is
    not the one recorded in the container); return (device, info, app sha256 or "").

    Raises ``IosHostUnsupported`` off macOS, ``DeviceNotFound``, ``HostNotTrusted`` or ``AppNotInstalled``.
    """
    if not host_is_macos():
        raise IosHostUnsupported(
            f"timing on iPhone {udid} needs macOS with Xcode 15+ (xcrun devicectl); this host runs "
            f"{sys.platform}: here iPhones can only be listed (`phonenas devices`)",
            device_id=udid,
        )
    ctl = devicectl or Devicectl()
    devices = ctl.list_devices()
    match = [d for d in devices if udid in d.ids]
    if not match:
        known = ", ".join(d.udid or d.identifier for d in devices) or "none"
        raise DeviceNotFound(f"no iPhone {udid!r} attached (devicectl lists: {known})", device_id=udid)
    dev = match[0]
    if dev.pairing_state and dev.pairing_state != "paired":
        raise HostNotTrusted(
            f"iPhone {udid} is {dev.pairing_state}: unlock it, accept 'Trust This Computer' and retry",
            device_id=udid,
        )
    device = IosAppDevice(udid, bundle_id, ctl, poll_s=poll_s)
    app_sha = ""
    if app_path is not None:
        app_sha = app_bundle_sha256(app_path)
        _ensure_app(device, Path(app_path), app_sha)
    elif ctl.installed_app(udid, bundle_id) is None:
        raise AppNotInstalled(
            f"the benchmark app {bundle_id} is not installed on iPhone {udid}: build it (docs/ios.md) and "
            "pass --ios-app path/to/PhoneNASBench.app",
            device_id=udid,
        )
    return device, ios_device_info(dev), app_sha


def _ensure_app(device: IosAppDevice, app: Path, sha: str) -> None:
    """Install ``app`` unless the app is installed and the container's stamp says this build."""
    stamp_remote = f"{APP_DIR}/installed-app.sha256"
    if device.ctl.installed_app(device.id, device.bundle_id) is not None:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                device.pull(stamp_remote, Path(tmp) / "stamp", 60.0)
                if (Path(tmp) / "stamp").read_text().strip() == sha:
                    log.info("%s: PhoneNASBench %s already installed", device.id, sha[:12])
                    return
            except (DeviceError, OSError):
                pass
    log.info("%s: installing %s (%s)", device.id, app, sha[:12])
    device.ctl.install_app(device.id, app)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "stamp").write_text(sha + "\n")
        device.ctl.copy_to(device.id, device.bundle_id, Path(tmp) / "stamp", stamp_remote, 60.0)
