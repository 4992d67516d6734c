"""Phoneme recognition from the acoustic side: CTC from the mel decoder's hidden states
(or from the predicted mel) back to the phoneme sequence (the characters in a
character-input model: the sequence the encoder read).

A known regulariser for intelligibility: frames that cannot be read back as the right
phonemes are penalised even where their L1 distance to the target is small.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtts.config import ModelConfig
from mtts.tasks.base import Context, Dims, MelFront, Task, utterance_mean
from mtts.tasks.g2p import G2PTask


class RecognitionTask(Task):
    name = "recognition"
    stage = "auxiliary"
    needs = ("feats",)   # runs on the frames the mel task decodes for this batch

    def __init__(self, model: ModelConfig, dims: Dims, source: str = "decoder"):
        super().__init__(model, dims)
        if source not in ("decoder", "mel"):
            raise TypeError(f"recognition source must be 'decoder' or 'mel', got {source!r}")
        self.source = source
        self.reads = ("mel_pred", "frames_mask") if source == "mel" else ("dec_states",)
        n_mels, n_tokens = dims.n_mels, dims.n_text   # it reads back the encoder's input: phonemes or characters
        d = model.d_model
        # from the predicted mel a small conv stack first sees some context
        self.front = MelFront(n_mels, d) if source == "mel" else None
        self.proj = nn.Linear(d, n_tokens)

    def forward(self, ctx: Context, batch: dict) -> dict[str, torch.Tensor]:
        if self.source == "mel":
            x = self.front(ctx.mel_pred, ctx.frames_mask)
        else:
            x = ctx.dec_states
        log_probs = F.log_softmax(self.proj(x), dim=-1)               # (B, T, V)
        return {"log_probs": log_probs, "lens": batch["feats_lens"]}

    def loss(self, pred: dict, batch: dict, ctx: Context) -> torch.Tensor:
        loss = F.ctc_loss(pred["log_probs"].transpose(0, 1), batch["text"], pred["lens"], batch["text_lens"],
                          blank=0, reduction="none", zero_infinity=True)
        return utterance_mean(loss / batch["text_lens"].clamp(min=1))

    @torch.no_grad()
    def metrics(self, pred: dict, batch: dict, ctx: Context) -> dict[str, float]:
        return {"recognition_per": G2PTask.phoneme_error_rate(pred, batch["text"], batch["text_lens"])}
