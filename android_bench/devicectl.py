"""``xcrun devicectl`` (Xcode 15+, macOS): the commands the iPhone driver uses, with typed errors.

Every call runs ``xcrun devicectl <args> --json-output <tmp>`` and reads that file: devicectl writes
``{"info": {"outcome": "success" | "failed", ...}, "result": {...}}`` on success and
``{"info": {"outcome": "failed"}, "error": {"domain", "code", "userInfo": {...}}}`` on failure (the
envelope parsed by public wrappers: kaeawc/auto-mobile ``devicectlFailureEnvelope.ts``,
getsentry/XcodeBuildMCP device tools). Apple documents the flags in ``devicectl help`` but not the JSON
schema, so every field read here is optional and a missing one degrades to "" instead of crashing.

Failures become the android_bench error types (so ``measure_artifact`` retries what is transient):
``DeviceLocked``, ``HostNotTrusted``, ``AppNotInstalled`` (a ``RunnerNotFound``), ``DeviceNotFound``,
``CommandTimeout`` and plain ``DeviceError``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from android_bench.errors import CommandTimeout, DeviceError, DeviceNotFound, RunnerNotFound

__all__ = [
    "AppNotInstalled",
    "ContainerFile",
    "DeviceLocked",
    "Devicectl",
    "DevicectlDevice",
    "HostNotTrusted",
    "classify_failure",
    "parse_device_list",
]

log = logging.getLogger(__name__)


class DeviceLocked(DeviceError):
    """The iPhone is locked (passcode screen): apps cannot be launched until it is unlocked."""


class HostNotTrusted(DeviceError):
    """The iPhone is not paired with this Mac (the 'Trust This Computer?' prompt was not accepted)."""


class AppNotInstalled(RunnerNotFound):
    """The benchmark app is not installed on the iPhone (or has another bundle id)."""


@dataclass(frozen=True)
class DevicectlDevice:
    """One entry of ``devicectl list devices`` (fields as named in its JSON)."""

    identifier: str  # CoreDevice identifier (a UUID); devicectl --device accepts it or the UDID
    udid: str  # hardwareProperties.udid, the classic UDID (what usbmuxd and Xcode show)
    name: str = ""
    model: str = ""  # hardwareProperties.productType, e.g. iPhone15,2
    marketing_name: str = ""
    os_version: str = ""
    cpu: str = ""
    platform: str = ""
    reality: str = ""  # physical / simulated
    pairing_state: str = ""  # paired / unpaired
    tunnel_state: str = ""  # connected / disconnected / unavailable
    transport: str = ""  # wired / localNetwork
    developer_mode: str = ""  # enabled / disabled

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(i for i in (self.udid, self.identifier) if i)


@dataclass(frozen=True)
class ContainerFile:
    relative_path: str
    size: int | None


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def parse_device_list(payload: dict) -> list[DevicectlDevice]:
    """``list devices`` JSON -> physical iOS devices (simulators and other platforms dropped)."""
    out = []
    for d in _get(payload, "result", "devices") or []:
        hw = d.get("hardwareProperties") or {}
        dp = d.get("deviceProperties") or {}
        cp = d.get("connectionProperties") or {}
        reality = _s(hw.get("reality"))
        platform = _s(hw.get("platform"))
        if reality and reality != "physical":
            continue
        if platform and platform.lower() not in ("ios", "ipados"):
            continue
        out.append(
            DevicectlDevice(
                identifier=_s(d.get("identifier")),
                udid=_s(hw.get("udid")),
                name=_s(dp.get("name")),
                model=_s(hw.get("productType")),
                marketing_name=_s(hw.get("marketingName")),
                os_version=_s(dp.get("osVersionNumber")),
                cpu=_s(_get(hw, "cpuType", "name")),
                platform=platform,
                reality=reality,
                pairing_state=_s(cp.get("pairingState")),
                tunnel_state=_s(cp.get("tunnelState")),
                transport=_s(cp.get("transportType")),
                developer_mode=_s(dp.get("developerModeStatus")),
            )
        )
    return out


def _user_info_text(user_info: Any) -> list[str]:
    """devicectl wraps userInfo values as {"string": ...}; collect every message, nested errors too."""
    texts: list[str] = []
    if isinstance(user_info, dict):
        for key, value in user_info.items():
            if isinstance(value, dict) and "string" in value:
                texts.append(str(value["string"]))
            elif isinstance(value, dict) and "error" in value:  # NSUnderlyingError
                texts += _user_info_text(value["error"].get("userInfo"))
            elif isinstance(value, str) and key.startswith("NS"):
                texts.append(value)
    return texts


_LOCKED = ("device is locked", "was not, or could not be, unlocked", "passcode", "unlock")
_UNTRUSTED = ("must be paired", "not paired", "pairing", "trust this computer", "untrusted")
_NOT_INSTALLED = ("not installed", "could not be found", "fbsapplicationlibrary", "no application")


def classify_failure(
    payload: dict | None, stderr: str, cmd: Sequence[str], rc: int | None, device_id: str, bundle_id: str = ""
) -> DeviceError:
    """The typed error for a failed devicectl call (JSON error envelope first, stderr as fallback)."""
    err = _get(payload, "error") or {}
    domain, code = _s(err.get("domain")), err.get("code")
    texts = _user_info_text(err.get("userInfo"))
    texts = [t for t in dict.fromkeys(t.strip() for t in texts) if t]  # outermost first, then the causes
    summary = "; ".join(texts) if texts else (stderr.strip().splitlines() or [""])[-1]
    if len(summary) > 300 and len(texts) > 1:  # keep the outermost message and the root cause
        summary = f"{texts[0][:140]}; ...; {texts[-1][:150]}"
    if domain:
        summary = f"{summary} ({domain} error {code})"
    blob = " ".join([*texts, domain, stderr]).lower()
    kw: dict[str, Any] = {"cmd": cmd, "rc": rc, "stderr": stderr or summary, "device_id": device_id}
    if any(k in blob for k in _UNTRUSTED):
        return HostNotTrusted(
            f"this Mac is not trusted by iPhone {device_id}: connect it by cable, unlock it and accept "
            f"'Trust This Computer', then retry ({summary})",
            **kw,
        )
    if any(k in blob for k in _LOCKED):
        return DeviceLocked(
            f"iPhone {device_id} is locked: unlock it and keep it awake while benchmarking "
            f"(Settings > Display & Brightness > Auto-Lock > Never) ({summary})",
            **kw,
        )
    if bundle_id and any(k in blob for k in _NOT_INSTALLED):
        return AppNotInstalled(
            f"the benchmark app {bundle_id} is not installed on iPhone {device_id}: build it and pass "
            f"--ios-app path/to/PhoneNASBench.app (docs/ios.md) ({summary})",
            **kw,
        )
    if (domain.lower().endswith("coredeviceerror") and code == 1000) or "no devices matched" in blob:
        return DeviceNotFound(f"no iPhone {device_id!r} known to devicectl ({summary})", **kw)
    return DeviceError(f"devicectl failed: {summary}", **kw)


class Devicectl:
    """Runs devicectl subcommands for one device. ``xcrun`` is looked up on PATH (tests put a fake there)."""

    def __init__(self, xcrun: str = "xcrun", default_timeout_s: float = 60.0) -> None:
        self.xcrun = xcrun
        self.default_timeout_s = default_timeout_s

    def call(
        self, args: Sequence[str], *, device_id: str = "", bundle_id: str = "", timeout_s: float | None = None
    ) -> dict:
        """Run ``xcrun devicectl ARGS --json-output F``; return the parsed JSON or raise a typed error."""
        timeout_s = self.default_timeout_s if timeout_s is None else timeout_s
        fd, json_path = tempfile.mkstemp(prefix="phonenas-devicectl-", suffix=".json")
        os.close(fd)
        argv = [self.xcrun, "devicectl", *args, "--json-output", json_path]
        try:
            try:
                proc = subprocess.run(
                    argv,
                    capture_output=True,
                    text=True,
                    stdin=subprocess.DEVNULL,
                    timeout=timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise CommandTimeout(
                    f"devicectl did not answer within {timeout_s:g} s", cmd=argv, device_id=device_id
                ) from exc
            except FileNotFoundError as exc:
                raise DeviceError(
                    f"{self.xcrun} not found: timing on an iPhone needs macOS with Xcode 15 or newer",
                    cmd=argv,
                    device_id=device_id,
                ) from exc
            payload = _read_json(json_path)
        finally:
            Path(json_path).unlink(missing_ok=True)
        outcome = _s(_get(payload, "info", "outcome"))
        if proc.returncode != 0 or outcome not in ("success", ""):
            raise classify_failure(payload, proc.stderr, argv, proc.returncode, device_id, bundle_id)
        if payload is None:
            raise DeviceError(
                "devicectl wrote no JSON output (Xcode older than 15?)",
                cmd=argv,
                rc=proc.returncode,
                stderr=proc.stderr,
                device_id=device_id,
            )
        return payload

    # ---- the subcommands the driver uses --------------------------------------------------
    def list_devices(self, timeout_s: float = 30.0) -> list[DevicectlDevice]:
        return parse_device_list(self.call(["list", "devices"], timeout_s=timeout_s))

    def installed_app(self, device: str, bundle_id: str) -> dict | None:
        """The ``info apps`` entry for ``bundle_id`` (``bundleIdentifier``, ``version``, ``url``...)
        or None."""
        payload = self.call(
            ["device", "info", "apps", "--device", device, "--bundle-id", bundle_id], device_id=device
        )
        for app in _get(payload, "result", "apps") or []:
            if app.get("bundleIdentifier") == bundle_id:
                return dict(app)
        return None

    def install_app(self, device: str, app_path: str | Path, timeout_s: float = 300.0) -> dict:
        return self.call(
            ["device", "install", "app", "--device", device, str(app_path)],
            device_id=device,
            timeout_s=timeout_s,
        )

    def launch(
        self, device: str, bundle_id: str, arguments: Sequence[str] = (), *, terminate_existing: bool = True
    ) -> int | None:
        """Launch ``bundle_id`` with ``arguments``; returns the pid (``result.process.processIdentifier``)."""
        args = ["device", "process", "launch", "--device", device]
        if terminate_existing:
            args.append("--terminate-existing")
        payload = self.call([*args, bundle_id, *arguments], device_id=device, bundle_id=bundle_id)
        pid = _get(payload, "result", "process", "processIdentifier")
        return int(pid) if isinstance(pid, int) else None

    def running_pids(self, device: str) -> dict[int, str]:
        """pid -> executable URL of every process on the phone (``device info processes``)."""
        payload = self.call(["device", "info", "processes", "--device", device], device_id=device)
        out: dict[int, str] = {}
        # the list's key is undocumented: walk the result for {processIdentifier, executable} records
        stack: list[Any] = [payload.get("result")]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                pid = node.get("processIdentifier")
                if isinstance(pid, int):
                    out[pid] = _s(node.get("executable"))
                else:
                    stack.extend(node.values())
        return out

    def terminate(self, device: str, pid: int) -> None:
        try:
            self.call(
                ["device", "process", "terminate", "--device", device, "--pid", str(pid)], device_id=device
            )
        except DeviceError as exc:  # already gone is fine
            if "no such process" not in str(exc).lower() and "not running" not in str(exc).lower():
                raise

    def _domain(self, device: str, bundle_id: str) -> list[str]:
        return ["--device", device, "--domain-type", "appDataContainer", "--domain-identifier", bundle_id]

    def copy_to(
        self, device: str, bundle_id: str, source: str | Path, destination: str, timeout_s: float
    ) -> None:
        self.call(
            ["device", "copy", "to", *self._domain(device, bundle_id), "--source", str(source),
             "--destination", destination],
            device_id=device, bundle_id=bundle_id, timeout_s=timeout_s,
        )  # fmt: skip

    def copy_from(
        self, device: str, bundle_id: str, source: str, destination: str | Path, timeout_s: float
    ) -> None:
        self.call(
            ["device", "copy", "from", *self._domain(device, bundle_id), "--source", source,
             "--destination", str(destination)],
            device_id=device, bundle_id=bundle_id, timeout_s=timeout_s,
        )  # fmt: skip

    def list_files(self, device: str, bundle_id: str, subdirectory: str) -> list[ContainerFile]:
        """Files under ``subdirectory`` of the app container (``info files ... --recurse``)."""
        payload = self.call(
            ["device", "info", "files", *self._domain(device, bundle_id), "--subdirectory", subdirectory,
             "--recurse"],
            device_id=device, bundle_id=bundle_id,
        )  # fmt: skip
        files = []
        for f in _get(payload, "result", "files") or []:
            rel = _s(f.get("relativePath"))
            size = f.get("fileSize", f.get("size"))
            files.append(ContainerFile(rel, int(size) if isinstance(size, int) else None))
        return files


def _read_json(path: str) -> dict | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        log.warning("devicectl wrote malformed JSON to %s", path)
        return None
    return data if isinstance(data, dict) else None
