"""Core ML ``.mlpackage`` (ML Program): fp16/fp32, int8 weights, and w8a8 via the PT2E CoreMLQuantizer.

Conversion and quantization run anywhere; prediction needs the Core ML framework (macOS), so on
other systems ``load`` raises :class:`TargetUnavailable` and artifacts are validated structurally
(spec version, I/O, op types) with :meth:`CoreML.inspect`.
"""

from __future__ import annotations

import platform
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deploy.runner import BatchedRunner
from deploy.targets.executorch_coreml import coreml_w8a8_quantizer
from deploy.types import (
    ArtifactInfo,
    DeclaredTarget,
    Dtype,
    TargetSpec,
    TargetUnavailable,
    VerificationError,
    require_dtype,
)
from deploy.versions import package_version

if TYPE_CHECKING:
    import torch
    from torch import nn

SPEC = TargetSpec(
    name="coreml",
    title="Core ML (.mlpackage)",
    runtime="coreml",
    delegate="all",  # MLComputeUnits.all: Core ML schedules CPU, GPU and Neural Engine itself
    suffix=".mlpackage",
    dtypes=frozenset({Dtype.FP32, Dtype.FP16, Dtype.INT8_WEIGHTS, Dtype.INT8}),
    base_dtype=Dtype.FP16,  # Core ML's native precision
    # a Core ML "int8" LUT times int8 weights with fp16 compute (what ships to the Neural Engine)
    lut_dtypes={Dtype.FP32: Dtype.FP32, Dtype.FP16: Dtype.FP16, Dtype.INT8: Dtype.INT8_WEIGHTS},
    runs_on=("Darwin",),  # coremltools converts anywhere but predicts only on macOS
    packages=("coremltools",),
    order=30,
)

# MIL ops that carry weights/compute; a converted classifier must contain some of these.
COMPUTE_OPS = frozenset({"conv", "linear", "matmul"})


def _shape(feature) -> list[int]:
    return [int(d) for d in feature.type.multiArrayType.shape]


class CoreML(DeclaredTarget):
    def export(
        self,
        model: nn.Module,
        example: torch.Tensor,
        dtype: Dtype,
        out_path: Path,
        calib: Sequence[torch.Tensor] | None = None,
    ) -> Path:
        import coremltools as ct

        from deploy.capture import capture, quantize_pt2e

        require_dtype(self, dtype)
        if dtype is Dtype.INT8:
            model = quantize_pt2e(model, example, coreml_w8a8_quantizer(), calib)
        program = capture(model, example).run_decompositions({})
        mlmodel = ct.convert(
            program,
            inputs=[ct.TensorType(shape=tuple(example.shape), dtype=np.float32)],
            outputs=[ct.TensorType(name="logits", dtype=np.float32)],
            convert_to="mlprogram",
            minimum_deployment_target=ct.target.iOS17,
            compute_precision=ct.precision.FLOAT32 if dtype is Dtype.FP32 else ct.precision.FLOAT16,
            skip_model_load=True,
        )
        if dtype is Dtype.INT8_WEIGHTS:
            import coremltools.optimize.coreml as cto

            op_config = cto.OpLinearQuantizerConfig(mode="linear_symmetric", weight_threshold=0)
            mlmodel = cto.linear_quantize_weights(mlmodel, cto.OptimizationConfig(global_config=op_config))
        out_path = Path(out_path)
        if out_path.exists():
            shutil.rmtree(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        mlmodel.save(str(out_path))
        return out_path

    def load(self, path: Path, threads: int = 1) -> CoreMLRunner:
        if platform.system() != "Darwin":
            raise TargetUnavailable(
                f"Core ML prediction needs macOS (this is {platform.system()}); "
                "the .mlpackage was validated structurally only - run `phonenas deploy verify` on a Mac"
            )
        return CoreMLRunner(Path(path))

    def inspect(self, path: Path) -> ArtifactInfo:
        """Structural validation: ML Program spec, fp32 I/O shapes, op histogram with compute ops."""
        import coremltools as ct

        path = Path(path)
        try:
            spec = ct.utils.load_spec(str(path))
        except Exception as e:  # noqa: BLE001
            raise VerificationError(
                f"{path}: not a readable .mlpackage ({type(e).__name__}: {e}); re-export it"
            ) from None
        if spec.WhichOneof("Type") != "mlProgram":
            raise VerificationError(f"{path}: expected an ML Program, found {spec.WhichOneof('Type')}")
        ops: Counter[str] = Counter()
        for fn in spec.mlProgram.functions.values():
            for block in fn.block_specializations.values():
                ops.update(op.type for op in block.operations)
        if not COMPUTE_OPS & set(ops):
            raise VerificationError(
                f"{path}: the program has no conv/linear ops; the conversion lost the network"
            )
        return ArtifactInfo(
            ops=dict(ops),
            inputs={f.name: _shape(f) for f in spec.description.input},
            outputs={f.name: _shape(f) for f in spec.description.output},
        )

    def runtime_version(self) -> str:
        return f"coremltools {package_version('coremltools')}"


class CoreMLRunner(BatchedRunner):
    """Prediction through coremltools (macOS only)."""

    def __init__(self, path: Path) -> None:
        import coremltools as ct

        try:
            self._model = ct.models.MLModel(str(path))
        except Exception as e:  # noqa: BLE001
            raise VerificationError(
                f"{path}: Core ML could not load it ({e}); corrupt or truncated"
            ) from None
        spec = self._model.get_spec()
        feature = spec.description.input[0]
        self._input = feature.name
        self._output = spec.description.output[0].name
        shape = _shape(feature)
        self.batch, self.input_chw = shape[0], tuple(shape[1:])
        self.runtime_version = f"coremltools {package_version('coremltools')} ({platform.mac_ver()[0]})"

    def _run(self, x: np.ndarray) -> np.ndarray:
        out = self._model.predict({self._input: x})[self._output]
        return np.asarray(out, dtype=np.float32)


TARGET = CoreML(SPEC)
