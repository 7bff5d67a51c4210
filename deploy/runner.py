"""Shared runner plumbing: any batch in, fixed-batch artifact calls out, NCHW float32 contract."""

from __future__ import annotations

import numpy as np

from deploy.types import DeployError


class BatchedRunner:
    """Base for runners of fixed-shape artifacts: ``run`` splits a batch into artifact-sized calls.

    Subclasses set ``batch`` (the artifact's batch size), ``input_chw`` and ``runtime_version`` and
    implement ``_run(x)`` for exactly ``batch`` NCHW float32 samples.
    """

    batch: int = 1
    input_chw: tuple[int, ...] = ()
    runtime_version: str = ""

    def run(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or (self.input_chw and tuple(x.shape[1:]) != tuple(self.input_chw)):
            raise DeployError(
                f"runner takes NCHW float32 shaped (N, {', '.join(map(str, self.input_chw))}), got {x.shape}"
            )
        if x.shape[0] == self.batch:
            return self._run(x)
        if x.shape[0] % self.batch:
            raise DeployError(f"batch {x.shape[0]} is not a multiple of the artifact's batch {self.batch}")
        return np.concatenate([self._run(x[i : i + self.batch]) for i in range(0, x.shape[0], self.batch)])

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError
