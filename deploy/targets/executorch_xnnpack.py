"""ExecuTorch with the XNNPACK delegate (.pte): fp32, and int8 via the XNNPACKQuantizer (PT2E)."""

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
    name="executorch",
    title="ExecuTorch (XNNPACK delegate)",
    runtime="executorch",
    delegate="xnnpack",
    suffix=".pte",
    dtypes=frozenset({Dtype.FP32, Dtype.INT8}),
    lut_dtypes={Dtype.FP32: Dtype.FP32, Dtype.INT8: Dtype.INT8},
    aliases=("executorch-xnnpack",),
    native_runner="ExecutorRunner",
    packages=("executorch",),
    order=10,
)


class ExecuTorchXnnpack(DeclaredTarget):
    def export(
        self,
        model: nn.Module,
        example: torch.Tensor,
        dtype: Dtype,
        out_path: Path,
        calib: Sequence[torch.Tensor] | None = None,
    ) -> Path:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        from deploy.capture import capture, install_fast_pattern_tracing, quantize_pt2e

        require_dtype(self, dtype)
        if dtype is Dtype.INT8:
            from executorch.backends.xnnpack.quantizer import xnnpack_quantizer_utils
            from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
                XNNPACKQuantizer,
                get_symmetric_quantization_config,
            )

            install_fast_pattern_tracing(xnnpack_quantizer_utils, "_get_aten_graph_module_for_pattern")
            quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
            model = quantize_pt2e(model, example, quantizer, calib)
        program = capture(model, example)
        edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_bytes(edge.to_executorch().buffer)
        info = inspect_pte(out_path)
        if info.undelegated_compute:
            raise VerificationError(
                f"{out_path.name}: compute ops outside XNNPACK: {info.undelegated_compute}; "
                "these run on slow portable kernels - change the block or report the unsupported op"
            )
        return out_path

    def load(self, path: Path, threads: int = 1) -> ExecuTorchRunner:
        return ExecuTorchRunner(Path(path), threads)

    def inspect(self, path: Path) -> ArtifactInfo:
        return inspect_pte(Path(path))

    def runtime_version(self) -> str:
        return f"executorch {package_version('executorch')}"


TARGET = ExecuTorchXnnpack(SPEC)
