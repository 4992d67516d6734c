"""The weighting-method interface: combine per-task losses and run the backward pass.

A method owns `backward` because gradient-based methods are not a weighted sum. Learnt
weights and loss histories live in the module's state_dict, so they are checkpointed.
Of the model a method sees only what `bind` takes: `model.encoder_tasks()` and
`model.shared_parameters()`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn


class WeightingMethod(nn.Module):
    name: ClassVar[str]

    def __init__(self, weights: dict[str, float]):
        super().__init__()
        self.static = dict(weights)   # λ_i from the config
        self.encoder_tasks: set[str] | None = None    # None (unbound): every task reaches `shared`
        self.shared_params: list[torch.Tensor] = []

    def bind(self, model: nn.Module) -> None:
        """Called once with the model: the tasks whose losses reach the shared encoder output
        and the parameters behind it (gradient methods act on those)."""
        self.encoder_tasks = set(model.encoder_tasks())
        self.shared_params = list(model.shared_parameters())

    def reaches_encoder(self, task: str) -> bool:
        return self.encoder_tasks is None or task in self.encoder_tasks

    def backward(self, losses: dict[str, torch.Tensor], shared: torch.Tensor) -> dict[str, float]:
        """Backpropagate the combined loss; return the weight used for each task.

        `losses` may hold a subset of the tasks (a batch without a task's fields);
        `shared` is the encoder output every sharing task reads."""
        raise NotImplementedError

    def weighted_sum(self, losses: dict[str, torch.Tensor],
                     weights: dict[str, float | torch.Tensor]) -> dict[str, float]:
        total = sum(weights[k] * v for k, v in losses.items())
        total.backward()
        return {k: float(weights[k]) for k in losses}
