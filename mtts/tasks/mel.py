"""Mel task, the acoustic model: decode mel frames with a transformer from the phoneme
vectors the model has expanded by their durations. Loss: L1 on normalised log-mel."""

from __future__ import annotations

import torch
from torch import nn

from mtts.config import ModelConfig
from mtts.layers import Transformer
from mtts.tasks.base import Context, Dims, Task, masked_mean


class MelTask(Task):
    name = "mel"
    stage = "decode"
    needs = ("feats",)
    reads = ("frames", "frames_mask", "feats_mask")
    writes = ("dec_states", "mel_pred")
    infer_reads = ("frames", "frames_mask")
    infer_writes = ("dec_states", "mel_pred")

    def __init__(self, model: ModelConfig, dims: Dims):
        super().__init__(model, dims)
        self.decoder = Transformer(model.d_model, model.decoder_layers, model.n_heads,
                                   model.ff_mult, model.ff_kernel, model.dropout,
                                   position_jitter=model.decoder_position_jitter)
        self.proj = nn.Linear(model.d_model, dims.n_mels)

    def _decode(self, ctx: Context) -> dict[str, torch.Tensor]:
        x, mask = ctx.frames, ctx.frames_mask                            # (B, T, D)
        states = self.decoder(x, mask)
        mel = self.proj(states).masked_fill(~mask[..., None], 0.0)       # (B, T, M)
        ctx.dec_states, ctx.mel_pred = states, mel                       # for the recognition task
        return {"mel": mel, "mask": mask}

    def forward(self, ctx: Context, batch: dict) -> dict[str, torch.Tensor]:
        return self._decode(ctx)

    def infer(self, ctx: Context, **_) -> dict[str, torch.Tensor]:
        return self._decode(ctx)

    def loss(self, pred: dict, batch: dict, ctx: Context) -> torch.Tensor:
        return masked_mean((pred["mel"] - batch["feats"]).abs(), ctx.feats_mask)

    @torch.no_grad()
    def metrics(self, pred: dict, batch: dict, ctx: Context) -> dict[str, float]:
        l2 = masked_mean((pred["mel"] - batch["feats"]) ** 2, ctx.feats_mask)
        return {"mel_l1": float(self.loss(pred, batch, ctx)), "mel_l2": float(l2)}
