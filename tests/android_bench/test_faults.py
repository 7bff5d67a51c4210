"""Fault injection through the loopback adbd: dropped links, reboots, hangs, crashes, garbage, ENOSPC.

Each fault must surface as a typed error or be survived by retry/reconnect, and a LUT-style run over
several items/devices must keep every measurement it already made.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from android_bench import (
    CommandTimeout,
    DeviceDisconnected,
    MeasurementProtocol,
    OutputParseError,
    PushCache,
    RunnerCrashed,
    StorageFull,
    measure_artifact,
    read_device_info,
)
from android_bench.testing import Phone
from tests.support.fake_runners import CRASH, GARBAGE, HANG, STEADY, script_runner


def proto(**kw) -> MeasurementProtocol:
    base = dict(
        warmup=0,
        runs=5,
        cooldown_s=0,
        max_temp_c=None,
        backoff_s=0.05,
        max_retries=2,
        run_timeout_s=20,
        recover_timeout_s=15,
    )
    base.update(kw)
    return MeasurementProtocol(**base)


def artifact(tmp: Path, name: str = "block.bin", size: int = 400_000) -> Path:
    p = tmp / name
    p.write_bytes(os.urandom(size))
    return p


def test_connection_dropped_mid_push_is_retried(phone: Phone, tmp_path: Path) -> None:
    runner = script_runner(tmp_path, "r.sh", STEADY)
    art = artifact(tmp_path)
    phone.adbd.faults.drop_push_after_bytes = 150_000
    m = measure_artifact(phone.device, runner, art, proto())
    assert phone.adbd.faults.pushes_dropped == 1
    assert m.retries == 1 and len(m.samples_ms) == 5
    blobs = [p for p in (phone.root / "data/local/tmp/phonenas/blobs").rglob("*") if p.is_file()]
    assert sorted(p.name for p in blobs) == ["block.bin", "r.sh"]  # no half-written leftovers
    assert next(p for p in blobs if p.name == "block.bin").read_bytes() == art.read_bytes()


def test_drop_without_retries_is_typed(phone: Phone, tmp_path: Path) -> None:
    phone.adbd.faults.drop_push_after_bytes = 10_000
    with pytest.raises(DeviceDisconnected) as exc:
        measure_artifact(
            phone.device, script_runner(tmp_path, "r.sh", STEADY), artifact(tmp_path), proto(max_retries=0)
        )
    assert exc.value.device_id == phone.adbd.serial and exc.value.cmd[0] in ("push", "shell")


def test_hung_runner_times_out_and_is_killed(phone: Phone, tmp_path: Path) -> None:
    runner = script_runner(tmp_path, "hang.sh", HANG)
    with pytest.raises(CommandTimeout) as exc:
        measure_artifact(phone.device, runner, artifact(tmp_path), proto(run_timeout_s=1.0, max_retries=1))
    assert exc.value.cmd[-1] == "5" and "hang.sh" in exc.value.cmd[-3]
    time.sleep(0.5)
    alive = phone.device.shell(["pgrep", "-f", "[h]ang.sh"])  # [h]: not the pgrep itself
    assert alive.stdout.strip() == "", "the hung runner is still running on the device"


def test_crashing_runner(phone: Phone, tmp_path: Path) -> None:
    with pytest.raises(RunnerCrashed) as exc:
        measure_artifact(
            phone.device, script_runner(tmp_path, "crash.sh", CRASH), artifact(tmp_path), proto()
        )
    assert exc.value.rc == 139 and "Segmentation fault" in exc.value.stderr


def test_garbage_output(phone: Phone, tmp_path: Path) -> None:
    with pytest.raises(OutputParseError) as exc:
        measure_artifact(
            phone.device, script_runner(tmp_path, "garbage.sh", GARBAGE), artifact(tmp_path), proto()
        )
    assert exc.value.rc == 0 and exc.value.device_id == phone.adbd.serial


def test_full_storage_is_storage_full_and_not_retried(phone: Phone, tmp_path: Path) -> None:
    phone.adbd.faults.storage_quota_bytes = 100_000
    slept: list[float] = []
    with pytest.raises(StorageFull) as exc:
        measure_artifact(
            phone.device,
            script_runner(tmp_path, "r.sh", STEADY),
            artifact(tmp_path),
            proto(backoff_s=5),
            sleep=slept.append,
        )
    assert slept == []  # raised at once: no backoff, no retry
    assert "No space left on device" in exc.value.stderr
    leftovers = [p.name for p in (phone.root / "data/local/tmp").rglob("*") if p.is_file()]
    assert "block.bin" not in leftovers


def test_full_storage_on_a_large_push(phone: Phone, tmp_path: Path) -> None:
    """The device fails the write long before the host has sent everything."""
    phone.adbd.faults.storage_quota_bytes = 200_000
    big = artifact(tmp_path, "big.bin", 6_000_000)
    phone.device.shell(["mkdir", "-p", "/data/local/tmp/q"]).check()
    with pytest.raises(StorageFull):
        phone.device.push(big, "/data/local/tmp/q/big.bin")
    phone.adbd.faults.storage_quota_bytes = None
    phone.device.push(big, "/data/local/tmp/q/big.bin")  # the same link still works once space is freed
    assert (phone.root / "data/local/tmp/q/big.bin").stat().st_size == 6_000_000


def test_reboot_mid_run_keeps_measured_items(phone: Phone, tmp_path: Path) -> None:
    runner = script_runner(tmp_path, "r.sh", STEADY)
    items = [artifact(tmp_path, f"b{i}.bin", 50_000) for i in range(4)]
    info = read_device_info(phone.device)
    cache = PushCache()
    lut: list[tuple[str, str, float]] = []

    def measure(device, item: Path):
        return measure_artifact(device, runner, item, proto(), info=info, cache=cache)

    def store(device, item: Path, m) -> None:
        lut.append((device.id, item.name, m.stats.median_ms))
        if item.name == "b1.bin":
            phone.adbd.reboot(offline_s=1.5)

    for item in items:  # a LUT run on one phone: measure, store, next item
        store(phone.device, item, measure(phone.device, item))
    assert [name for _, name, _ in lut] == ["b0.bin", "b1.bin", "b2.bin", "b3.bin"]
    assert any(line.startswith("reboot") for line in phone.adbd.faults.log)


def test_parallel_devices_and_a_dead_device(two_phones: tuple[Phone, Phone], tmp_path: Path) -> None:
    """Two phones timed in parallel (one thread each, as latency.collect_many does): the one that dies
    raises a typed DeviceDisconnected per item, keeps what it measured before, and the other is unaffected."""
    a, b = two_phones
    runner = script_runner(tmp_path, "r.sh", STEADY)
    items = [artifact(tmp_path, f"b{i}.bin", 20_000) for i in range(5)]
    lut: dict[tuple[str, str], float] = {}
    disconnected: dict[str, list[str]] = {}

    def work(phone: Phone) -> None:
        for item in items:
            if phone is b and item.name == "b1.bin":
                b.adbd.stop()  # phone b dies for good
            try:
                m = measure_artifact(phone.device, runner, item, proto(max_retries=1, recover_timeout_s=1.0))
            except DeviceDisconnected:
                disconnected.setdefault(phone.device.id, []).append(item.name)
                continue
            lut[(phone.device.id, item.name)] = m.stats.median_ms

    threads = [threading.Thread(target=work, args=(p,)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {k for k in lut if k[0] == a.device.id} == {(a.device.id, f"b{i}.bin") for i in range(5)}
    assert (b.device.id, "b0.bin") in lut  # measured before it died: kept
    assert disconnected == {b.device.id: ["b1.bin", "b2.bin", "b3.bin", "b4.bin"]}


def test_hot_phone_waits_for_the_temperature_gate(phone: Phone, tmp_path: Path) -> None:
    phone.set_cpu_temp_c(61.0)
    naps: list[float] = []

    def nap(seconds: float) -> None:  # the gate's poll: the phone cools during its first wait
        naps.append(seconds)
        time.sleep(seconds)
        phone.set_cpu_temp_c(39.0)

    m = measure_artifact(
        phone.device,
        script_runner(tmp_path, "r.sh", STEADY),
        artifact(tmp_path),
        proto(max_temp_c=45.0, temp_poll_s=0.2, temp_timeout_s=20.0),
        sleep=nap,
    )
    assert naps and naps[0] == pytest.approx(0.2)  # it waited while the phone was hot
    assert m.temp_before_c == pytest.approx(39.0)
    assert m.temp_gate_wait_s >= 0.2 and not m.temp_gate_timed_out


def test_temperature_gate_timeout_is_recorded(phone: Phone, tmp_path: Path) -> None:
    phone.set_cpu_temp_c(70.0)
    m = measure_artifact(
        phone.device,
        script_runner(tmp_path, "r.sh", STEADY),
        artifact(tmp_path),
        proto(max_temp_c=45.0, temp_poll_s=0.2, temp_timeout_s=0.5),
    )
    assert m.temp_gate_timed_out and m.temp_before_c == pytest.approx(70.0)
    assert "temperature gate timed out" in m.notes


def test_strict_temperature_gate_raises(phone: Phone, tmp_path: Path) -> None:
    from android_bench import ThermalTimeout

    phone.set_cpu_temp_c(70.0)
    with pytest.raises(ThermalTimeout, match="70.0 C"):
        measure_artifact(
            phone.device,
            script_runner(tmp_path, "r.sh", STEADY),
            artifact(tmp_path),
            proto(
                max_temp_c=45.0, temp_poll_s=0.1, temp_timeout_s=0.3, strict_temperature=True, max_retries=1
            ),
        )
