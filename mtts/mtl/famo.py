"""FAMO, fast adaptive multitask optimisation (Liu et al., 2023): minimise Σ z_i log L_i
with z = softmax(ξ), and move ξ so that all log-losses fall at a similar rate.

As in the paper and its reference code, ξ moves with the change of each loss on the same
batch across the model's step: `after_step` recomputes the batch's losses without
gradients (one more forward pass per step). torchjd.scalarization.FAMO computes the same,
but for a fixed set of tasks; here a batch may carry a subset (a lexicon batch has only
g2p), the static λ_i scale the weights and the state (ξ, its Adam moments) is in the
state_dict. tests/test_mtl.py checks both give the same weights and ξ. Under several
processes the weights and ξ follow the global batch's losses (`global_losses`), so they
are the same everywhere."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from mtts.mtl.base import WeightingMethod


class FAMO(WeightingMethod):
    name = "famo"

    def __init__(self, weights: dict[str, float], w_lr: float = 0.025, gamma: float = 0.01):
        super().__init__(weights)
        self.names = list(weights)
        self.logits = nn.Parameter(torch.zeros(len(self.names)), requires_grad=False)
        self.w_lr, self.gamma = w_lr, gamma
        self.register_buffer("adam_m", torch.zeros(len(self.names)))
        self.register_buffer("adam_v", torch.zeros(len(self.names)))
        self.register_buffer("adam_t", torch.zeros(()))
        self.before: dict[str, torch.Tensor] = {}   # this step's losses, until after_step

    def _update_logits(self, before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> None:
        idx = [self.names.index(k) for k in before if k in after]
        if not idx:
            return
        delta = torch.zeros(len(self.names), device=self.logits.device)
        for i in idx:
            k = self.names[i]
            delta[i] = before[k].clamp(min=1e-8).log() - after[k].detach().float().clamp(min=1e-8).log()
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
        idx = [self.names.index(k) for k in losses]
        z = torch.softmax(self.logits.detach()[idx], 0)
        glob = self.global_losses(losses)
        L = torch.stack([glob[k] for k in losses]).clamp(min=1e-8)
        c = (z / L).sum()
        # ∇ of Σ z_i log L_i / c equals Σ (z_i / (c L_i)) ∇L_i: a weighted sum with these weights
        weights = {k: float(z[j] / (c * L[j])) * self.static[k] for j, k in enumerate(losses)}
        out = self.weighted_sum(losses, weights)
        self.before = glob
        return out

    def after_step(self, losses_now: Callable[[], dict[str, torch.Tensor]]) -> None:
        if self.before:
            with torch.no_grad():
                self._update_logits(self.before, self.global_losses(losses_now()))
            self.before = {}
