"""The weighting-method interface: combine per-task losses and run the backward pass.

A method owns `backward` because gradient-based methods are not a weighted sum. Learnt
weights and loss histories live in the module's state_dict, so they are checkpointed.
Of the model a method sees only what `bind` takes: `model.encoder_tasks()` and
`model.shared_parameters()`, both keyed by the shared encoder output (h, the phoneme
encoding; h_chars, the character pass).

Under several training processes each one's `losses` are its share of the global batch's
(they add up to them: mtts.tasks.base.global_denominators) and the trainer sums the
network's gradients over the processes after `backward`. A method whose weights depend on
the losses reads them from `global_losses`, so every process computes the same weights and
learnt weights get the same gradients; a method that makes some gradients global itself
lists those parameters in `reduced`, so that they are not summed twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from mtts import distributed


class WeightingMethod(nn.Module):
    name: ClassVar[str]

    def __init__(self, weights: dict[str, float]):
        super().__init__()
        self.static = dict(weights)   # λ_i from the config
        self.encoder_tasks: dict[str, set[str]] | None = None   # None (unbound): every task reaches h
        self.shared_params: dict[str, list[torch.Tensor]] = {}
        self.reduced: list[torch.Tensor] = []   # set by backward: parameters with global gradients already

    def bind(self, model: nn.Module) -> None:
        """Called once with the model: for each shared encoder output, the tasks whose losses
        reach the encoder through it and the parameters behind it (gradient methods act on those)."""
        self.encoder_tasks = {k: set(v) for k, v in model.encoder_tasks().items()}
        self.shared_params = {k: list(v) for k, v in model.shared_parameters().items()}

    def route(self, task: str) -> str | None:
        """The shared encoder output through which the task's loss reaches the encoder; None
        when it never does (a detached head)."""
        if self.encoder_tasks is None:
            return "h"
        return next((k for k, tasks in self.encoder_tasks.items() if task in tasks), None)

    def backward(self, losses: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]) -> dict[str, float]:
        """Backpropagate the combined loss; return the weight used for each task.

        `losses` may hold a subset of the tasks (a batch without a task's fields); `shared`
        holds the encoder outputs of this batch by name ("h", "h_chars")."""
        raise NotImplementedError

    def after_step(self, losses_now: Callable[[], dict[str, torch.Tensor]]) -> None:
        """Called after the optimiser's step with a function that recomputes, without
        gradients, the losses of the batch just trained on (FAMO's update); most methods
        never call it, so the forward pass costs nothing for them."""

    @staticmethod
    def global_losses(losses: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The losses of the global batch, detached: the sum of every process's share (one
        all-reduce); the losses themselves in a single process."""
        if not losses:
            return {}
        total = distributed.all_sum(torch.stack([v.detach().float() for v in losses.values()]))
        return dict(zip(losses, total))

    def weighted_sum(self, losses: dict[str, torch.Tensor],
                     weights: dict[str, float | torch.Tensor]) -> dict[str, float]:
        total = sum(weights[k] * v for k, v in losses.items())
        total.backward()
        return {k: float(weights[k]) for k in losses}
