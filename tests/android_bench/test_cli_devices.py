"""`phonenas devices` against a loopback phone and a fake usbmuxd (unix socket, plist protocol)."""

from __future__ import annotations

import json
import plistlib
import re
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from android_bench import list_ios_devices
from android_bench.testing import Phone

UDID = "00008110-001A2B3C4D5E801E"


@pytest.fixture
def fake_usbmuxd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    path = str(tmp_path / "usbmuxd")
    requests: list[dict] = []
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                length, version, mtype, tag = struct.unpack("<IIII", conn.recv(16))
                body = b""
                while len(body) < length - 16:
                    body += conn.recv(length - 16 - len(body))
                requests.append(plistlib.loads(body))
                reply = plistlib.dumps(
                    {
                        "DeviceList": [
                            {
                                "DeviceID": 3,
                                "MessageType": "Attached",
                                "Properties": {
                                    "SerialNumber": UDID,
                                    "ConnectionType": "USB",
                                    "ProductID": 4776,
                                },
                            }
                        ]
                    }
                )
                conn.sendall(struct.pack("<IIII", 16 + len(reply), 1, 8, tag) + reply)

    threading.Thread(target=serve, daemon=True).start()
    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", f"UNIX:{path}")
    try:
        yield requests
    finally:
        srv.shutdown(socket.SHUT_RDWR)
        srv.close()


def _cli(*args: str):
    from phonenas.cli.main import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def test_devices_json_lists_the_loopback_phone(phone: Phone) -> None:
    res = _cli("devices", "--json", "--no-ios", "--adb-port", str(phone.server.port))
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    (entry,) = [a for a in data["android"] if a["serial"] == phone.adbd.serial]
    info = entry["info"]
    assert info["model"] == "Loopback Phone" and info["soc"] == "LB-2" and info["abi"] == "x86_64"
    assert info["max_freq_khz"] == [1_800_000, 2_800_000] and info["big_core_mask"] == 2
    assert info["governors"] == ["schedutil", "schedutil"] and info["cpu_temp_c"] == pytest.approx(40.25)


def test_devices_table(phone: Phone) -> None:
    res = _cli("devices", "--no-ios", "--adb-port", str(phone.server.port))
    assert res.exit_code == 0, res.output
    assert phone.adbd.serial in res.output and "Loopback Phone" in res.output
    assert "1x1.80 1x2.80 GHz" in res.output and "0x2" in res.output


def test_devices_without_adb_server_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USBMUXD_SOCKET_ADDRESS", f"UNIX:{tmp_path / 'none'}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = _cli("devices", "--adb-port", str(port))
    assert res.exit_code == 0
    assert "cannot reach the adb server" in res.output
    assert "usbmuxd is not running" in res.output


def test_iphones_listed_through_usbmuxd(fake_usbmuxd: list[dict]) -> None:
    listing = list_ios_devices()
    assert listing.available
    assert [d.udid for d in listing.devices] == [UDID]
    assert listing.devices[0].connection == "USB"
    assert fake_usbmuxd[0]["MessageType"] == "ListDevices"
    try:
        import pymobiledevice3  # noqa: F401
    except ImportError:
        assert "pymobiledevice3" in listing.devices[0].note  # says why model/iOS are missing
    res = _cli("devices", "--json", "--adb-port", "1")
    data = json.loads(res.output)
    assert [d["udid"] for d in data["ios"]["devices"]] == [UDID]


def test_devices_readable_in_80_columns(phone: Phone) -> None:
    """One block per device: nothing truncated to '…' in an 80-column terminal."""
    from phonenas.cli.main import app

    args = ["devices", "--no-ios", "--adb-port", str(phone.server.port)]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert "…" not in res.output
    for field, value in [
        ("model", "Loopback Phone"),
        ("SoC", "LB-2"),
        ("ABI", "x86_64"),
        ("Android", "14"),
        ("cores", "2: 1x1.80 1x2.80 GHz"),
        ("big mask", "0x2 (1)"),
        ("governor", "schedutil"),
        ("CPU °C", "40.2"),
    ]:
        assert any(line.split() == [*field.split(), *value.split()] for line in lines), (
            field,
            value,
            res.output,
        )
    assert any(re.fullmatch(r"\s*batt °C\s+\d+\.\d\s*", line) for line in lines), res.output
    assert any(line.startswith(f"{phone.adbd.serial} (device)") for line in lines)


def test_lut_collect_names_a_serial_the_adb_server_does_not_have(phone: Phone, capsys) -> None:
    """adb reachable, serial unknown: one line naming the attached devices, before any key or export."""
    from phonenas.cli.main import run

    with pytest.raises(SystemExit) as info:
        run(
            [
                "lut",
                "collect",
                "--device",
                "NOSUCH",
                "--adb-port",
                str(phone.server.port),
                "--space",
                "digits",
            ]
        )
    assert info.value.code == 2
    captured = capsys.readouterr()
    (line,) = [ln for ln in captured.err.splitlines() if ln.startswith("error:")]
    assert line == f"error: no adb device 'NOSUCH' (attached: {phone.adbd.serial})"
    assert "layer keys" not in captured.out
