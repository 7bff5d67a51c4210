"""The Mac host path for Core ML (coremltools prediction timed by latency.meters.HostMeter), tested
without fakes on everything that does not need Apple's runtime.

On macOS ``phonenas lut collect --device host --runtime coreml`` loads each exported ``.mlpackage`` with
``deploy.targets.coreml.CoreMLRunner`` and times ``MLModel.predict``. That prediction call exists only
on macOS and has never been run for this project (docs/ios.md). What is checked here on Linux: the
runner reads the real exported package (input name, batch, shape, output, versions), rejects wrong
inputs before calling Core ML, never produces a number off macOS, and the host meter refuses Core ML
with a one-line message naming the fix.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

from deploy import DeployError, Dtype, TargetUnavailable, get_target
from latency.export import deploy_dtype, lut_target
from latency.meters import HostMeter, RuntimeUnavailable, check_runtime_on_host

off_mac = pytest.mark.skipif(platform.system() == "Darwin", reason="checks the refusal off macOS")


def test_latency_maps_coreml_to_the_deploy_target() -> None:
    assert lut_target("coreml").name == "coreml" and lut_target("coreml").suffix == ".mlpackage"
    assert deploy_dtype("coreml", Dtype.INT8) == "int8w"  # int8 weights, fp16 compute
    assert deploy_dtype("coreml", Dtype.FP16) == "fp16"
    assert get_target("coreml").runtime_version().startswith("coremltools ")


@off_mac
def test_host_meter_refuses_coreml_off_macos(tmp_path: Path) -> None:
    check_runtime_on_host("executorch")  # the others are fine anywhere
    with pytest.raises(RuntimeUnavailable, match="timing needs macOS") as exc:
        check_runtime_on_host("coreml")
    assert "\n" not in str(exc.value) and "run `phonenas lut collect --runtime coreml` on macOS" in str(
        exc.value
    )
    meter = HostMeter(rounds=1)
    with pytest.raises(RuntimeUnavailable):
        meter.context("coreml", Dtype.FP16, tmp_path / "probe.mlpackage")
    with pytest.raises(RuntimeUnavailable):  # refused before anything is loaded: the file need not exist
        meter.measure(tmp_path / "missing.mlpackage", (1, 16, 16), "coreml")


@pytest.mark.slow
def test_coreml_runner_reads_the_exported_package(model, tmp_path: Path) -> None:  # noqa: ANN001
    import torch

    from deploy.targets.coreml import CoreMLRunner

    target = get_target("coreml")
    path = target.export(model, torch.zeros(1, 1, 16, 16), Dtype.FP16, tmp_path / "m.mlpackage")
    if platform.system() != "Darwin":
        with pytest.raises(TargetUnavailable, match="needs macOS"):
            target.load(path)
    runner = CoreMLRunner(path)  # what load() returns on a Mac; reading the spec needs no Core ML
    assert (runner.batch, runner.input_chw) == (1, (1, 16, 16))
    assert runner._output == "logits" and runner._input == next(iter(target.inspect(path).inputs))
    assert runner.runtime_version.startswith("coremltools ")
    with pytest.raises(DeployError, match=r"NCHW float32 shaped \(N, 1, 16, 16\)"):
        runner.run(np.zeros((1, 3, 16, 16), np.float32))
    if platform.system() != "Darwin":
        with pytest.raises(Exception, match="only supported on macOS"):  # coremltools' own refusal, no number
            runner.run(np.ones((1, 1, 16, 16), np.float32))
