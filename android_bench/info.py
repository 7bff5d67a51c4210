"""Device metadata: model, SoC, ABI, OS version, per-core max frequency (big/little), governor, temps.

Everything is read with ONE shell command (``_REPORT_SCRIPT``) whose output is parsed by the pure
function ``parse_device_report``; that parser is what the tests feed recorded text to.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from android_bench.device import Device
from android_bench.errors import DeviceError

__all__ = [
    "DeviceInfo",
    "ThermalZone",
    "big_cores_from_freqs",
    "mask_from_cores",
    "parse_device_report",
    "read_device_info",
    "read_temperature_c",
]

# Prints one tagged line per fact; every read tolerates a missing file (host, emulators, old phones).
_REPORT_SCRIPT = r"""
echo "online $(cat /sys/devices/system/cpu/online 2>/dev/null)"
for d in /sys/devices/system/cpu/cpu[0-9]*; do
  n=${d##*/cpu}
  echo "cpu $n $(cat $d/cpufreq/cpuinfo_max_freq 2>/dev/null || echo -) \
$(cat $d/cpufreq/scaling_governor 2>/dev/null || echo -)"
done
for z in /sys/class/thermal/thermal_zone*; do
  [ -r $z/temp ] && echo "thermal ${z##*/} $(cat $z/type 2>/dev/null | tr ' ' _) $(cat $z/temp 2>/dev/null)"
done
echo "battery $(cat /sys/class/power_supply/battery/temp 2>/dev/null)"
echo "uname $(uname -m)"
grep -E '^(Hardware|model name)' /proc/cpuinfo 2>/dev/null | head -n 2 | sed 's/^/cpuinfo /'
getprop 2>/dev/null | sed 's/^/prop /'
true
"""

_CPU_ZONE_HINTS = ("cpu", "tsens", "cluster", "soc", "x86_pkg", "big", "little", "mtktscpu", "apc", "core")
_PROP_RE = re.compile(r"^prop \[([^\]]+)\]: \[(.*)\]\s*$")


@dataclass(frozen=True)
class ThermalZone:
    name: str  # thermal_zoneN
    type: str
    temp_c: float


@dataclass(frozen=True)
class DeviceInfo:
    """What a device is and what state it is in; recorded with every measurement."""

    device_id: str
    model: str = ""
    manufacturer: str = ""
    soc: str = ""
    hardware: str = ""
    abi: str = ""
    os_version: str = ""
    sdk: str = ""
    num_cores: int = 0
    max_freq_khz: tuple[int | None, ...] = ()
    governors: tuple[str, ...] = ()
    thermal_zones: tuple[ThermalZone, ...] = ()
    battery_temp_c: float | None = None
    props: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def big_cores(self) -> tuple[int, ...]:
        return big_cores_from_freqs(self.max_freq_khz)

    @property
    def big_core_mask(self) -> int | None:
        """CPU mask of the big cores (all but the slowest cluster); None if frequencies are unknown."""
        cores = self.big_cores
        return mask_from_cores(cores) if cores else None

    @property
    def governor(self) -> str:
        """The governor of the big cores ('mixed:a,b' if they differ, '' if unknown)."""
        govs = {self.governors[i] for i in self.big_cores if i < len(self.governors) and self.governors[i]}
        if not govs:
            govs = {g for g in self.governors if g}
        return next(iter(govs)) if len(govs) == 1 else ("mixed:" + ",".join(sorted(govs)) if govs else "")

    @property
    def cpu_temp_c(self) -> float | None:
        return _cpu_temp(self.thermal_zones)

    @property
    def temperature_c(self) -> float | None:
        """Hottest CPU zone if any, else the battery: the value the temperature gate waits on."""
        cpu = self.cpu_temp_c
        return cpu if cpu is not None else self.battery_temp_c

    def to_dict(self) -> dict[str, object]:
        return {
            "device_id": self.device_id,
            "model": self.model,
            "manufacturer": self.manufacturer,
            "soc": self.soc,
            "hardware": self.hardware,
            "abi": self.abi,
            "os_version": self.os_version,
            "sdk": self.sdk,
            "num_cores": self.num_cores,
            "max_freq_khz": list(self.max_freq_khz),
            "big_cores": list(self.big_cores),
            "big_core_mask": self.big_core_mask,
            "governors": list(self.governors),
            "cpu_temp_c": self.cpu_temp_c,
            "battery_temp_c": self.battery_temp_c,
        }


def big_cores_from_freqs(max_freq_khz: Sequence[int | None]) -> tuple[int, ...]:
    """Cores faster than the slowest cluster; all cores when every core runs at the same maximum.

    A 4+3+1 phone (little 1.8 GHz, big 2.4 GHz, prime 3.0 GHz) gives the 4 big+prime cores.
    """
    known = [(i, f) for i, f in enumerate(max_freq_khz) if f]
    if not known:
        return ()
    slowest = min(f for _, f in known)
    big = tuple(i for i, f in known if f > slowest)
    return big or tuple(i for i, _ in known)


def mask_from_cores(cores: Sequence[int]) -> int:
    mask = 0
    for c in cores:
        mask |= 1 << c
    return mask


def _to_celsius(raw: str, *, deci: bool = False) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    if deci:
        return value / 10.0
    # sysfs thermal zones report millidegrees; a few vendor zones report degrees.
    return value / 1000.0 if abs(value) >= 200 else value


def _cpu_temp(zones: Sequence[ThermalZone]) -> float | None:
    plausible = [z for z in zones if -20.0 < z.temp_c < 150.0]
    cpu = [z.temp_c for z in plausible if any(h in z.type.lower() for h in _CPU_ZONE_HINTS)]
    return max(cpu) if cpu else None


def parse_device_report(device_id: str, text: str) -> DeviceInfo:
    """Parse the output of ``_REPORT_SCRIPT`` (pure; tested on recorded reports)."""
    props: dict[str, str] = {}
    freqs: dict[int, int | None] = {}
    govs: dict[int, str] = {}
    zones: list[ThermalZone] = []
    cpuinfo: dict[str, str] = {}
    battery: float | None = None
    machine = ""
    for line in text.splitlines():
        if m := _PROP_RE.match(line):
            props[m.group(1)] = m.group(2)
            continue
        tag, _, rest = line.partition(" ")
        parts = rest.split()
        if tag == "cpu" and parts and parts[0].isdigit():
            idx = int(parts[0])
            freq = parts[1] if len(parts) > 1 else "-"
            freqs[idx] = int(freq) if freq.isdigit() else None
            govs[idx] = parts[2] if len(parts) > 2 and parts[2] != "-" else ""
        elif tag == "thermal" and len(parts) >= 3:
            temp = _to_celsius(parts[2])
            if temp is not None:
                zones.append(ThermalZone(parts[0], parts[1], temp))
        elif tag == "battery" and parts:
            battery = _to_celsius(parts[0], deci=True)
        elif tag == "uname" and parts:
            machine = parts[0]
        elif tag == "cpuinfo" and ":" in rest:
            key, _, value = rest.partition(":")
            cpuinfo[key.strip()] = value.strip()
    n = max(freqs) + 1 if freqs else 0
    soc = (
        props.get("ro.soc.model")
        or props.get("ro.board.platform")
        or props.get("ro.hardware.chipname")
        or cpuinfo.get("Hardware", "")
        or cpuinfo.get("model name", "")
    )
    return DeviceInfo(
        device_id=device_id,
        model=props.get("ro.product.model", "") or cpuinfo.get("model name", ""),
        manufacturer=props.get("ro.product.manufacturer", "") or props.get("ro.soc.manufacturer", ""),
        soc=soc,
        hardware=props.get("ro.hardware", "") or cpuinfo.get("Hardware", ""),
        abi=props.get("ro.product.cpu.abi", "") or machine,
        os_version=props.get("ro.build.version.release", ""),
        sdk=props.get("ro.build.version.sdk", ""),
        num_cores=n,
        max_freq_khz=tuple(freqs.get(i) for i in range(n)),
        governors=tuple(govs.get(i, "") for i in range(n)),
        thermal_zones=tuple(zones),
        battery_temp_c=battery,
        props=props,
    )


def read_device_info(device: Device, timeout_s: float = 30.0) -> DeviceInfo:
    """Read model/SoC/ABI/OS, per-core max frequency and governor, temperatures from ``device``."""
    res = device.shell(["sh", "-c", _REPORT_SCRIPT], timeout_s=timeout_s)
    if res.rc != 0 and not res.stdout:
        raise DeviceError("could not read device metadata", cmd=res.argv, rc=res.rc, stderr=res.stderr)
    info = parse_device_report(device.id, res.stdout)
    if not info.os_version and device.id == "host":
        info = _with_host_os(info)
    return info


def _with_host_os(info: DeviceInfo) -> DeviceInfo:
    from dataclasses import replace

    return replace(
        info, os_version=f"{platform.system()} {platform.release()}", abi=info.abi or platform.machine()
    )


def read_temperature_c(device: Device, info: DeviceInfo, timeout_s: float = 15.0) -> float | None:
    """Current temperature of the zones ``info`` found (hottest CPU zone, else battery)."""
    cpu_zones = [z for z in info.thermal_zones if any(h in z.type.lower() for h in _CPU_ZONE_HINTS)]
    if cpu_zones:
        paths = [f"/sys/class/thermal/{z.name}/temp" for z in cpu_zones]
        res = device.shell(["cat", *paths], timeout_s=timeout_s)
        temps = [_to_celsius(v) for v in res.stdout.split()]
        zones = [
            ThermalZone(z.name, z.type, t) for z, t in zip(cpu_zones, temps, strict=False) if t is not None
        ]
        value = _cpu_temp(zones)
        if value is not None:
            return value
    if info.battery_temp_c is not None:
        res = device.shell(["cat", "/sys/class/power_supply/battery/temp"], timeout_s=timeout_s)
        return _to_celsius(res.stdout.strip(), deci=True)
    return None
