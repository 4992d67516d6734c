"""Mel task, the acoustic model: expand phoneme vectors by their durations and decode
mel frames with a transformer. Loss: L1 on normalised log-mel."""

from __future__ import annotations

import torch
from torch import nn

from mtts.config import ModelConfig
from mtts.layers import Transformer
from mtts.tasks.base import Task, expand, masked_mean


class MelTask(Task):
    name = "mel"
    needs = ("feats",)

    def __init__(self, model: ModelConfig, n_mels: int):
        super().__init__(model, n_mels)
        self.decoder = Transformer(model.d_model, model.decoder_layers, model.n_heads,
                                   model.ff_mult, model.ff_kernel, model.dropout)
        self.proj = nn.Linear(model.d_model, n_mels)

    def _decode(self, ctx: dict, max_frames: int | None) -> dict[str, torch.Tensor]:
        x, mask = expand(ctx["h_dec"], ctx["durations"], max_frames)   # (B, T, D)
        states = self.decoder(x, mask)
        mel = self.proj(states).masked_fill(~mask[..., None], 0.0)       # (B, T, M)
        ctx["dec_states"], ctx["mel_pred"] = states, mel                 # for the recognition task
        return {"mel": mel, "mask": mask}

    def forward(self, ctx: dict, batch: dict) -> dict[str, torch.Tensor]:
        return self._decode(ctx, batch["feats"].shape[1])

    def infer(self, ctx: dict, **_) -> dict[str, torch.Tensor]:
        return self._decode(ctx, None)

    def loss(self, pred: dict, batch: dict, ctx: dict) -> torch.Tensor:
        return masked_mean((pred["mel"] - batch["feats"]).abs(), ctx["feats_mask"])

    @torch.no_grad()
    def metrics(self, pred: dict, batch: dict, ctx: dict) -> dict[str, float]:
        l2 = masked_mean((pred["mel"] - batch["feats"]) ** 2, ctx["feats_mask"])
        return {"mel_l1": float(self.loss(pred, batch, ctx)), "mel_l2": float(l2)}
