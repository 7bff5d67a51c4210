"""Search losses combining cross-entropy with the supernet's expected cost.

* ``fbnet``:  ``CE * alpha * log(cost / ref) ** beta`` (FBNet, Wu et al. 2019; ``ref`` = 1 unit is the
  paper). ``ref=None`` lets the search pick ``ref`` = (expected cost of the uniform supernet) / e^2, so
  the log starts near 2 and stays positive even for sub-millisecond latencies.
* ``target``: ``CE + lam * relu(cost / target - 1)``: free below the target, a linear penalty above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

LossKind = Literal["fbnet", "target"]


class LossError(ValueError):
    pass


@dataclass(frozen=True)
class SearchLoss:
    kind: LossKind = "target"
    target: float | None = None
    lam: float = 2.0
    alpha: float = 0.2
    beta: float = 0.6
    # 1.0 is the paper's unit; None lets run_search pick (uniform expected cost) / e^2 (what SearchConfig
    # uses): with ref 1.0 every cost below 1 unit (sub-ms latencies) clamps to a zero latency gradient
    ref: float | None = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("fbnet", "target"):
            raise LossError(f"unknown loss {self.kind!r}; use 'fbnet' or 'target'")
        if self.kind == "target" and (self.target is None or self.target <= 0):
            raise LossError("the 'target' loss needs a positive target cost (e.g. --target-ms 5)")
        if self.kind == "fbnet" and (
            self.alpha <= 0 or self.beta <= 0 or (self.ref is not None and self.ref <= 0)
        ):
            raise LossError("the 'fbnet' loss needs alpha, beta and ref > 0")

    def __call__(self, ce: Tensor, cost: Tensor) -> Tensor:
        if self.kind == "target":
            assert self.target is not None
            return ce + self.lam * torch.relu(cost / self.target - 1.0)
        # log(cost/ref) must stay positive for the power; scale the cost into (e, inf) when it is not
        if self.ref is None:
            raise LossError("fbnet loss with ref=None must be resolved first (run_search does it)")
        log_cost = torch.log(cost / self.ref).clamp_min(1e-3)
        return ce * self.alpha * log_cost**self.beta

    @staticmethod
    def fbnet_ref_for(cost_scale: float) -> float:
        """A ``ref`` that maps costs around ``cost_scale`` to log values around 2 (keeps the log positive)."""
        return cost_scale / math.e**2
