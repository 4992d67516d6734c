"""The task interface: each task owns its head, loss and metrics.

The model runs the tasks stage by stage (`STAGES`; within a stage in the order of the
`TASKS` table) over one `Context`. Each task declares the context fields it reads and
writes, in training (`reads`, `writes`) and at synthesis (`infer_reads`, `infer_writes`);
the model checks at build that every field a task reads is written before it (by the
model's own steps or an earlier task).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from mtts.config import ModelConfig

# the pipeline, in order: durations at phoneme rate, prosody added to the decoder input,
# frames decoded, then heads that only read what the others produced
STAGES = ("align", "variance", "decode", "auxiliary")


@dataclass
class Context:
    """What the model and its tasks pass on within one forward pass; None until written."""
    text_mask: torch.Tensor | None = None    # (B, N) valid input tokens        (model: encode)
    h: torch.Tensor | None = None            # (B, N, D) encoder output, shared (model: encode)
    h_dec: torch.Tensor | None = None        # (B, N, D) decoder input: h + prosody embeddings
    feats_mask: torch.Tensor | None = None   # (B, T) valid target frames       (model, training)
    durations: torch.Tensor | None = None    # (B, N) frames per input token: MAS in training, predicted at synthesis
    frames: torch.Tensor | None = None       # (B, T, D) h_dec repeated by durations (model: length regulator)
    frames_mask: torch.Tensor | None = None  # (B, T)
    dec_states: torch.Tensor | None = None   # (B, T, D) mel decoder hidden states
    mel_pred: torch.Tensor | None = None     # (B, T, M) predicted normalised log-mel
    h_chars: torch.Tensor | None = None      # (B, C, D) encoder output on characters (model; h itself
                                             # in a character-input model)
    chars_mask: torch.Tensor | None = None   # (B, C)
    speaker: torch.Tensor | None = None      # (B, D) speaker embedding (model: encode; None with one speaker)


@dataclass(frozen=True)
class Dims:
    """What a model is built for besides its config, given to every task."""
    n_tokens: int                 # phoneme vocabulary (CTC targets)
    n_mels: int
    pitch_mean: float = 0.0       # train-set voiced F0 statistics (Hz)
    pitch_std: float = 1.0
    n_chars: int = 0              # character vocabulary (0: none)
    input: str = "phones"         # what the encoder reads (data.input): "phones" or "chars"
    n_speakers: int = 0           # speakers of the model's speaker table (0: one speaker, no table)

    @property
    def n_text(self) -> int:
        """The vocabulary of the encoder's input ids (batch `text`)."""
        return self.n_chars if self.input == "chars" else self.n_tokens


class Task(nn.Module):
    name: ClassVar[str]
    stage: ClassVar[str]
    needs: ClassVar[tuple[str, ...]] = ()          # batch keys the task reads
    reads: tuple[str, ...] = ()                    # Context fields read in training (forward, loss, metrics)
    writes: tuple[str, ...] = ()                   # Context fields written in training
    infer_reads: tuple[str, ...] = ()              # the same at synthesis (infer)
    infer_writes: tuple[str, ...] = ()
    shares_encoder: bool = True              # False when the loss never reaches the encoder
    encoder_output: str = "h"                # the encoder output its loss flows back through: h or h_chars

    def __init__(self, model: ModelConfig, dims: Dims, **opts):
        super().__init__()
        if opts:
            raise TypeError(f"unknown option(s) for task '{self.name}': {', '.join(opts)}")

    def forward(self, ctx: Context, batch: dict) -> dict[str, torch.Tensor]:
        """Teacher-forced predictions for training and evaluation."""
        raise NotImplementedError

    def infer(self, ctx: Context, **controls) -> dict[str, torch.Tensor]:
        """Predictions from text alone (synthesis); tasks without one return {}."""
        return {}

    def loss(self, pred: dict, batch: dict, ctx: Context) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def metrics(self, pred: dict, batch: dict, ctx: Context) -> dict[str, float]:
        return {}


def with_speaker(h: torch.Tensor, ctx: Context) -> torch.Tensor:
    """h (B, N, D) with the speaker embedding added at every valid token: what the aligner and
    the duration and prosody predictors read, so that each speaker gets its own timing and
    melody (the shared h itself stays free of the speaker). h itself with one speaker."""
    if ctx.speaker is None:
        return h
    return (h + ctx.speaker[:, None, :]).masked_fill(~ctx.text_mask[..., None], 0.0)


# How a loss's denominator (frames, tokens, utterances) is counted: None, over this batch.
# Several training processes each hold a share of one global batch; the trainer then sets a
# function that returns the count over the whole global batch, so each process's loss is its
# share's sum over the global count, the shares' losses add up to the global batch's mean and
# their summed gradients are its gradient, whatever the number of processes.
_denominator: Callable[[torch.Tensor], torch.Tensor] | None = None


@contextlib.contextmanager
def global_denominators(count: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Within this block, loss denominators are `count(local count)` (mtts.train sets it)."""
    global _denominator
    old, _denominator = _denominator, count
    try:
        yield
    finally:
        _denominator = old


def denominator(count: torch.Tensor) -> torch.Tensor:
    return count if _denominator is None else _denominator(count)


class MelFront(nn.Sequential):
    """Two 5-wide convolutions with ReLUs over a mel (B, T, n_mels) -> (B, T, d), padded
    frames zeroed before each: a frame next to the end of an utterance then sees zeros past
    it however long the batch's padding is, so an utterance's features do not depend on
    which utterances share its batch (nor, under several processes, on its rank's share)."""

    def __init__(self, n_mels: int, d: int):
        super().__init__(nn.Conv1d(n_mels, d, 5, padding=2), nn.ReLU(), nn.Conv1d(d, d, 5, padding=2), nn.ReLU())

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask[:, None, :].to(x.dtype)
        x = x.transpose(1, 2)
        for layer in self:
            x = layer(x * keep if isinstance(layer, nn.Conv1d) else x)
        return x.transpose(1, 2)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x over positions where mask (broadcast to x) is True."""
    mask = mask.to(x.dtype)
    while mask.dim() < x.dim():
        mask = mask.unsqueeze(-1)
    mask = mask.expand_as(x)
    return (x * mask).sum() / denominator(mask.sum()).clamp(min=1.0)


def utterance_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of per-utterance values (B,) over the batch's utterances."""
    return x.sum() / denominator(torch.tensor(float(x.shape[0]), device=x.device)).clamp(min=1.0)


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
