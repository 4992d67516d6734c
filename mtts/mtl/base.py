"""The weighting-method interface: combine per-task losses and run the backward pass.

A method owns `backward` because gradient-based methods are not a weighted sum. Learnt
weights and loss histories live in the module's state_dict, so they are checkpointed.
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

    def backward(self, losses: dict[str, torch.Tensor], shared: torch.Tensor) -> dict[str, float]:
        """Backpropagate the combined loss; return the weight used for each task."""
        raise NotImplementedError
