"""Speaker tasks of a multi-speaker model (DATA/train/spk2id with two or more speakers).

`speaker`: classify the utterance's speaker from the acoustic side, the predicted mel
(`source: mel`, a speaker-consistency loss: the output must sound like its voice) or the mel
decoder's states (`source: decoder`).

`speaker_adversarial`: classify the speaker from the shared text encoding h through a
gradient-reversal layer (Ganin & Lempitsky, 2015): the classifier learns to find the
speaker in h while the encoder gets the reversed gradient, scaled by `scale`, and learns
text features that carry no speaker (the speaker comes in through the speaker embedding).
Its accuracy near chance (1 / speakers) is what it aims at.

Both read batch `speaker`, pool over valid positions and put a small MLP on top.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtts.config import ModelConfig
from mtts.errors import MttsError
from mtts.tasks.base import Context, Dims, MelFront, Task, utterance_mean


class GradientReversal(torch.autograd.Function):
    """Identity forward; the gradient times -scale backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    return GradientReversal.apply(x, scale)


def pooled(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x (B, T, D) over its valid positions (B, T) -> (B, D)."""
    m = mask.to(x.dtype)[..., None]
    return (x * m).sum(1) / m.sum(1).clamp(min=1.0)


def check_speakers(name: str, dims: Dims) -> None:
    if dims.n_speakers < 2:
        raise MttsError(f"task '{name}' needs a multi-speaker corpus (DATA/train/spk2id with 2 or more "
                        "speakers: metadata.csv's 4th column); this data has one speaker")


class SpeakerClassifier(nn.Module):
    def __init__(self, d: int, hidden: int, n_speakers: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, n_speakers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.net(pooled(x, mask))                                # (B, n_speakers)


def accuracy(logits: torch.Tensor, speaker: torch.Tensor) -> float:
    return float((logits.argmax(-1) == speaker).float().mean())


class SpeakerTask(Task):
    name = "speaker"
    stage = "auxiliary"
    needs = ("feats", "speaker")

    def __init__(self, model: ModelConfig, dims: Dims, hidden: int = 256, source: str = "mel"):
        super().__init__(model, dims)
        check_speakers(self.name, dims)
        if source not in ("mel", "decoder"):
            raise MttsError(f"config key 'tasks.speaker.source' must be 'mel' or 'decoder', got {source!r}")
        self.source = source
        self.reads = ("mel_pred", "frames_mask") if source == "mel" else ("dec_states", "frames_mask")
        d = model.d_model
        # from the predicted mel a small conv stack first sees some context (as recognition's)
        self.front = MelFront(dims.n_mels, d) if source == "mel" else None
        self.head = SpeakerClassifier(d, hidden, dims.n_speakers)

    def forward(self, ctx: Context, batch: dict) -> dict[str, torch.Tensor]:
        x = self.front(ctx.mel_pred, ctx.frames_mask) if self.source == "mel" else ctx.dec_states
        return {"logits": self.head(x, ctx.frames_mask)}

    def loss(self, pred: dict, batch: dict, ctx: Context) -> torch.Tensor:
        # per utterance, then over the global batch's utterances (several training processes)
        return utterance_mean(F.cross_entropy(pred["logits"].float(), batch["speaker"], reduction="none"))

    @torch.no_grad()
    def metrics(self, pred: dict, batch: dict, ctx: Context) -> dict[str, float]:
        return {"speaker_acc": accuracy(pred["logits"], batch["speaker"])}


class SpeakerAdversarialTask(Task):
    name = "speaker_adversarial"
    stage = "auxiliary"
    needs = ("feats", "speaker")
    reads = ("h", "text_mask")
    # its loss reaches the encoder through h, reversed: gradient methods see it as one more task
    # at h, one that by design conflicts with the others (docs/speakers.md)

    def __init__(self, model: ModelConfig, dims: Dims, hidden: int = 256, scale: float = 1.0):
        super().__init__(model, dims)
        check_speakers(self.name, dims)
        if isinstance(scale, bool) or not (isinstance(scale, (int, float)) and 0 <= scale < float("inf")):
            raise MttsError(f"config key 'tasks.speaker_adversarial.scale' must be a finite number >= 0, got {scale!r}")
        self.scale = float(scale)
        self.head = SpeakerClassifier(model.d_model, hidden, dims.n_speakers)

    def forward(self, ctx: Context, batch: dict) -> dict[str, torch.Tensor]:
        return {"logits": self.head(reverse_gradient(ctx.h, self.scale), ctx.text_mask)}

    def loss(self, pred: dict, batch: dict, ctx: Context) -> torch.Tensor:
        # per utterance, then over the global batch's utterances (several training processes)
        return utterance_mean(F.cross_entropy(pred["logits"].float(), batch["speaker"], reduction="none"))

    @torch.no_grad()
    def metrics(self, pred: dict, batch: dict, ctx: Context) -> dict[str, float]:
        return {"speaker_adv_acc": accuracy(pred["logits"], batch["speaker"])}
