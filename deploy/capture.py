"""Stage 1-2 of the pipeline: capture with torch.export and PT2E-quantize with calibration data."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from deploy.types import DeployError

log = logging.getLogger(__name__)

MAX_CALIB_SAMPLES = 256


def capture(model: nn.Module, example: torch.Tensor) -> torch.export.ExportedProgram:
    """``torch.export`` a model that is already in eval mode (static shapes, batch of ``example``)."""
    if model.training and not isinstance(model, torch.fx.GraphModule):
        raise DeployError("export needs an eval-mode model; call model.eval() first")
    with torch.no_grad():
        return torch.export.export(model, (example,), strict=False)


def calibration_samples(
    example: torch.Tensor, calib: Sequence[torch.Tensor] | None, limit: int = MAX_CALIB_SAMPLES
) -> list[torch.Tensor]:
    """Split calibration batches into tensors shaped like ``example`` (exported graphs have a fixed batch).

    Without calibration data the example itself is used (fine for latency-only exports; numerics of
    such an artifact are not representative).
    """
    if not calib:
        return [example]
    per = example.shape[0]
    out: list[torch.Tensor] = []
    for batch in calib:
        if batch.dim() != example.dim() or tuple(batch.shape[1:]) != tuple(example.shape[1:]):
            raise DeployError(
                f"calibration batch has shape {tuple(batch.shape)} but the model takes "
                f"{tuple(example.shape)}; resize the calibration data to the model's input"
            )
        for i in range(0, batch.shape[0] - per + 1, per):
            out.append(batch[i : i + per].to(example.dtype))
            if len(out) >= limit:
                return out
    return out or [example]


def quantize_pt2e(
    model: nn.Module,
    example: torch.Tensor,
    quantizer: Any,
    calib: Sequence[torch.Tensor] | None,
    fold_quantize: bool = True,
) -> torch.fx.GraphModule:
    """PT2E static quantization: export -> prepare (observers) -> calibrate -> convert (Q/DQ graph).

    ``model`` is not modified (export gives a fresh graph module; BN folding happens on it).
    """
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e import utils as pt2e_utils
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    # move_exported_model_to_eval traces its dropout/batch-norm patterns with strict export (~1.4 s a
    # call, every call); the memoized non-strict tracer gives the same graphs
    install_fast_pattern_tracing(pt2e_utils, "_get_aten_graph_module_for_pattern")
    gm = capture(model, example).module()
    prepared = prepare_pt2e(gm, quantizer)
    samples = calibration_samples(example, calib)
    with torch.no_grad():
        for x in samples:
            prepared(x)
    log.debug("calibrated %s on %d samples", type(quantizer).__name__, len(samples))
    converted = convert_pt2e(prepared, fold_quantize=fold_quantize)
    move_exported_model_to_eval(converted)
    for module in converted.modules():  # exported modules refuse .eval(); the flag only silences exporters
        module.training = False
    return converted


_pattern_cache: dict[tuple, torch.fx.GraphModule] = {}


def _fast_pattern_graph(
    pattern: nn.Module, example_inputs: tuple, is_cuda: bool = False
) -> torch.fx.GraphModule:
    """Trace a quantizer match pattern with non-strict export, memoized by pattern identity and shapes.

    PT2E quantizers (CoreML, XNNPACK) trace ~400 small patterns per ``annotate`` with strict (dynamo) export,
    ~0.4 s each: minutes per model regardless of its size. Non-strict tracing of these pure functional
    patterns yields the same aten graphs in a fraction of the time, and the memo makes later models free.
    """
    key = _pattern_key(pattern, example_inputs)
    if key is not None and key in _pattern_cache:
        return copy.deepcopy(_pattern_cache[key])  # the matcher rewrites the pattern's output in place
    gm = torch.export.export(pattern, tuple(example_inputs), strict=False).module()
    for node in list(gm.graph.nodes):  # export adds copy_ nodes for mutated inputs; patterns don't need them
        if node.op == "call_function" and node.target == torch.ops.aten.copy_.default and not node.users:
            gm.graph.erase_node(node)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    if key is not None:
        _pattern_cache[key] = copy.deepcopy(gm)
    return gm


def install_fast_pattern_tracing(module: Any, attr: str) -> None:
    """Route a quantizer module's pattern tracer (``module.attr``) through :func:`_fast_pattern_graph`."""
    if callable(getattr(module, attr, None)):
        setattr(module, attr, _fast_pattern_graph)


def _pattern_key(pattern: Any, example_inputs: tuple) -> tuple | None:
    """Identity of a pattern: the code and closure values of every function it runs, plus input shapes.

    Handles pattern classes defined in a factory (closure on ``forward``) and ``WrapperModule(fn)``
    (closure on ``fn``). ``None`` (no memo) when anything is unhashable.
    """
    fns = [getattr(type(pattern), "forward", None), getattr(pattern, "fn", None)]
    if not isinstance(pattern, nn.Module):
        fns.append(pattern)
    parts: list[object] = [type(pattern).__qualname__]
    for fn in fns:
        code = getattr(fn, "__code__", None)
        if code is not None:
            parts.append((code, tuple(c.cell_contents for c in (getattr(fn, "__closure__", None) or ()))))
    parts.append(
        tuple((tuple(t.shape), t.dtype) if isinstance(t, torch.Tensor) else t for t in example_inputs)
    )
    key = tuple(parts)
    try:
        hash(key)
    except TypeError:
        return None
    return key
