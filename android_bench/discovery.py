"""Find attached devices: Android phones through the adb server, iPhones through usbmuxd."""

from __future__ import annotations

from dataclasses import dataclass

from android_bench.adb import DEFAULT_ADB_PORT, AdbDevice, list_adb_devices
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


def discover_devices(host: str = "127.0.0.1", port: int = DEFAULT_ADB_PORT) -> list[AdbDevice]:
    """Android devices in state ``device`` (ready to benchmark), as ``AdbDevice`` s."""
    return [
        AdbDevice(e.serial, host=host, port=port) for e in list_adb_devices(host, port) if e.state == "device"
    ]


def list_devices(
    host: str = "127.0.0.1", port: int = DEFAULT_ADB_PORT, *, with_info: bool = True, include_ios: bool = True
) -> DeviceListing:
    """Everything attached, with metadata for ready Android devices (for ``phonenas devices``)."""
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


__all__ += ["IosDevice"]
