"""ONNX: fp32 via the torch.export-based exporter, int8 as QDQ via onnxruntime static quantization."""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deploy.runner import BatchedRunner
from deploy.types import (
    ArtifactInfo,
    DeclaredTarget,
    DeployError,
    Dtype,
    TargetSpec,
    VerificationError,
    require_dtype,
)
from deploy.versions import package_version

if TYPE_CHECKING:
    import torch
    from torch import nn

OPSET = 20

SPEC = TargetSpec(
    name="onnx",
    title="ONNX (ONNX Runtime, CPU execution provider)",
    runtime="onnxruntime",
    delegate="cpu",  # CPUExecutionProvider
    suffix=".onnx",
    dtypes=frozenset({Dtype.FP32, Dtype.INT8}),
    lut_dtypes={Dtype.FP32: Dtype.FP32, Dtype.INT8: Dtype.INT8},
    known_slow={
        Dtype.INT8: "onnxruntime's CPU provider does not fuse this QDQ graph into faster int8 kernels"
    },
    aliases=("onnxruntime",),
    packages=("onnx", "onnxruntime", "onnxscript"),
    order=60,
)


@dataclass(frozen=True)
class Int8Recipe:
    """How ``onnxruntime.quantization.quantize_static`` turns the fp32 graph into int8.

    ``activation``/``weight``: "u8" or "s8"; ``reduce_range``: 7-bit weights; ``float_ops``: op types kept
    in float (no Q/DQ around them); ``qoperator``: QLinear* operators instead of QDQ pairs.
    """

    activation: str = "u8"
    weight: str = "s8"
    per_channel: bool = True
    reduce_range: bool = False
    float_ops: tuple[str, ...] = ()
    qoperator: bool = False


# Op types of hard-swish (HardSigmoid * Mul) and squeeze-excite (ReduceMean/GlobalAveragePool, Sigmoid, Mul):
# ONNX Runtime has no fast int8 kernel for them, so Q/DQ pairs around them only add rounding and time.
FLOAT_ACT_SE = ("HardSwish", "HardSigmoid", "Sigmoid", "Mul", "GlobalAveragePool", "ReduceMean")

# Chosen by benchmarks/onnx_int8_recipe.py (benchmarks/results/onnx_int8_recipe.md): U8 activations x
# S8 weights (the previous recipe) saturate 0.2-0.5 % of the int16 pair sums of VPMADDUBSW, the U8S8
# kernel of x86 CPUs without VNNI, on the demo's models; 7-bit weights (reduce_range) keep every pair sum
# within int16 (255 * 64 * 2 < 32767) on any x86 CPU, and hard-swish/SE stay float (fastest of the
# saturation-free recipes, cosine >= 0.9995 and top-1 agreement >= 99.5 % on every model).
INT8_RECIPE = Int8Recipe(
    activation="u8", weight="s8", per_channel=True, reduce_range=True, float_ops=FLOAT_ACT_SE
)


class Onnx(DeclaredTarget):
    def export(
        self,
        model: nn.Module,
        example: torch.Tensor,
        dtype: Dtype,
        out_path: Path,
        calib: Sequence[torch.Tensor] | None = None,
    ) -> Path:
        require_dtype(self, dtype)
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if dtype is Dtype.FP32:
            _export_fp32(model, example, out_path)
            return out_path
        export_int8(model, example, calib, out_path, INT8_RECIPE)
        return out_path

    def load(self, path: Path, threads: int = 1) -> OnnxRunner:
        return OnnxRunner(Path(path), threads)

    def inspect(self, path: Path) -> ArtifactInfo:
        import onnx

        try:
            proto = onnx.load(str(path))
            onnx.checker.check_model(proto)
        except Exception as e:  # noqa: BLE001
            raise VerificationError(
                f"{path}: not a valid ONNX model ({type(e).__name__}); the file is corrupt or truncated"
            ) from None

        def dims(v) -> list[int]:
            return [d.dim_value for d in v.type.tensor_type.shape.dim]

        return ArtifactInfo(
            ops=dict(Counter(n.op_type for n in proto.graph.node)),
            inputs={v.name: dims(v) for v in proto.graph.input},
            outputs={v.name: dims(v) for v in proto.graph.output},
        )

    def runtime_version(self) -> str:
        return f"onnxruntime {package_version('onnxruntime')}"


def export_int8(
    model: nn.Module,
    example: torch.Tensor,
    calib: Sequence[torch.Tensor] | None,
    out_path: Path,
    recipe: Int8Recipe = INT8_RECIPE,
) -> Path:
    """Static int8 quantization of ``model`` with onnxruntime (calibrated on ``calib``) per ``recipe``."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from deploy.capture import calibration_samples

    samples = [{"x": s.numpy()} for s in calibration_samples(example, calib)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(samples)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    qtype = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx"
        _export_fp32(model, example, fp32)
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        ops = None
        if recipe.float_ops:
            import onnx

            present = {n.op_type for n in onnx.load(str(pre)).graph.node}
            ops = sorted(present - set(recipe.float_ops))
        quantize_static(
            str(pre),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QOperator if recipe.qoperator else QuantFormat.QDQ,
            op_types_to_quantize=ops,
            per_channel=recipe.per_channel,
            reduce_range=recipe.reduce_range,
            activation_type=qtype[recipe.activation],
            weight_type=qtype[recipe.weight],
        )
    return out_path


def _export_fp32(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    import torch

    logging.getLogger("torch.onnx").setLevel(logging.WARNING)
    with torch.no_grad():
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=["x"],
            output_names=["logits"],
            opset_version=OPSET,
            optimize=True,
            verbose=False,
        )
    if program is None:
        raise DeployError("torch.onnx.export returned no program; update torch/onnxscript")
    program.save(str(path))


class OnnxRunner(BatchedRunner):
    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            raise VerificationError(
                f"{path}: onnxruntime could not load it ({type(e).__name__}); corrupt or truncated"
            ) from None
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        self.batch, self.input_chw = int(inp.shape[0]), tuple(int(d) for d in inp.shape[1:])
        self.runtime_version = f"onnxruntime {ort.__version__}"

    def _run(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._session.run(None, {self._input: x})[0], dtype=np.float32)


TARGET = Onnx(SPEC)
