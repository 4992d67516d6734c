"""GradNorm (Chen et al., 2018): learn λ_i so that every task's gradient norm at the
shared representation grows with its relative inverse training rate.

G_i = ‖∇_h λ_i L_i‖ at the encoder output h; r_i = (L_i / L_i(0)) / mean_j(L_j / L_j(0));
the weights follow ∇_λ Σ |G_i − mean(G) · r_i^α| and are renormalised to sum to the
number of tasks that reach h. Tasks whose loss does not reach h keep w = 1, i.e. their
static weight: a detached duration predictor, and g2p, which reaches the encoder through
the character pass h_chars, where its gradient norm measures another tensor than the
others' and cannot be balanced against them.

Under several processes G_i is the norm over the global batch, sqrt of the sum of every
process's squared norm at its share of h, and the loss ratios are the global losses', so w
gets the same gradient everywhere."""

from __future__ import annotations

import torch
from torch import nn

from mtts import distributed
from mtts.mtl.base import WeightingMethod


class GradNorm(WeightingMethod):
    name = "gradnorm"

    def __init__(self, weights: dict[str, float], alpha: float = 1.5):
        super().__init__(weights)
        self.alpha = alpha
        self.w = nn.ParameterDict({k: nn.Parameter(torch.ones(())) for k in weights})
        self.register_buffer("initial", torch.zeros(len(weights)))
        self.names = list(weights)

    def backward(self, losses: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]) -> dict[str, float]:
        balanced = [k for k in self.names if self.route(k) == "h"]
        with torch.no_grad():  # Σ w = number of balanced tasks (the paper's renormalisation)
            total_w = sum(self.w[k] for k in balanced)
            for k in balanced:   # the others never get a gradient: left out, they stay at 1
                self.w[k].mul_(len(balanced) / total_w)
        tasks = [k for k in losses if self.route(k) == "h"]
        glob = self.global_losses(losses)
        for k in tasks:
            i = self.names.index(k)
            if self.initial[i] == 0:
                self.initial[i] = glob[k]
        # per-task gradient norms at h over the global batch (one all-reduce), differentiable in w
        norms = []
        if tasks:
            sq = torch.stack([torch.autograd.grad(losses[k], shared["h"], retain_graph=True)[0].float().pow(2).sum()
                              for k in tasks])
            g_norms = distributed.all_sum(sq).sqrt()
            norms = [self.w[k] * self.static[k] * g_norms[j] for j, k in enumerate(tasks)]
        if norms:
            norms_t = torch.stack(norms)
            ratio = torch.stack([glob[k] / self.initial[self.names.index(k)] for k in tasks])
            target = (norms_t.mean() * (ratio / ratio.mean()) ** self.alpha).detach()
            gn_loss = (norms_t - target).abs().sum()
            w_grads = torch.autograd.grad(gn_loss, [self.w[k] for k in tasks])
        weights = {k: self.w[k].detach() * self.static[k] for k in losses}
        out = self.weighted_sum(losses, weights)
        if norms:
            for k, g in zip(tasks, w_grads):  # the optimiser steps w with these gradients alone
                self.w[k].grad = g
        return out
