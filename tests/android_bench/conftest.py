"""Fixtures: a private adb server and loopback "phones" (tests/android_bench/loopback_adbd.py).

Everything is started here and stopped again: the adb server runs on a free port with its own HOME
(``adb -P PORT``), each loopback adbd listens on a free 127.0.0.1 port and is attached with
``adb connect``. The adb binary is Debian's ``adb`` when installed, else the one in the adbutils wheel.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# tests/<pkg> directories shadow the real packages as namespace packages when tests/ is on sys.path
# (pytest's rootdir "prepend" import mode); make sure the repository root wins.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
for _name in [m for m in sys.modules if m == "android_bench" or m.startswith("android_bench.")]:
    if getattr(sys.modules[_name], "__file__", None) is None:
        del sys.modules[_name]

from loopback_adbd import AdbServer, LoopbackAdbd, Phone, build_fake_phone, find_adb  # noqa: E402

from android_bench import AdbDevice  # noqa: E402

DATA = Path(__file__).parent / "data"

PHONE_PROPS = {
    "ro.product.model": "Loopback Phone",
    "ro.product.manufacturer": "PhoneNAS",
    "ro.product.name": "loopback",
    "ro.product.device": "loopback",
    "ro.board.platform": "loopback-soc",
    "ro.soc.model": "LB-2",
    "ro.hardware": "loopback",
    "ro.product.cpu.abi": "x86_64",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
}
# Two cores like this host (taskset masks must be valid here): cpu0 little, cpu1 big.
PHONE_CPU_KHZ = [1_800_000, 2_800_000]
PHONE_TEMPS_MC = {"cpu-0-0-usr": 38_500, "cpu-1-0-usr": 40_250, "battery": 30_000}


@pytest.fixture(scope="session")
def adb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdbServer]:
    server = AdbServer(find_adb(), tmp_path_factory.mktemp("adb-home"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _start_phone(adb_server: AdbServer, root: Path) -> Phone:
    build_fake_phone(root, PHONE_PROPS, PHONE_CPU_KHZ, PHONE_TEMPS_MC)
    adbd = LoopbackAdbd(root, PHONE_PROPS)
    adbd.start()
    adb_server.connect(adbd.serial)
    return Phone(adbd, AdbDevice(adbd.serial, port=adb_server.port), adb_server)


def _stop_phone(phone: Phone) -> None:
    phone.server.run("disconnect", phone.adbd.serial)
    phone.adbd.stop()


@pytest.fixture
def phone(adb_server: AdbServer, tmp_path: Path) -> Iterator[Phone]:
    p = _start_phone(adb_server, tmp_path / "phone")
    try:
        yield p
    finally:
        _stop_phone(p)


@pytest.fixture
def two_phones(adb_server: AdbServer, tmp_path: Path) -> Iterator[tuple[Phone, Phone]]:
    a = _start_phone(adb_server, tmp_path / "phone-a")
    b = _start_phone(adb_server, tmp_path / "phone-b")
    try:
        yield a, b
    finally:
        _stop_phone(a)
        _stop_phone(b)
