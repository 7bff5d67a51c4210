"""`phonenas zoo` and `phonenas arch` through the real root app."""

import json

import pytest
from typer.testing import CliRunner

from phonenas.cli.main import app, run
from search.arch import arch_to_json, decode_arch, encode_arch, profile_arch
from search.zoo import ZOO
from tests.support.cli import cli_error

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def _ok(args):
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_zoo_list_shows_every_model():
    out = _ok(["zoo", "list"])
    for name in ZOO:
        assert name in out
    assert (
        "56.23M" in out and "56.41M" in out and "-0.32" in out
    )  # fbnetv2_f1 (exact proj skips) ours / published / delta


def test_zoo_list_json():
    rows = json.loads(_ok(["zoo", "list", "--json"]))
    assert [r["name"] for r in rows] == list(ZOO)
    for r in rows:
        assert abs(r["delta_pct"]) < 3
        assert r["macs"] == profile_arch(ZOO[r["name"]]).macs
        assert decode_arch(r["arch"]) == ZOO[r["name"]]


def test_zoo_show_table_and_json():
    out = _ok(["zoo", "show", "mobilenetv3_small"])
    assert "3x224x224" in out and "16x112x112" in out and "56,510,400" in out and "2,542,856" in out
    assert encode_arch(ZOO["mobilenetv3_small"]) in out.replace("\n", "")
    payload = json.loads(
        _ok(["zoo", "show", "fbnetv2_f1", "--input-hw", "96", "--num-classes", "10", "--json"])
    )
    arch = ZOO["fbnetv2_f1"].with_input_hw(96).with_num_classes(10)
    profile = profile_arch(arch)
    assert payload["macs"] == profile.macs and payload["params"] == profile.params
    assert len(payload["layers"]) == len(profile.layers)
    assert payload["layers"][0]["in_shape"] == [3, 96, 96]
    assert payload["layers"][-1]["out_shape"] == [10]


def test_arch_validate_string_file_and_json(tmp_path):
    text = encode_arch(ZOO["fbnetv2_f4"])
    out = _ok(["arch", "validate", text])
    assert out.startswith("ok: 5 stages, 19 blocks, input 3x224x224") and "237.61M MACs" in out
    path = tmp_path / "a.json"
    path.write_text(arch_to_json(ZOO["mobilenetv3_large"]))
    assert "216.59M MACs" in _ok(["arch", "validate", str(path)])
    d = json.loads(_ok(["arch", "validate", "mobilenetv3_large", "--json"]))
    assert d["schema_version"] == 1 and d["macs"] == 216_589_760


def test_arch_show():
    payload = json.loads(_ok(["arch", "show", "fbnetv2_l2", "--json"]))
    assert payload["macs"] == profile_arch(ZOO["fbnetv2_l2"]).macs
    assert "s4.b5" in _ok(["arch", "show", "fbnetv2_l2"])


def test_invalid_arch_fails_through_the_app(capsys):
    line = cli_error(["arch", "validate", "r224:stem_k3_c16_s2_hs:ir_k3_c16_s3:head_hs:n10"], capsys)
    assert "block s0.b0 'ir_k3_c16_s3': stride must be one of (1, 2), got 3" in line


def _run_error(args, capsys) -> list[str]:
    return [cli_error(args, capsys)]


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        ("r224:stem_k3_c16_s2_hs:ir_k3_c16,ir_k3_c24_s3:head_hs:n10", "block s0.b1 'ir_k3_c24_s3': stride"),
        ("r224:stem_k3_c16_s2_hs:ir_k3_c16,skip_c24:head_hs:n10", "block s0.b1: a skip block"),
        (
            "r224:stem_k3_c16_s2_hs:ir_k3_c16,pool_k3:head_hs:n10",
            "block s0.b1: block 'pool_k3': unknown block type",
        ),
        ("resnet50", "'resnet50' is not a zoo model"),
    ],
)
def test_invalid_arch_is_one_error_line(arch, expected, capsys):
    lines = _run_error(["arch", "validate", arch], capsys)
    assert len(lines) == 1
    assert expected in lines[0]


def test_truncated_json_file_is_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.json").write_text(arch_to_json(ZOO["fbnetv2_f1"])[:40])
    lines = _run_error(["arch", "validate", "a.json"], capsys)
    assert len(lines) == 1 and "a.json: arch JSON is not valid JSON" in lines[0]


def test_long_error_stays_on_one_line(tmp_path, capsys):
    path = tmp_path / ("x" * 80) / "arch.json"
    path.parent.mkdir()
    path.write_text("{")
    with pytest.raises(SystemExit):
        run(["arch", "validate", str(path)])
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 2  # the error line and the --debug hint


@pytest.mark.parametrize(
    "args",
    [
        ["zoo", "--help"],
        ["zoo", "list", "--help"],
        ["zoo", "show", "--help"],
        ["arch", "--help"],
        ["arch", "validate", "--help"],
        ["arch", "show", "--help"],
    ],
)
def test_help_has_an_example(args):
    assert "Example" in _ok(args)
