"""Listing attached iPhones: through ``xcrun devicectl`` on macOS, through usbmuxd elsewhere.

On macOS (where iPhones can also be timed, see :mod:`android_bench.ios_app` and docs/ios.md) the
listing comes from ``xcrun devicectl list devices`` (Xcode 15+); without Xcode it falls back to usbmuxd.
On Linux it talks to usbmuxd directly (its plist protocol, stdlib only): ``ListDevices`` on
``/var/run/usbmuxd`` (or ``$USBMUXD_SOCKET_ADDRESS``). Model and iOS version need a lockdown session,
which comes from pymobiledevice3 when it is installed; without it the entry says so.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import plistlib
import socket
import struct
from dataclasses import dataclass

__all__ = [
    "IosDevice",
    "IosListing",
    "list_devicectl_devices",
    "list_ios_devices",
    "list_usbmuxd_devices",
    "usbmuxd_address",
]

_DEFAULT_SOCKET = "/var/run/usbmuxd"
_PLIST_MESSAGE = 8


@dataclass(frozen=True)
class IosDevice:
    udid: str
    connection: str  # USB / Network
    model: str = ""  # ProductType, e.g. iPhone15,2
    name: str = ""
    ios_version: str = ""
    cpu_arch: str = ""
    note: str = ""


@dataclass(frozen=True)
class IosListing:
    devices: tuple[IosDevice, ...]
    available: bool  # usbmuxd (or devicectl) reachable
    note: str = ""
    source: str = "usbmuxd"  # "usbmuxd" | "devicectl"


def usbmuxd_address() -> str | tuple[str, int]:
    env = os.environ.get("USBMUXD_SOCKET_ADDRESS", "")
    if env.startswith("UNIX:"):
        return env[5:]
    if env and ":" in env:
        host, _, port = env.rpartition(":")
        return (host, int(port))
    return env or _DEFAULT_SOCKET


def _usbmux_request(address: str | tuple[str, int], payload: dict, timeout_s: float) -> dict:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    body = plistlib.dumps(payload)
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        s.connect(address)
        s.sendall(struct.pack("<IIII", 16 + len(body), 1, _PLIST_MESSAGE, 1) + body)
        header = _recv_exact(s, 16)
        length = struct.unpack("<IIII", header)[0]
        return plistlib.loads(_recv_exact(s, length - 16))


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("usbmuxd closed the connection")
        buf += chunk
    return bytes(buf)


def _lockdown_values(udid: str) -> dict:
    """Model / iOS version via pymobiledevice3 (sync or async API, depending on its version)."""
    from pymobiledevice3.lockdown import create_using_usbmux

    lockdown = create_using_usbmux(serial=udid)
    if inspect.isawaitable(lockdown):
        lockdown = asyncio.run(lockdown)  # type: ignore[arg-type]
    values = getattr(lockdown, "all_values", None) or getattr(lockdown, "short_info", {})
    return dict(values)


def list_ios_devices(timeout_s: float = 3.0) -> IosListing:
    """Attached iPhones/iPads: devicectl on macOS, else usbmuxd. Never invents entries: nothing
    reachable -> empty listing + note."""
    from android_bench.ios_app import host_is_macos

    if host_is_macos():
        listing = list_devicectl_devices()
        if listing.available:
            return listing
    return list_usbmuxd_devices(timeout_s)


def list_devicectl_devices(timeout_s: float = 30.0) -> IosListing:
    """iPhones through ``xcrun devicectl list devices`` (macOS with Xcode 15+)."""
    from android_bench.devicectl import Devicectl
    from android_bench.errors import DeviceError

    try:
        found = Devicectl().list_devices(timeout_s)
    except DeviceError as exc:
        return IosListing((), False, f"xcrun devicectl failed: {exc}", "devicectl")
    devices = []
    for d in found:
        notes = []
        if d.pairing_state and d.pairing_state != "paired":
            notes.append(f"{d.pairing_state}: unlock it and accept 'Trust This Computer'")
        if d.developer_mode and d.developer_mode != "enabled":
            notes.append("enable Developer Mode (Settings > Privacy & Security)")
        if d.tunnel_state and d.tunnel_state != "connected":
            notes.append(f"tunnel {d.tunnel_state}")
        devices.append(
            IosDevice(
                udid=d.udid or d.identifier,
                connection=d.transport,
                model=d.model,
                name=d.name,
                ios_version=d.os_version,
                cpu_arch=d.cpu,
                note="; ".join(notes),
            )
        )
    return IosListing(tuple(devices), True, "", "devicectl")


def list_usbmuxd_devices(timeout_s: float = 3.0) -> IosListing:
    """iPhones/iPads usbmuxd knows. Never invents entries: no usbmuxd -> empty listing + note."""
    address = usbmuxd_address()
    if isinstance(address, str) and not os.path.exists(address):
        return IosListing((), False, f"usbmuxd is not running ({address} missing): iPhones cannot be listed")
    try:
        reply = _usbmux_request(
            address,
            {
                "MessageType": "ListDevices",
                "ClientVersionString": "phonenas",
                "ProgName": "phonenas",
                "kLibUSBMuxVersion": 3,
            },
            timeout_s,
        )
    except (OSError, plistlib.InvalidFileException, ValueError) as exc:
        return IosListing((), False, f"usbmuxd at {address} did not answer: {exc}")
    try:
        import pymobiledevice3  # noqa: F401

        have_pmd3 = True
    except ImportError:
        have_pmd3 = False
    devices = []
    for entry in reply.get("DeviceList", []):
        props = entry.get("Properties", {})
        udid = str(props.get("SerialNumber", ""))
        if not udid:
            continue
        dev = IosDevice(udid=udid, connection=str(props.get("ConnectionType", "")))
        if not have_pmd3:
            dev = IosDevice(udid, dev.connection, note="install pymobiledevice3 for model and iOS version")
        else:
            try:
                v = _lockdown_values(udid)
                dev = IosDevice(
                    udid,
                    dev.connection,
                    model=str(v.get("ProductType", "")),
                    name=str(v.get("DeviceName", "")),
                    ios_version=str(v.get("ProductVersion", "")),
                    cpu_arch=str(v.get("CPUArchitecture", "")),
                )
            except Exception as exc:  # pairing/trust problems are common: report, do not fail the listing
                dev = IosDevice(udid, dev.connection, note=f"lockdown failed (trust this computer?): {exc}")
        devices.append(dev)
    note = "" if have_pmd3 else "pymobiledevice3 not installed: listing UDIDs only"
    return IosListing(tuple(devices), True, note)
