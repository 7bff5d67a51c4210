"""Device metadata parsing (recorded reports) and big-core detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from android_bench import parse_device_report
from android_bench.info import big_cores_from_freqs, mask_from_cores

DATA = Path(__file__).parent / "data"


def test_pixel7_report() -> None:
    info = parse_device_report("28011FDH2000A1", (DATA / "device_report_pixel7.txt").read_text())
    assert info.model == "Pixel 7"
    assert info.manufacturer == "Google"
    assert info.soc == "GS201"
    assert info.hardware == "panther"
    assert info.abi == "arm64-v8a"
    assert info.os_version == "14" and info.sdk == "34"
    assert info.num_cores == 8
    assert info.max_freq_khz == (1803000,) * 4 + (2348000,) * 2 + (2850000,) * 2
    assert info.big_cores == (4, 5, 6, 7)
    assert info.big_core_mask == 0xF0
    assert info.governor == "sched_pixel"
    assert info.cpu_temp_c == pytest.approx(41.25)  # hottest of BIG/LITTLE, not the GPU/TPU/skin
    assert info.battery_temp_c == pytest.approx(30.1)
    assert info.temperature_c == pytest.approx(41.25)
    d = info.to_dict()
    assert d["big_core_mask"] == 0xF0 and d["model"] == "Pixel 7"


def test_partial_report_has_no_mask() -> None:
    info = parse_device_report("emulator-5554", (DATA / "device_report_partial.txt").read_text())
    assert info.num_cores == 4
    assert info.max_freq_khz == (None,) * 4
    assert info.big_core_mask is None
    assert info.temperature_c is None
    assert info.abi == "armeabi-v7a" and info.os_version == "8.1.0"


@pytest.mark.parametrize(
    "freqs,big",
    [
        ([1800, 1800, 1800, 1800, 2400, 2400, 2400, 3000], (4, 5, 6, 7)),  # 4+3+1
        ([2000, 2000, 2000, 2000], (0, 1, 2, 3)),  # homogeneous: all cores
        ([2400, 1800, None, 2400], (0, 3)),  # offline core (unknown freq) ignored
        ([None, None], ()),
    ],
)
def test_big_cores(freqs: list[int | None], big: tuple[int, ...]) -> None:
    assert big_cores_from_freqs(freqs) == big


def test_mask_from_cores() -> None:
    assert mask_from_cores([4, 5, 6, 7]) == 0xF0
    assert format(mask_from_cores([1]), "x") == "2"
