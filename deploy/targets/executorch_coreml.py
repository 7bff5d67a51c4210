"""ExecuTorch with the Core ML delegate (.pte): fp32/fp16 compute, int8 (w8a8) via the CoreMLQuantizer.

Lowering runs on Linux; executing needs the CoreMLBackend, which ExecuTorch registers only on
Apple platforms, so ``load`` raises :class:`TargetUnavailable` here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from deploy.targets.executorch_runtime import ExecuTorchRunner, inspect_pte
from deploy.types import ArtifactInfo, DeclaredTarget, Dtype, TargetSpec, VerificationError, require_dtype
from deploy.versions import package_version

if TYPE_CHECKING:
    import torch
    from torch import nn

SPEC = TargetSpec(
    name="executorch-coreml",
    title="ExecuTorch (Core ML delegate)",
    runtime="executorch",
    delegate="coreml",
    suffix=".pte",
    dtypes=frozenset({Dtype.FP32, Dtype.FP16, Dtype.INT8}),
    base_dtype=Dtype.FP16,  # Core ML's native precision
    lut_dtypes={Dtype.FP32: Dtype.FP32, Dtype.FP16: Dtype.FP16, Dtype.INT8: Dtype.INT8},
    runs_on=("Darwin",),  # ExecuTorch registers the CoreMLBackend only on Apple platforms
    packages=("executorch", "coremltools"),
    order=20,
    in_default_set=False,
)


def coreml_w8a8_quantizer():
    """Static int8 weights + activations, per-channel weights (the CoreMLQuantizer's PT2E config)."""
    import torch
    from executorch.backends.apple.coreml.quantizer import _coreml_quantizer_utils

    from deploy.capture import install_fast_pattern_tracing

    install_fast_pattern_tracing(_coreml_quantizer_utils, "_get_aten_graph_module")
    from coremltools.optimize.torch.quantization.quantization_config import LinearQuantizerConfig
    from executorch.backends.apple.coreml.quantizer import CoreMLQuantizer

    config = LinearQuantizerConfig.from_dict(
        {
            "global_config": {
                "quantization_scheme": "symmetric",
                "activation_dtype": torch.quint8,
                "weight_dtype": torch.qint8,
                "weight_per_channel": True,
            }
        }
    )
    return CoreMLQuantizer(config)


class ExecuTorchCoreML(DeclaredTarget):
    def export(
        self,
        model: nn.Module,
        example: torch.Tensor,
        dtype: Dtype,
        out_path: Path,
        calib: Sequence[torch.Tensor] | None = None,
    ) -> Path:
        import coremltools as ct
        from executorch.backends.apple.coreml.compiler import CoreMLBackend
        from executorch.backends.apple.coreml.partition import CoreMLPartitioner
        from executorch.exir import to_edge_transform_and_lower

        from deploy.capture import capture, quantize_pt2e

        require_dtype(self, dtype)
        if dtype is Dtype.INT8:
            model = quantize_pt2e(model, example, coreml_w8a8_quantizer(), calib)
        precision = ct.precision.FLOAT32 if dtype is Dtype.FP32 else ct.precision.FLOAT16
        specs = CoreMLBackend.generate_compile_specs(
            compute_precision=precision, minimum_deployment_target=ct.target.iOS17
        )
        edge = to_edge_transform_and_lower(
            capture(model, example), partitioner=[CoreMLPartitioner(compile_specs=specs)]
        )
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(edge.to_executorch().buffer)
        info = inspect_pte(out_path)
        if info.undelegated_compute:
            raise VerificationError(
                f"{out_path.name}: compute ops outside Core ML: {info.undelegated_compute}"
            )
        return out_path

    def load(self, path: Path, threads: int = 1) -> ExecuTorchRunner:
        return ExecuTorchRunner(Path(path), threads)

    def inspect(self, path: Path) -> ArtifactInfo:
        return inspect_pte(Path(path))

    def runtime_version(self) -> str:
        return f"executorch {package_version('executorch')}"


TARGET = ExecuTorchCoreML(SPEC)
