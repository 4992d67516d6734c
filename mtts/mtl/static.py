"""Static weighting: L = Σ λ_i L_i with λ_i fixed in the config."""

from __future__ import annotations

import torch

from mtts.mtl.base import WeightingMethod


class StaticWeighting(WeightingMethod):
    name = "static"

    def backward(self, losses: dict[str, torch.Tensor], shared: torch.Tensor) -> dict[str, float]:
        total = sum(self.static[k] * v for k, v in losses.items())
        total.backward()
        return {k: self.static[k] for k in losses}
