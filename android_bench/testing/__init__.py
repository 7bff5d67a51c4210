"""Phone-free test doubles for android_bench (no torch): a loopback adbd speaking the real adb wire
protocol on 127.0.0.1, a private adb server, and a fake phone's sysfs/procfs/getprop tree.

    server = AdbServer(find_adb(), home)           # private adb server (adb -P PORT, its own HOME)
    server.start()
    phone = start_phone(server, root, props, cpu_max_khz=[1_800_000, 2_800_000], temps_mc={"cpu-0": 40_000})
    phone.device                                    # an android_bench.AdbDevice through that server
    stop_phone(phone); server.stop()

Used by the test suite (tests/android_bench/conftest.py) and by benchmarks/android_loopback.py.
"""

from __future__ import annotations

from pathlib import Path

from android_bench.testing.loopback_adbd import (
    AdbServer,
    Faults,
    LoopbackAdbd,
    Phone,
    adb_binaries,
    build_fake_phone,
    bundled_adb,
    find_adb,
)

__all__ = [
    "AdbServer",
    "Faults",
    "LoopbackAdbd",
    "Phone",
    "adb_binaries",
    "build_fake_phone",
    "bundled_adb",
    "find_adb",
    "start_phone",
    "stop_phone",
]


def start_phone(
    server: AdbServer,
    root: Path,
    props: dict[str, str],
    cpu_max_khz: list[int],
    temps_mc: dict[str, int],
) -> Phone:
    """Lay out a fake phone under ``root``, serve it with a loopback adbd and attach it to ``server``."""
    from android_bench import AdbDevice

    build_fake_phone(Path(root), props, cpu_max_khz, temps_mc)
    adbd = LoopbackAdbd(Path(root), props)
    adbd.start()
    try:
        server.connect(adbd.serial)
    except BaseException:
        adbd.stop()
        raise
    return Phone(adbd, AdbDevice(adbd.serial, port=server.port), server)


def stop_phone(phone: Phone) -> None:
    """Detach ``phone`` from its adb server and stop its adbd."""
    try:
        phone.server.run("disconnect", phone.adbd.serial)
    finally:
        phone.adbd.stop()
