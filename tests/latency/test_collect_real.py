"""Real exports and timings on the host (slow): ExecuTorch and LiteRT, fp32 and int8, two blocks each."""

import math

import pytest
from typer.testing import CliRunner

from latency.collect import collect
from latency.export import ArtifactCache
from latency.keys import BlockKey
from latency.lut import LUT
from latency.meters import HostMeter, RuntimeUnavailable, check_runtime_on_host
from latency.store import LUTStore
from latency.timer import TimingProtocol
from tests.support.cli import cli_error

KEYS = [BlockKey("ir", 3, 16, 48, 24, 8, 2, False, "relu"), BlockKey("ir", 5, 24, 72, 24, 4, 1, True, "hs")]
FAST = TimingProtocol(warmup=3, min_runs=10, max_runs=20, max_time_s=0.2)


@pytest.mark.slow
@pytest.mark.parametrize(
    "runtime,dtype", [("executorch", "fp32"), ("executorch", "int8"), ("litert", "fp32"), ("litert", "int8")]
)
def test_tiny_real_collection(tmp_path, runtime, dtype):
    store = LUTStore(tmp_path / "lut")
    cache = ArtifactCache(tmp_path / "art")
    rep = collect(store, KEYS, runtime, dtype, HostMeter(protocol=FAST), cache)
    assert rep.measured == 2, rep.failed
    df = store.frame()
    layers = df[df["entry"] == "layer"]
    assert len(layers) == 2 and (df["entry"] == "overhead").sum() == 1
    row = layers.iloc[0]
    assert row["runtime"] == runtime and row["dtype"] == dtype and row["device_id"] == "host"
    assert row["n"] == len(row["samples_ms"]) >= 10
    assert all(math.isfinite(x) and x > 0 for x in row["samples_ms"])
    assert row["p10_ms"] <= row["median_ms"] <= row["p90_ms"]
    assert "torch" in row["toolchain"] and row["device_model"] and row["os"]
    # resume: nothing re-exported or re-measured
    rep2 = collect(store, KEYS, runtime, dtype, HostMeter(protocol=FAST), cache)
    assert rep2.measured == 0 and rep2.skipped == 2 and rep2.exports == 0
    lut = LUT.from_store(store, rep.context)
    assert len(lut) == 2 and lut.call_overhead_ms and lut.call_overhead_ms > 0


def test_coreml_timing_off_macos_is_a_clear_skip():
    import platform

    if platform.system() == "Darwin":
        pytest.skip("on macOS Core ML timing is available")
    with pytest.raises(RuntimeUnavailable, match="needs macOS"):
        check_runtime_on_host("coreml")


@pytest.mark.slow
def test_cli_collect_show_predict(tmp_path, capsys):
    from phonenas.cli.main import app

    runner = CliRunner()
    arch = "r16:stem_k3_c8_s2_hs:ir_k3_e3_c16_s2:head_c32_hs:n10"
    store = str(tmp_path / "lut")
    res = runner.invoke(
        app,
        [
            "lut",
            "collect",
            "--arch",
            arch,
            "--runtime",
            "executorch",
            "--dtype",
            "fp32",
            "--store",
            store,
            "--runs",
            "10",
            "--export-workers",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "measured 3" in res.output
    res = runner.invoke(app, ["lut", "show", "--store", store])
    assert res.exit_code == 0 and "host executorch" in res.output, res.output
    res = runner.invoke(app, ["lut", "predict", arch, "--store", store, "--json"])
    assert res.exit_code == 0, res.output
    assert '"latency_ms"' in res.output and "measured call overhead" in res.output
    line = cli_error(["lut", "predict", arch.replace("c16", "c24"), "--store", store], capsys)
    assert "missing from the LUT for" in line and "phonenas lut collect" in line
