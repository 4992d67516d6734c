"""Uncertainty weighting (Kendall, Gal and Cipolla, 2018): L = Σ exp(-s_i) λ_i L_i + s_i,
with s_i = log σ_i² learnt alongside the model.

The network's gradient comes from this process's loss (the trainer sums it over
processes), s_i's from the global loss, so that s_i moves the same on every process and
its own term counts once, however many there are."""

from __future__ import annotations

import torch
from torch import nn

from mtts.mtl.base import WeightingMethod


class UncertaintyWeighting(WeightingMethod):
    name = "uncertainty"

    def __init__(self, weights: dict[str, float]):
        super().__init__(weights)
        self.log_vars = nn.ParameterDict({k: nn.Parameter(torch.zeros(())) for k in weights})

    def backward(self, losses: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]) -> dict[str, float]:
        glob = self.global_losses(losses)
        total = sum(torch.exp(-self.log_vars[k]).detach() * self.static[k] * v                       # network
                    + torch.exp(-self.log_vars[k]) * self.static[k] * glob[k] + self.log_vars[k]    # s_k
                    for k, v in losses.items())
        total.backward()
        return {k: float(torch.exp(-self.log_vars[k].detach()) * self.static[k]) for k in losses}
