"""Pitch and energy tasks: phoneme-level prosody predicted from the encoder (FastPitch).

Targets are frame values averaged over each phoneme's aligned frames (F0 over the voiced
ones; 0, the mean, for a phoneme with none). An embedding of the target (training) or the
prediction (synthesis) is added to the decoder input `h_dec`, and the predictor learns
every value the decoder is fed, so the two agree. In a multi-speaker model the predictor
reads the encoder output plus the speaker embedding (each voice has its own melody).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtts.config import ModelConfig
from mtts.layers import ConvPredictor
from mtts.tasks.base import Context, Dims, Task, masked_mean, phoneme_average, with_speaker


class VarianceTask(Task):
    key: str = ""
    stage = "variance"
    reads = ("h", "text_mask", "durations", "h_dec", "speaker")
    writes = ("h_dec",)
    infer_reads = ("h", "text_mask", "h_dec", "speaker")
    infer_writes = ("h_dec",)

    def __init__(self, model: ModelConfig, dims: Dims, hidden: int = 256):
        super().__init__(model, dims)
        self.predictor = ConvPredictor(model.d_model, hidden)
        self.embed = nn.Conv1d(1, model.d_model, 3, padding=1)

    def target(self, batch: dict, ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
        """Phoneme-level normalised target (B, N) and where it is defined (B, N)."""
        raise NotImplementedError

    def _add(self, ctx: Context, values: torch.Tensor) -> None:
        emb = self.embed(values[:, None, :]).transpose(1, 2)          # (B, N, D)
        ctx.h_dec = ctx.h_dec + emb.masked_fill(~ctx.text_mask[..., None], 0.0)

    def forward(self, ctx: Context, batch: dict) -> dict[str, torch.Tensor]:
        pred = self.predictor(with_speaker(ctx.h, ctx), ctx.text_mask)
        target, defined = self.target(batch, ctx)
        self._add(ctx, target)
        return {"pred": pred, "target": target, "defined": defined}

    def infer(self, ctx: Context, **_) -> dict[str, torch.Tensor]:
        pred = self.predictor(with_speaker(ctx.h, ctx), ctx.text_mask)
        self._add(ctx, pred)
        return {"pred": pred}

    def loss(self, pred: dict, batch: dict, ctx: Context) -> torch.Tensor:
        return masked_mean(F.mse_loss(pred["pred"], pred["target"], reduction="none"), self.trained(pred, ctx))

    def trained(self, pred: dict, ctx: Context) -> torch.Tensor:
        """Where the predictor learns: where the decoder is fed the target in training."""
        return pred["defined"]


class PitchTask(VarianceTask):
    name = "pitch"
    needs = ("feats", "pitch")

    def __init__(self, model: ModelConfig, dims: Dims, hidden: int = 256,
                 mean: float | None = None, std: float | None = None):
        super().__init__(model, dims, hidden)
        # train-set F0 stats (Hz), from the model's dims unless the config sets them; saved in checkpoints
        self.register_buffer("stats", torch.tensor([dims.pitch_mean if mean is None else mean,
                                                    dims.pitch_std if std is None else std]))

    def target(self, batch: dict, ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
        f0 = batch["pitch"]
        voiced = f0 > 0
        avg, count = phoneme_average(f0, ctx.durations, voiced)
        defined = (count > 0) & ctx.text_mask
        norm = ((avg - self.stats[0]) / self.stats[1]).masked_fill(~defined, 0.0)
        return norm, defined

    def trained(self, pred: dict, ctx: Context) -> torch.Tensor:
        # A phoneme with no voiced frame is fed 0 (the mean) in training, so the predictor
        # learns 0 there too (as FastPitch does): at synthesis the decoder then gets what it
        # was trained on, not an untrained prediction. The F0 metric stays on voiced phonemes.
        return ctx.text_mask

    @torch.no_grad()
    def metrics(self, pred: dict, batch: dict, ctx: Context) -> dict[str, float]:
        err = ((pred["pred"] - pred["target"]) * self.stats[1]) ** 2
        return {"f0_rmse_hz": float(masked_mean(err, pred["defined"]).sqrt())}


class EnergyTask(VarianceTask):
    name = "energy"
    needs = ("feats", "energy")

    def target(self, batch: dict, ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
        avg, count = phoneme_average(batch["energy"], ctx.durations)
        defined = (count > 0) & ctx.text_mask
        return avg.masked_fill(~defined, 0.0), defined

    @torch.no_grad()
    def metrics(self, pred: dict, batch: dict, ctx: Context) -> dict[str, float]:
        return {"energy_mae": float(masked_mean((pred["pred"] - pred["target"]).abs(), pred["defined"]))}
