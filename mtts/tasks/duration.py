"""Duration task: predict each phoneme's frame count (log domain) from the encoder.

Targets are the alignment task's MAS durations. The predictor reads the encoder output
with gradients stopped, so duration errors do not pull the shared text encoding, plus the
speaker embedding in a multi-speaker model (each voice has its own timing).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mtts.config import ModelConfig
from mtts.layers import ConvPredictor
from mtts.tasks.base import Context, Dims, Task, masked_mean, with_speaker


class DurationTask(Task):
    name = "duration"
    stage = "align"
    needs = ("feats",)  # targets come from the alignment of the mel frames
    reads = ("h", "text_mask", "durations", "speaker")
    infer_reads = ("h", "text_mask", "speaker")
    infer_writes = ("durations",)

    def __init__(self, model: ModelConfig, dims: Dims, hidden: int = 256, detach: bool = True):
        super().__init__(model, dims)
        self.predictor = ConvPredictor(model.d_model, hidden)
        self.detach = detach
        self.shares_encoder = not detach  # gradient methods leave a detached task out of the Jacobian

    def _predict(self, ctx: Context) -> torch.Tensor:
        h = ctx.h.detach() if self.detach else ctx.h
        return self.predictor(with_speaker(h, ctx), ctx.text_mask)   # (B, N) log(1 + frames)

    def forward(self, ctx: Context, batch: dict) -> dict[str, torch.Tensor]:
        return {"log_dur": self._predict(ctx)}

    def infer(self, ctx: Context, length_scale: float = 1.0, **_) -> dict[str, torch.Tensor]:
        log_dur = self._predict(ctx)
        dur = torch.clamp(torch.round((torch.exp(log_dur) - 1) * length_scale), min=0).long()
        dur = dur.masked_fill(~ctx.text_mask, 0)
        dur[:, 0] = dur[:, 0].clamp(min=1)  # never an empty utterance
        ctx.durations = dur
        return {"log_dur": log_dur, "durations": dur}

    def loss(self, pred: dict, batch: dict, ctx: Context) -> torch.Tensor:
        target = torch.log1p(ctx.durations.float())
        return masked_mean(F.mse_loss(pred["log_dur"], target, reduction="none"), ctx.text_mask)

    @torch.no_grad()
    def metrics(self, pred: dict, batch: dict, ctx: Context) -> dict[str, float]:
        frames = torch.clamp(torch.round(torch.exp(pred["log_dur"]) - 1), min=0)
        err = (frames - ctx.durations.float()).abs()
        return {"duration_mae_frames": float(masked_mean(err, ctx.text_mask))}
