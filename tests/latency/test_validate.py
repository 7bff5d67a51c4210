import math

import pytest

from latency.validate import accuracy_metrics, sample_validation_archs


def test_nn_meter_metrics_on_known_values():
    measured = [1.0, 2.0, 4.0, 10.0]
    predicted = [1.04, 2.18, 4.0, 8.4]  # +4%, +9%, 0%, -16%
    m = accuracy_metrics(predicted, measured)
    assert m.n == 4
    assert m.within_5_pct == 50.0 and m.within_10_pct == 75.0 and m.within_15_pct == 75.0
    assert m.rmse_ms == pytest.approx(math.sqrt((0.04**2 + 0.18**2 + 0 + 1.6**2) / 4))
    assert m.rmspe_pct == pytest.approx(100 * math.sqrt((0.04**2 + 0.09**2 + 0 + 0.16**2) / 4))
    with pytest.raises(ValueError):
        accuracy_metrics([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        accuracy_metrics([1.0], [0.0])


def test_validation_archs_are_distinct_and_disjoint_from_calibration():
    val, cal = sample_validation_archs("digits", 6, 4, 0, zoo=True, zoo_hw=64)
    rand = [a for n, a in val if n.startswith("rand")]
    assert len(rand) == 6 and len(cal) == 4
    assert not {a for _, a in cal} & set(rand)
    assert any(n == "mobilenetv3_small" for n, _ in val)
    assert all(a.input_hw == 64 for n, a in val if not n.startswith("rand"))


def test_zoo_is_scored_inside_the_calibration_range_with_zoo_span():
    from latency.lut import arch_mparams as _mparams
    from search.zoo import ZOO

    val, cal = sample_validation_archs("digits", 6, 4, 0, zoo=True, zoo_hw=64, zoo_span=6)
    val0, cal0 = sample_validation_archs("digits", 6, 4, 0, zoo=True, zoo_hw=64)
    assert val == val0 and cal[:4] == cal0  # the span models come on top: nothing else changes
    span = [a for n, a in cal if n.startswith("span")]
    assert len(span) == 6 and len(set(span)) == 6
    assert all(a.input_hw == 64 and a.num_classes == 10 for a in span)
    zoo = [a for n, a in val if n in ZOO]
    assert len(zoo) == len(ZOO) and not set(span) & set(zoo)
    # digits children alone stop at 0.2 M weights, the zoo is 1.5-6.6 M: the span brackets it
    assert max(_mparams(a) for _, a in cal0) < 0.2 < min(_mparams(a) for a in zoo)
    assert min(map(_mparams, span)) <= min(map(_mparams, zoo)) and max(map(_mparams, span)) >= max(
        map(_mparams, zoo)
    )
    assert sample_validation_archs("digits", 6, 4, 0, zoo=False, zoo_hw=64, zoo_span=6)[1] == cal0


def test_calibration_children_span_the_space_sizes_not_its_middle():
    import torch

    from latency.lut import arch_mparams as _mparams
    from latency.validate import calibration_children, spread_by_weights
    from search.space import get_space

    space = get_space("fbnetv2-f")
    pool = [space.sample_arch(torch.Generator().manual_seed(s)) for s in range(200)]
    sizes = sorted(_mparams(a) for a in pool)
    spread = spread_by_weights(pool, 5)
    got = [_mparams(a) for a in spread]
    assert got == sorted(got) and got[0] == sizes[0] and got[-1] == sizes[-1]  # both ends, lightest first
    assert spread_by_weights(pool[:3], 5) == sorted(pool[:3], key=_mparams)
    assert spread_by_weights(pool, 0) == []

    g = torch.Generator().manual_seed(0)
    plain = [_mparams(space.sample_arch(g)) for _ in range(8)]
    exclude = [space.sample_arch(torch.Generator().manual_seed(1))]
    cal = calibration_children(space, 8, torch.Generator().manual_seed(0), exclude)
    assert len(set(cal)) == 8 and not set(cal) & set(exclude)
    spread_range = max(map(_mparams, cal)) - min(map(_mparams, cal))
    assert spread_range > 1.5 * (max(plain) - min(plain))  # 8 uniform draws cluster in the middle


def test_edge_children_reach_past_the_models_in_compute_and_below_them_in_blocks():
    import torch

    from latency.lut import arch_mparams as _mparams
    from latency.validate import _n_blocks, edge_children
    from search.arch import profile_arch
    from search.space import get_space

    space = get_space("digits")
    g = torch.Generator().manual_seed(3)
    models = [space.sample_arch(g).with_input_hw(hw) for hw in (24, 32, 32)]
    exclude = [space.sample_arch(g)]
    got = edge_children(space, torch.Generator().manual_seed(0), models, exclude, heavy=2, short=2)
    assert got == edge_children(space, torch.Generator().manual_seed(0), models, exclude, heavy=2, short=2)
    kinds = [k for k, _ in got]
    assert kinds == ["heavy", "heavy", "short", "short"]
    archs = [a for _, a in got]
    assert len(set(archs)) == 4 and not set(archs) & (set(models) | set(exclude))
    top = max(profile_arch(a).macs for a in models)
    weights = [_mparams(a) for a in models]
    for a in archs[:2]:
        assert a.input_hw > 32 and profile_arch(a).macs >= 2 * top
        assert min(weights) <= _mparams(a) <= max(weights)

    fewest = min(_n_blocks(a) for a in models)
    for a, hw in zip(archs[2:], (24, 32), strict=True):
        assert a.input_hw == hw
        # each stage's first block stays; the rest are dropped as identities down to fewest - 2
        assert _n_blocks(a) <= max(len(space.stages), fewest - 2)
        assert len(profile_arch(a).blocks) == len(profile_arch(models[0]).blocks)
    assert edge_children(space, g, [], heavy=2, short=2) == []
    assert edge_children(space, g, models, heavy=0, short=0) == []


def test_sample_validation_archs_edges_add_heavy_and_short_calibration_children_only():
    from latency.validate import _n_blocks
    from search.arch import profile_arch

    val0, cal0 = sample_validation_archs("fbnetv2-f", 6, 4, 0, zoo=False, zoo_hw=64)
    val, cal = sample_validation_archs("fbnetv2-f", 6, 4, 0, zoo=False, zoo_hw=64, edges=2)
    assert val == val0 and cal[: len(cal0)] == cal0  # the scored set and the spread stay
    extra = cal[len(cal0) :]
    assert [n.split("@")[0] for n, _ in extra] == ["heavy0", "heavy1", "short2", "short3"]
    models = [a for _, a in val]
    heaviest = max(profile_arch(a).macs for a in models)
    fewest = min(_n_blocks(a) for a in models)
    for name, a in extra:
        assert name.endswith(f"@{a.input_hw}") and a not in models
        if name.startswith("heavy"):
            assert profile_arch(a).macs >= 2 * heaviest
        else:
            assert _n_blocks(a) < fewest
