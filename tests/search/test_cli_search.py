"""`phonenas search ...` through the real root app (typer CliRunner)."""

import json

import pytest
from typer.testing import CliRunner

from latency.keys import Context, keys_from_layers
from latency.stats import summarize
from latency.store import LUTStore, Provenance, make_row
from phonenas.cli.main import app
from search.arch import arch_from_json
from search.space import get_space
from tests.support.cli import cli_error

runner = CliRunner()


def _fake_store(path, devices: dict[str, float]) -> None:
    """A LUT whose entries are MACs-proportional times a per-device speed factor (test data, not timings)."""
    store = LUTStore(path)
    rows = []
    for dev, factor in devices.items():
        ctx = Context(dev, "executorch", "1.5.1", "fp32", 1, "")
        for key in keys_from_layers(get_space("digits").candidate_layers()):
            ms = factor * (0.01 + key.to_layer().macs / 1e6)
            samples = [ms, ms * 1.01, ms * 0.99]
            rows.append(make_row(ctx, key, summarize(samples), samples, Provenance(device_model="fake")))
    store.append(rows)


def test_space_json_counts():
    res = runner.invoke(app, ["search", "space", "--space", "digits", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["num_candidate_layers"] == len(list(get_space("digits").candidate_layers()))
    assert summary["num_archs"] == get_space("digits").num_archs


def test_errors_are_one_line(tmp_path, capsys):
    line = cli_error(["search", "run", "--lut", str(tmp_path / "none"), "--target-ms", "1"], capsys)
    assert f"LUT store '{tmp_path / 'none'}' not found" in line and "phonenas lut collect" in line
    line = cli_error(["search", "space", "--space", "nope"], capsys)
    assert "unknown search space 'nope'" in line and "digits" in line
    line = cli_error(["search", "run", "--target-mmac", "1", "--tolerance", "5"], capsys)
    assert "--tolerance must be between 0 and 1" in line and "got 5" in line


def _digit_folder(path, per_class: int = 12):
    """A small ImageFolder of real digits (8x8 PNGs): the user-data path, and fast."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    counts: dict[int, int] = {}
    for img, label in zip(d.images, d.target, strict=True):
        n = counts.get(int(label), 0)
        if n >= per_class:
            continue
        counts[int(label)] = n + 1
        folder = path / f"digit{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 15).astype("uint8"), "L").save(folder / f"{n}.png")
    return path


@pytest.mark.slow
def test_device_all_writes_one_arch_per_device(tmp_path):
    _fake_store(tmp_path / "lut", {"phoneA": 1.0, "phoneB": 3.0})
    data = _digit_folder(tmp_path / "digits")
    out = tmp_path / "out"
    args = [
        "search",
        "run",
        "--lut",
        str(tmp_path / "lut"),
        "--device",
        "all",
        "--runtime",
        "executorch",
        "--target-ms",
        "1.2",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--data",
        str(data),
        "--out",
        str(out),
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    for dev in ("phoneA", "phoneB"):
        arch = arch_from_json((out / dev / "arch.json").read_text())
        meta = json.loads((out / dev / "search.json").read_text())
        assert meta["context"]["device_id"] == dev
        # the picked arch meets the target: the argmax, the most likely sample within the 2% tolerance, or
        # a child single-choice moves reach from one of them
        assert meta["rule"] in ("argmax", "most-likely-within-tolerance", "refined-to-target"), meta["rule"]
        assert abs(meta["cost"] / 1.2 - 1) <= 0.02, meta["cost"]
        assert arch.num_classes == 10
    # the slower phone cannot afford the same model as the faster one at the same target
    a = json.loads((out / "phoneA" / "search.json").read_text())["arch"]
    b = json.loads((out / "phoneB" / "search.json").read_text())["arch"]
    assert a != b
    # re-running resumes from the finished checkpoints and reproduces the result
    res = runner.invoke(app, args)
    assert res.exit_code == 0
    assert json.loads((out / "phoneA" / "search.json").read_text())["arch"] == a


def test_unknown_device_names_stored_contexts(tmp_path, capsys):
    _fake_store(tmp_path / "lut", {"phoneA": 1.0})
    line = cli_error(
        ["search", "run", "--lut", str(tmp_path / "lut"), "--device", "phoneZ", "--target-ms", "1"], capsys
    )
    assert "phoneZ" in line and "phoneA" in line


@pytest.mark.parametrize("name", ["fbnetv2_f1", "fbnetv2_f2", "fbnetv2_f3", "fbnetv2_f4"])
def test_fbnetv2_f_models_are_members_of_the_fbnetv2_f_space(name):
    from search.zoo import ZOO

    space = get_space("fbnetv2-f")
    arch = ZOO[name]
    choices, why = space.match(arch)
    assert choices is not None, why
    assert space.contains(arch) and space.arch_from_choices(choices).input_hw == arch.input_hw
    res = runner.invoke(app, ["search", "space", "--space", "fbnetv2-f", "--contains", name])
    assert res.exit_code == 0 and "is a member" in res.output, res.output


def test_space_contains_says_why_not():
    res = runner.invoke(app, ["search", "space", "--space", "fbnetv2-f", "--contains", "mobilenetv3_large"])
    assert res.exit_code == 1 and "NOT a member" in res.output and "hidden width" in res.output
    res = runner.invoke(
        app, ["search", "space", "--space", "fbnetv2-f", "--contains", "fbnetv2_l1", "--json"]
    )
    assert res.exit_code == 1 and json.loads(res.output)["member"] is False
    res = runner.invoke(app, ["search", "space", "--space", "fbnetv2-f"], terminal_width=200)
    assert res.exit_code == 0 and "block" in res.output and "(`proj`)" in res.output
