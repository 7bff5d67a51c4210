"""Find attached devices: Android phones through the adb server, iPhones through usbmuxd."""

from __future__ import annotations

from dataclasses import dataclass

from android_bench.adb import AdbDevice, adb_server_address, list_adb_devices
from android_bench.device import Device, HostDevice
from android_bench.errors import DeviceError, DeviceNotFound
from android_bench.info import DeviceInfo, read_device_info
from android_bench.ios import IosDevice, IosListing, list_ios_devices

__all__ = ["DeviceListing", "DiscoveredAndroid", "discover_devices", "list_devices"]


@dataclass(frozen=True)
class DiscoveredAndroid:
    serial: str
    state: str  # device / offline / unauthorized / ...
    info: DeviceInfo | None = None
    error: str = ""


@dataclass(frozen=True)
class DeviceListing:
    android: tuple[DiscoveredAndroid, ...]
    adb_note: str
    ios: IosListing


def discover_devices(host: str | None = None, port: int | None = None) -> list[AdbDevice]:
    """Android devices in state ``device`` (ready to benchmark), as ``AdbDevice`` s."""
    host, port = adb_server_address(host, port)
    return [
        AdbDevice(e.serial, host=host, port=port) for e in list_adb_devices(host, port) if e.state == "device"
    ]


def list_devices(
    host: str | None = None, port: int | None = None, *, with_info: bool = True, include_ios: bool = True
) -> DeviceListing:
    """Everything attached, with metadata for ready Android devices (for ``phonenas devices``)."""
    host, port = adb_server_address(host, port)
    android: list[DiscoveredAndroid] = []
    note = ""
    try:
        entries = list_adb_devices(host, port)
    except DeviceNotFound as exc:
        entries = []
        note = str(exc)
    for e in entries:
        if e.state != "device" or not with_info:
            hint = {"unauthorized": "accept the USB debugging prompt on the phone"}.get(e.state, "")
            android.append(DiscoveredAndroid(e.serial, e.state, error=hint))
            continue
        try:
            android.append(
                DiscoveredAndroid(e.serial, e.state, read_device_info(AdbDevice(e.serial, host, port)))
            )
        except DeviceError as exc:
            android.append(DiscoveredAndroid(e.serial, e.state, error=str(exc)))
    ios = list_ios_devices() if include_ios else IosListing((), False, "not queried")
    return DeviceListing(tuple(android), note, ios)


def open_device(spec: str, host: str | None = None, port: int | None = None) -> Device:
    """``"host"`` -> ``HostDevice()``; anything else is an adb serial that must be attached and ready.

    Raises ``DeviceNotFound`` naming the attached serials when it is not.
    """
    if spec == "host":
        return HostDevice()
    entries = list_adb_devices(host, port)
    states = {e.serial: e.state for e in entries}
    if spec not in states:
        known = ", ".join(sorted(states)) or "none"
        hint = f"; for wireless adb run `adb connect {spec}` first" if ":" in spec else ""
        raise DeviceNotFound(f"no adb device {spec!r} (attached: {known}){hint}", device_id=spec)
    if states[spec] != "device":
        raise DeviceNotFound(f"adb device {spec!r} is {states[spec]}, not ready", device_id=spec)
    return AdbDevice(spec, host, port)


__all__ += ["IosDevice", "open_device"]
