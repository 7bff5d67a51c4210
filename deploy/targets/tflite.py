"""LiteRT ``.tflite`` via litert-torch: fp32, and int8 via its PT2E quantizer; NCHW or NHWC input.

Run with ``ai_edge_litert`` (the XNNPACK delegate is applied by default). Known cost: int8 models with
hard-swish fall off XNNPACK and run slower than fp32 on x86/ARM CPUs; the verifier measures and warns.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deploy.runner import BatchedRunner
from deploy.types import ArtifactInfo, DeclaredTarget, Dtype, TargetSpec, VerificationError, require_dtype
from deploy.versions import package_version

if TYPE_CHECKING:
    import torch
    from torch import nn

SPEC = TargetSpec(
    name="tflite",
    title="LiteRT (.tflite, XNNPACK delegate)",
    runtime="litert",
    delegate="xnnpack",  # ai_edge_litert applies the XNNPACK delegate by default
    suffix=".tflite",
    dtypes=frozenset({Dtype.FP32, Dtype.INT8}),
    lut_dtypes={Dtype.FP32: Dtype.FP32, Dtype.INT8: Dtype.INT8},
    known_slow={Dtype.INT8: "LiteRT runs int8 hard-swish outside XNNPACK (reference kernels)"},
    aliases=("litert",),
    native_runner="BenchmarkModelRunner",
    packages=("litert-torch", "ai-edge-litert"),
    order=40,
)


class LiteRT(DeclaredTarget):
    """LiteRT export and runner; the layout (NCHW or NHWC input) comes from the descriptor."""

    def export(
        self,
        model: nn.Module,
        example: torch.Tensor,
        dtype: Dtype,
        out_path: Path,
        calib: Sequence[torch.Tensor] | None = None,
    ) -> Path:
        os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
        import litert_torch

        from deploy.capture import quantize_pt2e

        require_dtype(self, dtype)
        if self.layout == "nhwc":
            model = litert_torch.to_channel_last_io(model, args=[0]).eval()
            example = example.permute(0, 2, 3, 1).contiguous()
            calib = [c.permute(0, 2, 3, 1).contiguous() for c in calib] if calib else None
        quant_config = None
        if dtype is Dtype.INT8:
            from litert_torch.quantize import pt2e_quantizer
            from litert_torch.quantize.quant_config import QuantConfig

            quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
                pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
            )
            model = quantize_pt2e(model, example, quantizer, calib, fold_quantize=False)
            quant_config = QuantConfig(pt2e_quantizer=quantizer)
        converted = litert_torch.convert(model, (example,), quant_config=quant_config)
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        converted.export(str(out_path))
        return out_path

    def load(self, path: Path, threads: int = 1) -> LiteRTRunner:
        return LiteRTRunner(Path(path), threads, self.layout)

    def inspect(self, path: Path) -> ArtifactInfo:
        from ai_edge_litert.interpreter import Interpreter

        interp = _interpreter(Path(path), 1, Interpreter)
        ops = Counter(op["op_name"] for op in interp._get_ops_details())
        return ArtifactInfo(
            ops=dict(ops),
            inputs={d["name"]: d["shape"].tolist() for d in interp.get_input_details()},
            outputs={d["name"]: d["shape"].tolist() for d in interp.get_output_details()},
        )

    def runtime_version(self) -> str:
        return f"ai-edge-litert {package_version('ai-edge-litert')}"


def _interpreter(path: Path, threads: int, cls):
    try:
        return cls(model_path=str(path), num_threads=threads)
    except Exception as e:  # noqa: BLE001
        raise VerificationError(
            f"{path}: LiteRT could not load it ({e}); the file is corrupt or truncated"
        ) from None


class LiteRTRunner(BatchedRunner):
    def __init__(self, path: Path, threads: int, layout: str) -> None:
        from ai_edge_litert.interpreter import Interpreter

        interp = _interpreter(path, threads, Interpreter)
        self._interp = interp
        self._signature = interp.get_signature_runner()
        details = self._signature.get_input_details()
        if len(details) != 1:
            raise VerificationError(f"{path}: expected one input, found {sorted(details)}")
        ((self._input, detail),) = details.items()
        self._in_dtype = np.dtype(detail["dtype"])
        self._in_q = detail["quantization"]
        out_detail = next(iter(self._signature.get_output_details().values()))
        self._path, self._threads = path, threads
        self._timed: Any = None  # the interpreter timed_call invokes (no signature runner on it)
        self._timed_out = 0  # its output tensor index
        self._out_q = out_detail["quantization"] if np.dtype(out_detail["dtype"]).kind in "iu" else None
        shape = [int(s) for s in detail["shape"]]
        self._nhwc = layout == "nhwc"
        self.batch = shape[0]
        self.input_chw = (shape[3], shape[1], shape[2]) if self._nhwc else tuple(shape[1:])
        self.runtime_version = f"ai-edge-litert {package_version('ai-edge-litert')}"

    def _to_input(self, x: np.ndarray) -> np.ndarray:
        if self._nhwc:
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        if self._in_dtype.kind in "iu":  # fully-quantized I/O: quantize with the input's own scale/zero point
            scale, zero = self._in_q
            info = np.iinfo(self._in_dtype)
            x = np.clip(np.round(x / scale) + zero, info.min, info.max).astype(self._in_dtype)
        return x

    def timed_call(self, x: np.ndarray) -> Callable[[], object]:
        """A zero-argument call of the interpreter's ``Invoke`` on ``x``, set once in the artifact's own
        input format: what latency measurement times, as LiteRT's ``benchmark_model`` and the phone
        runner (``phonenas_bench_runner``) time it.

        Not the signature runner: each of its calls resizes, allocates, copies the input in and the
        output out into a new numpy array - 4-5 us of Python per call on the 2-core VM (7.8 us median
        per 4-10 us block against 4.0 us for ``Invoke`` alone, 60 demo blocks), which a phone app calling
        the C API does not pay and which moved more than the invocation between two processes (median
        1.27x against 1.17x). Nor ``run``, whose numpy conversion of int8 I/O (~10 us) some graphs need
        and others fold into the model (QUANTIZE/DEQUANTIZE ops, timed)."""
        from ai_edge_litert.interpreter import Interpreter

        # an interpreter of its own: a signature runner holds the wrapper, which makes
        # Interpreter.invoke refuse to run ("references to internal data")
        interp = self._timed = _interpreter(self._path, self._threads, Interpreter)
        interp.allocate_tensors()
        (inp,), (out,) = interp.get_input_details(), interp.get_output_details()
        interp.set_tensor(inp["index"], self._to_input(x))
        self._timed_out = int(out["index"])
        return interp.invoke

    def timed_output(self) -> np.ndarray:
        """The raw output of the last :meth:`timed_call` invocation (the artifact's own format)."""
        if self._timed is None:
            raise RuntimeError("timed_output() needs a timed_call() first")
        return np.array(self._timed.get_tensor(self._timed_out))

    def _run(self, x: np.ndarray) -> np.ndarray:
        x = self._to_input(x)
        out = np.asarray(next(iter(self._signature(**{self._input: x}).values())))
        if self._out_q is not None:
            scale, zero = self._out_q
            return ((out.astype(np.float32) - zero) * scale).astype(np.float32)
        return out.astype(np.float32, copy=False)


TARGET = LiteRT(SPEC)
