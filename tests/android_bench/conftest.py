"""Fixtures: a private adb server and loopback "phones" (``android_bench.testing``).

Everything is started here and stopped again: the adb server runs on a free port with its own HOME
(``adb -P PORT``), each loopback adbd listens on a free 127.0.0.1 port and is attached with
``adb connect``. The adb binary is the one bundled in the adbutils wheel (what users get); tests that
must also hold for another adb on PATH (Debian's) parametrize over ``adb_binaries()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from android_bench.testing import AdbServer, Phone, find_adb, start_phone, stop_phone

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
    return start_phone(adb_server, root, PHONE_PROPS, PHONE_CPU_KHZ, PHONE_TEMPS_MC)


@pytest.fixture
def phone(adb_server: AdbServer, tmp_path: Path) -> Iterator[Phone]:
    p = _start_phone(adb_server, tmp_path / "phone")
    try:
        yield p
    finally:
        stop_phone(p)


@pytest.fixture
def two_phones(adb_server: AdbServer, tmp_path: Path) -> Iterator[tuple[Phone, Phone]]:
    a = _start_phone(adb_server, tmp_path / "phone-a")
    b = _start_phone(adb_server, tmp_path / "phone-b")
    try:
        yield a, b
    finally:
        stop_phone(a)
        stop_phone(b)
