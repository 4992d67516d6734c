"""Dynamic Weight Average (Liu, Johns and Davison, 2019): a task whose loss falls slowly
gets more weight. λ_i = K · softmax_i(r_i / T), r_i = L̄_i(t-1) / L̄_i(t-2), where L̄ are
loss averages over windows of `window` steps (the paper's epochs)."""

from __future__ import annotations

import torch

from mtts.mtl.base import WeightingMethod


class DynamicWeightAverage(WeightingMethod):
    name = "dwa"

    def __init__(self, weights: dict[str, float], temperature: float = 2.0, window: int = 50):
        super().__init__(weights)
        self.names = list(weights)
        self.temperature, self.window = temperature, window
        n = len(self.names)
        # running sums of the current window and the averages of the two windows before
        self.register_buffer("acc", torch.zeros(n))
        self.register_buffer("count", torch.zeros(n))
        self.register_buffer("prev", torch.zeros(2, n))   # [t-2, t-1] window averages
        self.register_buffer("windows", torch.zeros((), dtype=torch.long))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def current(self) -> dict[str, float]:
        n = len(self.names)
        if self.windows < 2:
            return {k: self.static[k] for k in self.names}
        ratio = self.prev[1] / self.prev[0].clamp(min=1e-8)
        lam = n * torch.softmax(ratio / self.temperature, dim=0)
        return {k: self.static[k] * float(lam[i]) for i, k in enumerate(self.names)}

    def backward(self, losses: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]) -> dict[str, float]:
        weights = self.current()
        out = self.weighted_sum(losses, weights)
        glob = self.global_losses(losses)   # the history of the global batch's losses, the same everywhere
        with torch.no_grad():
            for i, k in enumerate(self.names):
                if k in losses:
                    self.acc[i] += glob[k].to(self.acc)
                    self.count[i] += 1
            self.step += 1
            if self.step % self.window == 0:
                avg = torch.where(self.count > 0, self.acc / self.count.clamp(min=1), self.prev[1])
                self.prev[0], self.prev[1] = self.prev[1].clone(), avg
                self.acc.zero_()
                self.count.zero_()
                self.windows += 1
        return out
