"""Discriminators for the vocoder's optional adversarial fine-tuning, sized for a CPU.

`mpd`: multi-period (HiFi-GAN): the waveform folded into (T / p, p) images for several
periods p, so each sees one phase of a periodic signal. `mrd`: multi-resolution (UnivNet,
Vocos): 2-D convolutions over linear STFT magnitudes at three resolutions. Both are the
published designs with narrower channels (`channels`): HiFi-GAN's 32..1024 would cost tens
of seconds per step on two cores; 16..128 costs about as much as the vocoder itself.

Every discriminator returns (logits, feature maps); the losses are the hinge loss and
L1 feature matching of Vocos.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

DISCRIMINATORS = ("mpd", "mrd")


class PeriodDiscriminator(nn.Module):
    def __init__(self, period: int, channels: int):
        super().__init__()
        self.period = period
        chans = [1, channels, channels * 2, channels * 4, channels * 8]
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(cin, cout, (5, 1), (3, 1), (2, 0)))
            for cin, cout in zip(chans[:-1], chans[1:]))
        self.convs.append(weight_norm(nn.Conv2d(chans[-1], chans[-1], (5, 1), 1, (2, 0))))
        self.post = weight_norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, (1, 0)))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        B, T = y.shape
        pad = (-T) % self.period
        x = F.pad(y[:, None], (0, pad), mode="reflect").view(B, 1, (T + pad) // self.period, self.period)
        return run_convs(self.convs, self.post, x)


def run_convs(convs: nn.ModuleList, post: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Leaky-ReLU conv stack, then the output conv: (flat logits, every layer's map)."""
    feats = []
    for conv in convs:
        x = F.leaky_relu(conv(x), 0.1)
        feats.append(x)
    x = post(x)
    feats.append(x)
    return x.flatten(1), feats


class ResolutionDiscriminator(nn.Module):
    def __init__(self, n_fft: int, hop: int, channels: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        c = channels
        self.convs = nn.ModuleList([
            weight_norm(nn.Conv2d(1, c, (7, 5), (2, 2), (3, 2))),
            weight_norm(nn.Conv2d(c, c, (5, 3), (2, 1), (2, 1))),
            weight_norm(nn.Conv2d(c, c, (5, 3), (2, 1), (2, 1))),
            weight_norm(nn.Conv2d(c, c, 3, 1, 1)),
        ])
        self.post = weight_norm(nn.Conv2d(c, 1, 3, 1, 1))

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        spec = torch.stft(y, self.n_fft, self.hop, self.n_fft, self.window, return_complex=True).abs()
        return run_convs(self.convs, self.post, spec[:, None])      # (B, 1, freq, frames)


class Discriminators(nn.Module):
    """The chosen discriminators side by side; each output pair is one entry of the lists."""

    def __init__(self, names: list[str], channels: int = 16, periods: tuple[int, ...] = (2, 3, 5, 7, 11)):
        super().__init__()
        subs: list[nn.Module] = []
        for name in names:
            if name == "mpd":
                subs += [PeriodDiscriminator(p, channels) for p in periods]
            elif name == "mrd":
                subs += [ResolutionDiscriminator(n, n // 4, channels) for n in (512, 1024, 2048)]
            else:
                raise ValueError(f"unknown discriminator '{name}' (known: {', '.join(DISCRIMINATORS)})")
        self.subs = nn.ModuleList(subs)

    def forward(self, y: torch.Tensor) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        outs = [d(y) for d in self.subs]
        return [o[0] for o in outs], [o[1] for o in outs]


def discriminator_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.relu(1 - r).mean() + F.relu(1 + f).mean() for r, f in zip(real, fake)) / len(real)


def generator_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    return sum(F.relu(1 - f).mean() for f in fake) / len(fake)


def feature_matching_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    total = sum(F.l1_loss(f, r.detach()) for rs, fs in zip(real, fake) for r, f in zip(rs, fs))
    return total / len(real)
