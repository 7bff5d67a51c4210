"""Gumbel-softmax sampling with an explicit generator, temperature annealing and architecture logits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from search.space import SearchSpace


@dataclass(frozen=True)
class TemperatureSchedule:
    """Exponential annealing ``tau(epoch) = initial * decay ** epoch`` (FBNetV2 default 5.0 x 0.956)."""

    initial: float = 5.0
    decay: float = 0.956
    minimum: float = 0.0

    def __post_init__(self) -> None:
        if self.initial <= 0 or not 0 < self.decay <= 1:
            raise ValueError(
                f"temperature needs initial > 0 and 0 < decay <= 1, got {self.initial}, {self.decay}"
            )

    def at(self, epoch: float) -> float:
        return max(self.minimum, self.initial * self.decay**epoch)

    @classmethod
    def ending_at(cls, final: float, epochs: int, initial: float = 5.0) -> TemperatureSchedule:
        """Exponential from ``initial`` at epoch 0 to ``final`` at the last epoch (``epochs - 1``), whatever
        the number of epochs, so the last epochs train near one-hot samples (the argmax child)."""
        if not 0 < final <= initial:
            raise ValueError(f"the final temperature must be in (0, initial={initial}], got {final}")
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        return cls(initial, (final / initial) ** (1 / max(1, epochs - 1)), minimum=final)


def gumbel_softmax(logits: Tensor, tau: float, generator: torch.Generator | None = None) -> Tensor:
    """Relaxed one-hot sample ``softmax((logits + G) / tau)``, G ~ Gumbel(0, 1) drawn from ``generator``."""
    u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
    g = -torch.log((-torch.log(u.clamp_min(1e-20))).clamp_min(1e-20))
    return torch.softmax((logits + g) / tau, dim=-1)


def _key(name: str) -> str:
    return name.replace(".", "__")


class ArchLogits(nn.Module):
    """One logit vector per choice variable of a space (zeros = uniform), trained by its own optimizer."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.names = tuple(v.name for v in space.variables())
        self.logits = nn.ParameterDict(
            {_key(v.name): nn.Parameter(torch.zeros(len(v.values))) for v in space.variables()}
        )

    def __getitem__(self, name: str) -> Tensor:
        return self.logits[_key(name)]

    def sample(self, tau: float, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Gumbel-softmax weights for every variable (differentiable w.r.t. the logits)."""
        return {n: gumbel_softmax(self[n], tau, generator) for n in self.names}

    def probabilities(self) -> dict[str, Tensor]:
        return {n: torch.softmax(self[n], -1) for n in self.names}

    def argmax(self) -> dict[str, int]:
        return {n: int(torch.argmax(self[n])) for n in self.names}

    def one_hot(self, choices: dict[str, int]) -> dict[str, Tensor]:
        return {n: nn.functional.one_hot(torch.tensor(choices[n]), len(self[n])).float() for n in self.names}
