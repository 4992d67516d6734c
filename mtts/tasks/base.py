"""The task interface: each task owns its head, loss and metrics.

Tasks run in registry order over a shared context `ctx`: the encoder's output `h`
(B, N, D) and `text_mask` (B, N); a task may add to it (alignment writes `durations`,
pitch and energy add their embeddings to `h_dec`, which the mel decoder reads).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from mtts.config import ModelConfig


class Task(nn.Module):
    name: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()   # batch keys the loss reads
    shares_encoder: bool = True              # False when the loss never reaches the encoder

    def __init__(self, model: ModelConfig, n_mels: int, **opts):
        super().__init__()
        if opts:
            raise TypeError(f"unknown option(s) for task '{self.name}': {', '.join(opts)}")

    def forward(self, ctx: dict, batch: dict) -> dict[str, torch.Tensor]:
        """Teacher-forced predictions for training and evaluation."""
        raise NotImplementedError

    def infer(self, ctx: dict, **controls) -> dict[str, torch.Tensor]:
        """Predictions from text alone (synthesis); tasks without one return {}."""
        return {}

    def loss(self, pred: dict, batch: dict, ctx: dict) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def metrics(self, pred: dict, batch: dict, ctx: dict) -> dict[str, float]:
        return {}


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over positions where mask (broadcast to x) is True."""
    mask = mask.to(x.dtype)
    while mask.dim() < x.dim():
        mask = mask.unsqueeze(-1)
    mask = mask.expand_as(x)
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def phoneme_average(frames: torch.Tensor, durations: torch.Tensor, weights: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Average frame values (B, T) over each phoneme's frames -> (B, N), and the
    per-phoneme weight sum (0 where a phoneme has no (weighted) frames)."""
    B, N = durations.shape
    T = frames.shape[1]
    ends = durations.cumsum(1)                                     # (B, N)
    frame_idx = torch.arange(T, device=frames.device)[None].expand(B, T).contiguous()
    token = torch.searchsorted(ends, frame_idx, right=True).clamp(max=N - 1)  # (B, T)
    valid = frame_idx < ends[:, -1:]
    w = valid.to(frames.dtype) if weights is None else weights.to(frames.dtype) * valid
    sums = torch.zeros(B, N, dtype=frames.dtype, device=frames.device).scatter_add_(1, token, frames * w)
    counts = torch.zeros(B, N, dtype=frames.dtype, device=frames.device).scatter_add_(1, token, w)
    return sums / counts.clamp(min=1e-6), counts


def expand(h: torch.Tensor, durations: torch.Tensor, max_frames: int | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Length regulator: repeat each of N vectors durations[i] times.
    h (B, N, D), durations (B, N) int -> (B, T, D) and its frame mask (B, T)."""
    ends = durations.cumsum(1)
    total = ends[:, -1]
    T = int(total.max()) if max_frames is None else max_frames
    T = max(T, 1)
    frame_idx = torch.arange(T, device=h.device)[None].expand(h.shape[0], T).contiguous()
    token = torch.searchsorted(ends, frame_idx, right=True).clamp(max=h.shape[1] - 1)
    out = torch.gather(h, 1, token[..., None].expand(-1, -1, h.shape[2]))
    mask = frame_idx < total[:, None]
    return out.masked_fill(~mask[..., None], 0.0), mask
