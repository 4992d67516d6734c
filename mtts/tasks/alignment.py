"""Alignment task: learn text-to-frame alignment inside the model (no external aligner).

The encoder predicts a Gaussian mean `mu` per phoneme (Glow-TTS). The log-likelihood
of each mel frame under each phoneme's Gaussian, plus a beta-binomial diagonal prior,
gives a soft attention trained with the forward-sum (CTC) loss of "One TTS Alignment
to Rule Them All"; monotonic alignment search on it gives hard durations. In a multi-speaker
model the means are predicted from h plus the speaker embedding: the same phoneme's frames
differ between voices.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from monotonic_alignment_search import maximum_path
from torch import nn

from mtts.config import ModelConfig
from mtts.precision import full_precision
from mtts.tasks.base import Context, Dims, Task, masked_mean, utterance_mean, with_speaker


def beta_binomial_log_prior(text_lens: torch.Tensor, feats_lens: torch.Tensor, N: int, T: int,
                            scaling: float = 1.0) -> torch.Tensor:
    """log P(token k | frame j) of a beta-binomial centred on the diagonal, (B, N, T)."""
    out = torch.full((len(text_lens), N, T), -1e4)   # on the CPU: per-utterance loops of small ops
    for b, (n, t) in enumerate(zip(text_lens.tolist(), feats_lens.tolist())):
        k = torch.arange(n, dtype=torch.float64)[:, None]           # (n, 1)
        j = torch.arange(1, t + 1, dtype=torch.float64)[None, :]    # (1, t)
        a, bb = scaling * j, scaling * (t + 1 - j)
        m = n - 1

        def lbeta(x, y):
            return torch.lgamma(x) + torch.lgamma(y) - torch.lgamma(x + y)

        logp = (math.lgamma(m + 1) - torch.lgamma(k + 1) - torch.lgamma(m - k + 1)
                + lbeta(k + a, m - k + bb) - lbeta(a, bb))
        out[b, :n, :t] = logp.float()
    return out


def forward_sum_loss(log_attn: torch.Tensor, text_lens: torch.Tensor, feats_lens: torch.Tensor,
                     blank_logprob: float = -1.0) -> torch.Tensor:
    """CTC over frames with targets 1..N: every monotonic path through the text counts.
    log_attn (B, N, T) unnormalised scores, padding already at -inf-like values."""
    B, N, T = log_attn.shape
    scores = F.pad(log_attn.transpose(1, 2), (1, 0), value=blank_logprob)  # (B, T, N+1)
    logp = F.log_softmax(scores, dim=-1).transpose(0, 1)                   # (T, B, N+1)
    targets = torch.arange(1, N + 1, device=logp.device)[None].expand(B, N)
    loss = F.ctc_loss(logp, targets, feats_lens, text_lens, blank=0, reduction="none",
                      zero_infinity=True)
    return utterance_mean(loss / text_lens.clamp(min=1))


class AlignmentTask(Task):
    name = "alignment"
    stage = "align"
    needs = ("feats",)
    reads = ("h", "text_mask", "feats_mask", "speaker")
    writes = ("durations",)

    def __init__(self, model: ModelConfig, dims: Dims, prior_scaling: float = 1.0,
                 mle_weight: float = 1.0, temperature: float = 0.1):
        super().__init__(model, dims)
        self.temperature = temperature  # scales the log-likelihood against the prior
        self.proj = nn.Linear(model.d_model, dims.n_mels)
        self.prior_scaling = prior_scaling
        self.mle_weight = mle_weight

    def forward(self, ctx: Context, batch: dict) -> dict[str, torch.Tensor]:
        h, text_mask = ctx.h, ctx.text_mask
        y, feats_mask = batch["feats"], ctx.feats_mask
        # float32 even under bf16 autocast: the likelihood is a difference of large sums, and
        # bf16 rounding of it would move the alignment MAS finds
        with full_precision(h.device.type):
            mu = self.proj(with_speaker(h, ctx).float())                # (B, N, M)
            # Gaussian log-likelihood with unit variance, up to a constant: (B, N, T)
            loglik = -0.5 * ((mu ** 2).sum(-1)[:, :, None] - 2 * mu @ y.transpose(1, 2)
                             + (y ** 2).sum(-1)[:, None, :]) * self.temperature
        pair = text_mask[:, :, None] & feats_mask[:, None, :]
        prior = beta_binomial_log_prior(batch["text_lens"], batch["feats_lens"], h.shape[1],
                                        y.shape[1], self.prior_scaling).to(loglik)
        scores = (loglik + prior).masked_fill(~pair, -1e4)
        with torch.no_grad():
            path = maximum_path(scores.detach().float().contiguous(), pair.contiguous())
        durations = path.sum(-1).long()                                  # (B, N)
        ctx.durations = durations
        return {"mu": mu, "scores": scores, "path": path, "durations": durations}

    def loss(self, pred: dict, batch: dict, ctx: Context) -> torch.Tensor:
        fs = forward_sum_loss(pred["scores"], batch["text_lens"], batch["feats_lens"])
        mu_frames = pred["path"].transpose(1, 2).to(pred["mu"]) @ pred["mu"]   # (B, T, M)
        mle = 0.5 * masked_mean((batch["feats"] - mu_frames) ** 2, ctx.feats_mask)
        return fs + self.mle_weight * mle

    @torch.no_grad()
    def metrics(self, pred: dict, batch: dict, ctx: Context) -> dict[str, float]:
        fs = forward_sum_loss(pred["scores"], batch["text_lens"], batch["feats_lens"])
        return {"forward_sum": float(fs)}
