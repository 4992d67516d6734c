"""Static weighting: L = Σ λ_i L_i with λ_i fixed in the config."""

from __future__ import annotations

import torch

from mtts.mtl.base import WeightingMethod


class StaticWeighting(WeightingMethod):
    name = "static"

    def backward(self, losses: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]) -> dict[str, float]:
        return self.weighted_sum(losses, self.static)
