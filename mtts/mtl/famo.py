"""FAMO, fast adaptive multitask optimisation (Liu et al., 2023): minimise Σ z_i log L_i
with z = softmax(ξ), and move ξ so that all log-losses fall at a similar rate.

The paper updates ξ with the loss change on the same batch after the model step; here
the change is measured between consecutive steps (the next batch), which costs no
extra forward pass."""

from __future__ import annotations

import torch
from torch import nn

from mtts.mtl.base import WeightingMethod


class FAMO(WeightingMethod):
    name = "famo"

    def __init__(self, weights: dict[str, float], w_lr: float = 0.025, gamma: float = 0.01):
        super().__init__(weights)
        self.names = list(weights)
        self.logits = nn.Parameter(torch.zeros(len(self.names)), requires_grad=False)
        self.register_buffer("prev", torch.zeros(len(self.names)))
        self.register_buffer("has_prev", torch.zeros(len(self.names), dtype=torch.bool))
        self.w_lr, self.gamma = w_lr, gamma
        self.register_buffer("adam_m", torch.zeros(len(self.names)))
        self.register_buffer("adam_v", torch.zeros(len(self.names)))
        self.register_buffer("adam_t", torch.zeros(()))

    def _update_logits(self, losses: dict[str, torch.Tensor]) -> None:
        idx = [self.names.index(k) for k in losses if self.has_prev[self.names.index(k)]]
        if not idx:
            return
        cur = torch.stack([losses[self.names[i]].detach() for i in idx]).clamp(min=1e-8)
        delta = torch.zeros(len(self.names))
        delta[idx] = self.prev[idx].clamp(min=1e-8).log() - cur.log()
        with torch.enable_grad():
            xi = self.logits.detach().requires_grad_(True)
            grad = torch.autograd.grad(torch.softmax(xi, 0), xi, grad_outputs=delta)[0]
        grad = grad + self.gamma * self.logits.detach()       # the paper's weight decay on ξ
        self.adam_t += 1                                        # Adam, as in the reference code
        self.adam_m.mul_(0.9).add_(0.1 * grad)
        self.adam_v.mul_(0.999).add_(0.001 * grad ** 2)
        m_hat = self.adam_m / (1 - 0.9 ** self.adam_t)
        v_hat = self.adam_v / (1 - 0.999 ** self.adam_t)
        self.logits.data -= self.w_lr * m_hat / (v_hat.sqrt() + 1e-8)

    def backward(self, losses: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]) -> dict[str, float]:
        with torch.no_grad():
            self._update_logits(losses)
        idx = [self.names.index(k) for k in losses]
        z = torch.softmax(self.logits.detach()[idx], 0)
        L = torch.stack([losses[k] for k in losses]).clamp(min=1e-8)
        c = (z / L.detach()).sum()
        # ∇ of Σ z_i log L_i / c equals Σ (z_i / (c L_i)) ∇L_i: a weighted sum with these weights
        weights = {k: float(z[j] / (c * L[j].detach())) * self.static[k] for j, k in enumerate(losses)}
        out = self.weighted_sum(losses, weights)
        with torch.no_grad():
            for k in losses:
                i = self.names.index(k)
                self.prev[i] = losses[k].detach()
                self.has_prev[i] = True
        return out
