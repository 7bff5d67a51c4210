"""AdbDevice end to end: adbutils -> real adb server -> loopback adbd (wire protocol) -> this host."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from android_bench import (
    AdbDevice,
    CommandTimeout,
    DeviceNotFound,
    MeasurementProtocol,
    PushCache,
    PythonRuntimeRunner,
    discover_devices,
    list_adb_devices,
    list_devices,
    measure_artifact,
    read_device_info,
)
from android_bench.testing import AdbServer, Phone, adb_binaries, find_adb, start_phone, stop_phone


def test_shell_v2_exit_codes_and_streams(phone: Phone) -> None:
    r = phone.device.shell(["sh", "-c", "echo out; echo err >&2; exit 42"], timeout_s=10)
    assert (r.rc, r.stdout, r.stderr) == (42, "out\n", "err\n")
    tricky = ["printf", "%s|", "a b", "it's", '"q"', "$HOME", "; rm -rf /"]
    assert phone.device.shell(tricky).stdout == 'a b|it\'s|"q"|$HOME|; rm -rf /|'
    assert phone.device.shell(["/no/such/binary"]).rc == 127


def test_big_output_is_streamed_completely(phone: Phone) -> None:
    r = phone.device.shell(["sh", "-c", "yes 0123456789abcdef | head -c 3000000"], timeout_s=30)
    assert r.rc == 0 and len(r.stdout) == 3_000_000


def test_timeout_raises_and_kills_on_device(phone: Phone) -> None:
    marker = "/data/local/tmp/hang-survived"
    with pytest.raises(CommandTimeout) as exc:
        phone.device.shell(["sh", "-c", f"sleep 3; touch {marker}"], timeout_s=0.5)
    assert exc.value.device_id == phone.adbd.serial
    import time

    time.sleep(3.3)
    assert phone.device.shell(["ls", marker]).rc != 0  # the hung command was killed with its stream
    assert phone.device.shell(["echo", "still usable"]).stdout == "still usable\n"


def test_push_pull_roundtrip(phone: Phone, tmp_path: Path) -> None:
    payload = os.urandom(1_500_000)
    src = tmp_path / "blob.bin"
    src.write_bytes(payload)
    phone.device.shell(["mkdir", "-p", "/data/local/tmp/x"]).check()
    phone.device.push(src, "/data/local/tmp/x/blob.bin")
    assert (phone.root / "data/local/tmp/x/blob.bin").read_bytes() == payload
    remote_sha = phone.device.shell(["sha256sum", "/data/local/tmp/x/blob.bin"]).stdout.split()[0]
    assert remote_sha == hashlib.sha256(payload).hexdigest()
    back = tmp_path / "back.bin"
    phone.device.pull("/data/local/tmp/x/blob.bin", back)
    assert back.read_bytes() == payload


def test_device_info_over_adb(phone: Phone) -> None:
    info = read_device_info(phone.device)
    assert info.device_id == phone.adbd.serial
    assert info.model == "Loopback Phone" and info.soc == "LB-2" and info.os_version == "14"
    assert info.num_cores == 2 and info.max_freq_khz == (1_800_000, 2_800_000)
    assert info.big_core_mask == 0b10 and info.governor == "schedutil"
    assert info.cpu_temp_c == pytest.approx(40.25)
    assert info.battery_temp_c == pytest.approx(29.1)


def test_discovery(phone: Phone) -> None:
    port = phone.server.port
    assert phone.adbd.serial in [d.id for d in discover_devices(port=port)]
    assert any(e.serial == phone.adbd.serial and e.state == "device" for e in list_adb_devices(port=port))
    listing = list_devices(port=port, include_ios=False)
    (entry,) = [a for a in listing.android if a.serial == phone.adbd.serial]
    assert entry.info is not None and entry.info.model == "Loopback Phone"


def test_no_server_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DeviceNotFound, match="adb server"):
        list_adb_devices(port=port)


def test_unknown_serial_is_disconnected(phone: Phone) -> None:
    from android_bench import DeviceDisconnected

    ghost = AdbDevice("127.0.0.1:1", port=phone.server.port)
    with pytest.raises(DeviceDisconnected):
        ghost.shell(["true"])


@pytest.mark.slow
def test_block_timed_through_host_runtime_over_adb(phone: Phone, tmp_path: Path) -> None:
    """A real ExecuTorch (XNNPACK) block, pushed over adb sync and timed by the python runner."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    block = torch.nn.Sequential(
        torch.nn.Conv2d(16, 32, 1), torch.nn.Hardswish(), torch.nn.Conv2d(32, 32, 3, padding=1, groups=32)
    ).eval()
    ep = torch.export.export(block, (torch.randn(1, 16, 28, 28),))
    pte = tmp_path / "ir_block.pte"
    pte.write_bytes(
        to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()]).to_executorch().buffer
    )

    protocol = MeasurementProtocol(warmup=3, runs=15, cooldown_s=0, max_temp_c=60.0, cv_threshold=0.5)
    cache = PushCache()
    m = measure_artifact(phone.device, PythonRuntimeRunner(), pte, protocol, cache=cache)
    assert m.device_id == phone.adbd.serial
    assert m.runtime == "executorch" and m.runtime_version
    assert m.sample_kind == "per_run" and len(m.samples_ms) == 15 and min(m.samples_ms) > 0
    assert m.core_mask == 0b10 and m.governor == "schedutil"
    assert m.temp_before_c == pytest.approx(40.25)
    blobs = list((phone.root / "data/local/tmp/phonenas/blobs").rglob("ir_block.pte"))
    assert len(blobs) == 1 and blobs[0].read_bytes() == pte.read_bytes()
    # a fresh cache (new run) finds the file on the device by hash and size instead of pushing again
    mtime = blobs[0].stat().st_mtime_ns
    remote = PushCache().ensure(phone.device, pte, m.artifact_sha256, timeout_s=60, executable=False)
    assert remote.endswith("/ir_block.pte") and blobs[0].stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_onnx_block_over_adb(phone: Phone, tmp_path: Path) -> None:
    import torch

    model = torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU()).eval()
    path = tmp_path / "block.onnx"
    torch.onnx.export(model, (torch.randn(1, 8, 16, 16),), str(path), dynamo=False)
    protocol = MeasurementProtocol(warmup=2, runs=10, cooldown_s=0, max_temp_c=None, cv_threshold=1.0)
    m = measure_artifact(phone.device, PythonRuntimeRunner(), path, protocol)
    assert m.runtime == "onnxruntime" and len(m.samples_ms) == 10


def test_open_device_and_env_address(phone: Phone, monkeypatch: pytest.MonkeyPatch) -> None:
    from android_bench import HostDevice, open_device

    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(phone.server.port))
    dev = open_device(phone.adbd.serial)  # server address from the environment, like adb
    assert isinstance(dev, AdbDevice) and dev.shell(["echo", "ok"]).stdout == "ok\n"
    assert isinstance(open_device("host"), HostDevice)
    with pytest.raises(DeviceNotFound, match="attached: 127.0.0.1:"):
        open_device("R58M12ABCDE")


@pytest.mark.parametrize("which", ["bundled", "path"])
def test_each_adb_binary_drives_the_phone(which: str, tmp_path: Path) -> None:
    """The adbutils wheel's adb always (it is what users get, and the fixtures' default), and any other
    adb on PATH (Debian's) too: both must speak to the loopback adbd and carry shell, sync and discovery."""
    binaries = adb_binaries()
    if which == "path" and which not in binaries:
        pytest.skip("no adb on PATH besides the bundled one")
    assert which in binaries, f"the adbutils wheel ships no adb binary: {binaries}"
    assert find_adb() == binaries["bundled"]
    server = AdbServer(binaries[which], tmp_path / "adb-home")
    server.start()
    try:
        props = {"ro.product.model": f"Loopback {which}"}
        phone = start_phone(server, tmp_path / "phone", props, [1_800_000, 2_800_000], {"cpu-0": 40_000})
        try:
            r = phone.device.shell(["sh", "-c", "echo out; exit 3"], timeout_s=10)
            assert (r.rc, r.stdout) == (3, "out\n")
            src = tmp_path / "blob.bin"
            src.write_bytes(os.urandom(200_000))
            phone.device.push(src, "/data/local/tmp/blob.bin")
            phone.device.pull("/data/local/tmp/blob.bin", tmp_path / "back.bin")
            assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
            assert phone.adbd.serial in [d.id for d in discover_devices(port=server.port)]
        finally:
            stop_phone(phone)
    finally:
        server.stop()
