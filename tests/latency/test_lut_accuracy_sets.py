"""The real-scale validation set of benchmarks/lut_accuracy.py is what the issue lists (no timing)."""

from __future__ import annotations

from benchmarks.lut_accuracy import REAL_RES, real_set
from benchmarks.mobile_archs import TABLES, mobile_arch
from search.arch import profile_arch
from search.space import get_space
from search.zoo import ZOO


def test_real_set_composition_and_calibration_never_scored():
    val, cal = real_set(20, 8, seed=0)
    names = [n for n, _ in val]
    rand = [a for n, a in val if n.startswith("rand")]
    assert len(rand) == 20 and {a.input_hw for a in rand} == set(REAL_RES)
    assert {"fbnetv2_f1", "fbnetv2_f2", "fbnetv2_f3", "fbnetv2_f4"} <= set(names)
    assert {a.input_hw for n, a in val if n.startswith("mobilenetv3")} == {224}
    others = [a for n, a in val if n.split("@")[0] in TABLES]
    assert len(others) == 5 and all(96 <= a.input_hw <= 224 for a in others)
    assert not {a for _, a in cal} & {a for _, a in val} and len(cal) == 8
    zoo = set(ZOO.values())
    space = get_space("fbnetv2-f")
    for a in others:  # neither zoo nor (at this resolution) a space member
        assert a not in zoo and a.stem.out_ch not in space.stem.widths


def test_mobile_archs_match_their_published_compute():
    macs = {n: sum(la.macs for la in profile_arch(mobile_arch(n)).layers) / 1e6 for n in TABLES}
    published = {
        "mobilenet_v2": 300,
        "mnasnet_a1": 312,
        "mnasnet_b1": 315,
        "efficientnet_b0_hs": 390,
        "proxylessnas_mobile": 320,
    }
    for n, m in published.items():
        assert abs(macs[n] / m - 1) < 0.05, (n, macs[n])
