"""ExecuTorch Python runtime shared by the XNNPACK and Core ML delegate targets.

Thread count lives in the XNNPACK threadpool, a process-wide singleton: it is reset BEFORE a
method is loaded, never while a loaded method may still execute (that segfaults). A reset therefore
invalidates every earlier runner with a different thread count; using one raises a clear error.
"""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from pathlib import Path

import numpy as np

from deploy.runner import BatchedRunner
from deploy.types import ArtifactInfo, DeployError, TargetUnavailable, VerificationError
from deploy.versions import package_version

log = logging.getLogger(__name__)

# Base names of operators that do the heavy compute; outside a delegate they run on slow portable kernels.
COMPUTE_OPS = frozenset(
    {
        "convolution",
        "_convolution",
        "conv2d",
        "linear",
        "addmm",
        "mm",
        "bmm",
        "matmul",
        "baddbmm",
    }
)

_live: weakref.WeakSet[ExecuTorchRunner] = weakref.WeakSet()
_threads: list[int] = []  # current threadpool size, once set by us


def op_base_name(name: str) -> str:
    """'aten::convolution.out' / 'aten::convolution' -> 'convolution'."""
    return name.split("::")[-1].split(".")[0]


def inspect_pte(path: Path) -> ArtifactInfo:
    """Read non-delegated operators and delegate calls from a .pte file (no runtime needed)."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    try:
        pte = deserialize_pte_binary(Path(path).read_bytes())
    except Exception as e:  # noqa: BLE001 - any parse failure means a corrupt file
        raise VerificationError(
            f"{path}: not a valid ExecuTorch program ({type(e).__name__}: {e}); re-export it"
        ) from None
    program = getattr(pte, "program", pte)
    plan = program.execution_plan[0]
    ops: Counter[str] = Counter()
    delegates: Counter[str] = Counter()
    for chain in plan.chains:
        for ins in chain.instructions:
            args = ins.instr_args
            kind = type(args).__name__
            if kind == "KernelCall":
                ops[plan.operators[args.op_index].name] += 1
            elif kind == "DelegateCall":
                delegates[plan.delegates[args.delegate_index].id] += 1
    compute = {k: v for k, v in ops.items() if op_base_name(k) in COMPUTE_OPS}
    return ArtifactInfo(ops=dict(ops), delegates=dict(delegates), undelegated_compute=compute)


def set_threads(threads: int) -> None:
    """Size the XNNPACK threadpool (before loading a method); invalidates runners with another size."""
    if threads < 1:
        raise DeployError(f"threads must be >= 1, got {threads}")
    if _threads and _threads[0] == threads:
        return
    from executorch.extension.pybindings import portable_lib

    for runner in list(_live):
        if runner.threads != threads:
            runner.invalidate(threads)
    portable_lib._unsafe_reset_threadpool(threads)
    _threads[:] = [threads]


def registered_backends() -> set[str]:
    from executorch.runtime import Runtime

    return set(Runtime.get().backend_registry.registered_backend_names)


class ExecuTorchRunner(BatchedRunner):
    def __init__(self, path: Path, threads: int) -> None:
        from executorch.runtime import Runtime

        info = inspect_pte(path)
        missing = set(info.delegates) - registered_backends()
        if missing:
            raise TargetUnavailable(
                f"{path.name} needs ExecuTorch backend(s) {', '.join(sorted(missing))}, which this "
                f"ExecuTorch build does not register (CoreMLBackend runs only on macOS/iOS)"
            )
        set_threads(threads)
        self.threads = threads
        self._invalid_reason = ""
        self.path = path
        try:
            program = Runtime.get().load_program(path)
            self._method = program.load_method("forward")
        except Exception as e:  # noqa: BLE001
            raise VerificationError(
                f"{path}: ExecuTorch could not load it ({e}); the file is corrupt or truncated"
            ) from None
        meta = self._method.metadata
        in_meta = meta.input_tensor_meta(0)
        shape = tuple(in_meta.sizes())
        self.batch, self.input_chw = shape[0], shape[1:]
        self.runtime_version = f"executorch {package_version('executorch')}"
        _live.add(self)

    def invalidate(self, new_threads: int) -> None:
        self._invalid_reason = (
            f"the ExecuTorch threadpool was reset to {new_threads} threads after {self.path.name} was loaded "
            f"with {self.threads}; load it again"
        )

    def _run(self, x: np.ndarray) -> np.ndarray:
        import torch

        if self._invalid_reason:
            raise DeployError(self._invalid_reason)
        out = self._method.execute([torch.from_numpy(x)])
        return out[0].detach().numpy().astype(np.float32, copy=False)
