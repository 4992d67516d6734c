"""Random loss weighting (Lin et al., 2022): each step draws λ = softmax(z), z ~ N(0, I),
scaled by the number of tasks and the static λ_i."""

from __future__ import annotations

import torch

from mtts import distributed
from mtts.mtl.base import WeightingMethod


class RandomLossWeighting(WeightingMethod):
    name = "rlw"

    def backward(self, losses: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]) -> dict[str, float]:
        names = list(losses)
        # the seeded torch RNG; rank 0's draw under several processes, whose RNGs differ (dropout)
        z = torch.randn(len(names)).to(losses[names[0]].device)   # nccl broadcasts GPU tensors only
        lam = len(names) * torch.softmax(distributed.from_main(z), dim=0)
        return self.weighted_sum(losses, {k: self.static[k] * float(lam[i]) for i, k in enumerate(names)})
