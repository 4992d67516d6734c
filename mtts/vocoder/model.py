"""A Vocos-style vocoder (Siuzdak, 2023): ConvNeXt blocks at the frame rate predict the
STFT magnitude and phase of each frame, and an inverse STFT makes the waveform. Nothing
runs at the sample rate except the final overlap-add, which is why it is fast on a CPU.

The inverse STFT is written as a matrix product with the inverse-DFT basis followed by an
overlap-add (`conv_transpose1d`), so the same graph exports to ONNX unchanged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from mtts.precision import full_precision

PHASE_MODES = ("direct", "if")


@dataclass
class VocoderConfig:
    dim: int = 384
    intermediate: int = 1152
    layers: int = 8
    # "direct": the head predicts each frame's phase (Vocos). "if": it predicts how far each
    # bin's phase advances from the previous frame (instantaneous frequency, as GANSynth), and
    # the phase is the running sum, so a steady input makes a steady sinusoid (learnt more
    # slowly here: docs/vocoder.md)
    phase: str = "direct"
    # "bf16": training runs the network under bfloat16 autocast (the iSTFT and the losses
    # stay float32); faster on CPUs with AMX/AVX-512 BF16. Synthesis is always float32
    precision: str = "fp32"
    # weight of the phase losses: the phase's differences between frames (instantaneous
    # frequency) and between bins (group delay) against the recording's. They took DNSMOS
    # OVRL from 2.84 to 3.08 (docs/vocoder.md); 0 logs them without training on them
    phase_weight: float = 2.0
    # weight of the log-mel L1 inside the spectral loss (the multi-resolution STFT terms: 1).
    # 4 makes the vocoder follow the acoustic model's mel more closely: CER -0.5 points over
    # three acoustic models, DNSMOS unchanged (docs/vocoder.md)
    mel_weight: float = 4.0
    segment_frames: int = 32       # training crops, in mel frames
    batch_size: int = 16
    lr: float = 1e-3
    warmup_steps: int = 200
    max_steps: int = 20000
    max_minutes: float = 0.0       # wall-clock stop; 0 = none
    log_every: int = 50
    ckpt_every: int = 1000
    keep_checkpoints: int = 3
    seed: int = 1234
    num_threads: int = 0
    grad_clip: float = 10.0
    # Adversarial fine-tuning (off when empty): "mpd", "mrd" or "mpd,mrd"
    discriminators: str = ""
    disc_channels: int = 16        # width of the first discriminator layer (HiFi-GAN: 32)
    gan_start_step: int = 0        # spectral-only steps before the discriminators join
    disc_lr_scale: float = 1.0     # discriminator lr / generator lr (>1: a faster critic, "TTUR")
    spectral_weight: float = 1.0   # generator loss = spectral_weight * spectral + adv + fm
    adv_weight: float = 1.0
    fm_weight: float = 2.0
    init: str = ""                 # start from this vocoder's weights (checkpoint or exp dir)
    # Acoustic model (checkpoint, best.safetensors or exp dir) whose teacher-forced mels replace the
    # recordings' mels as input: the vocoder learns the model's smoother texture ("GTA")
    gta_model: str = ""
    # "memory": every recording and mel read once; "stream": read when a batch takes them (a
    # corpus whose audio does not fit in memory); "auto": streams when the files exceed half the
    # memory available at the start
    load: str = "auto"
    # bounds checked by mtts.config (other numbers: finite, >= 0, at most 10^9)
    RANGES: ClassVar[dict] = {"seed": (0, 2 ** 32 - 1, False), "lr": (0, 1, True), "batch_size": (1, 4096, False),
                              "segment_frames": (1, 10 ** 5, False), "log_every": (1, 10 ** 9, False),
                              "ckpt_every": (1, 10 ** 9, False), "num_threads": (0, 1024, False),
                              "grad_clip": (0, 10 ** 9, True)}

    def to_dict(self) -> dict:
        return asdict(self)


class ISTFT(nn.Module):
    """Inverse STFT of (B, n_fft/2+1, T) real and imaginary parts -> (B, T * hop) samples,
    frame t centred on sample t * hop (librosa's and torch's `center=True`)."""

    def __init__(self, n_fft: int, hop: int, win_length: int):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        window = torch.hann_window(win_length, periodic=True, dtype=torch.float64)
        left = (n_fft - win_length) // 2
        window = F.pad(window, (left, n_fft - win_length - left))
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        n = torch.arange(n_fft, dtype=torch.float64)[None, :]
        scale = torch.full((n_fft // 2 + 1, 1), 2.0, dtype=torch.float64)
        scale[0] = scale[-1] = 1.0              # DC and Nyquist appear once in the full spectrum
        ang = 2 * math.pi * k * n / n_fft
        basis = torch.cat([scale * torch.cos(ang), -scale * torch.sin(ang)]) / n_fft * window  # (2K, N)
        self.register_buffer("basis", basis[:, None, :].float(), persistent=False)
        self.register_buffer("win_sq", (window ** 2)[None, None, :].float(), persistent=False)

    def _overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, n_fft) windowed frames -> (B, (T - 1) * hop + n_fft) samples. With n_fft a
        multiple of hop this is r = n_fft / hop shifted block sums: plain pads and adds,
        several times faster in onnxruntime than a ConvTranspose of this size."""
        B, T, _ = frames.shape
        r = self.n_fft // self.hop
        blocks = frames.reshape(B, T, r, self.hop)
        out = sum(F.pad(blocks[:, :, j], (0, 0, j, r - 1 - j)) for j in range(r))   # (B, T + r - 1, hop)
        return out.reshape(B, -1)

    def forward(self, re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
        T = re.shape[-1]
        if self.n_fft % self.hop == 0:
            frames = torch.cat([re, im], 1).transpose(1, 2) @ self.basis[:, 0]           # (B, T, n_fft)
            y = self._overlap_add(frames)
            env = self._overlap_add(self.win_sq[:, 0].expand(1, T, self.n_fft))
        else:
            y = F.conv_transpose1d(torch.cat([re, im], 1), self.basis, stride=self.hop)[:, 0]
            env = F.conv_transpose1d(torch.ones_like(re[:, :1]), self.win_sq, stride=self.hop)[:, 0]
        start = self.n_fft // 2
        y = y[:, start:start + T * self.hop]
        env = env[:, start:start + T * self.hop]
        return y / env.clamp(min=1e-6)


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, intermediate: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, intermediate)
        self.pw2 = nn.Linear(intermediate, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # (B, D, T)
        y = self.dwconv(x).transpose(1, 2)
        y = self.gamma * self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + y.transpose(1, 2)


class Vocoder(nn.Module):
    """Normalised log-mel (B, T, n_mels), as the acoustic model outputs it -> (B, T * hop)."""

    def __init__(self, cfg: VocoderConfig, n_mels: int, n_fft: int, hop: int, win_length: int):
        super().__init__()
        self.embed = nn.Conv1d(n_mels, cfg.dim, 7, padding=3)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.blocks = nn.ModuleList(ConvNeXtBlock(cfg.dim, cfg.intermediate, 1.0 / cfg.layers)
                                    for _ in range(cfg.layers))
        self.final_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head = nn.Linear(cfg.dim, n_fft + 2)
        self.istft = ISTFT(n_fft, hop, win_length)
        self.cumulative = cfg.phase == "if"
        # a bin-centred sinusoid advances 2*pi*k*hop/n_fft per frame; the head predicts the
        # deviation from it (taken modulo 2*pi so the running sum stays small in float32)
        k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        self.register_buffer("bin_advance", torch.remainder(2 * math.pi * k * hop / n_fft, 2 * math.pi).float(),
                             persistent=False)

    def spectrum(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log magnitude, phase), each (B, n_fft/2+1, T) in float32: the STFT the iSTFT inverts."""
        x = self.norm(self.embed(mel.transpose(1, 2)).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        h = self.head(self.final_norm(x.transpose(1, 2))).transpose(1, 2)   # (B, n_fft + 2, T)
        log_mag, phase = h.chunk(2, dim=1)
        # the waveform is made in float32 even when training runs the network in bfloat16
        # (`precision`): a bf16 overlap-add would add its rounding noise to every sample
        with full_precision(h.device.type):
            log_mag, phase = log_mag.float(), phase.float()
            if self.cumulative:
                phase = torch.cumsum(phase + self.bin_advance, dim=-1)
            return log_mag, phase

    def waveform(self, log_mag: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        with full_precision(log_mag.device.type):
            mag = torch.exp(log_mag).clamp(max=100.0)   # as in Vocos: keeps early training finite
            return self.istft(mag * torch.cos(phase), mag * torch.sin(phase))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.waveform(*self.spectrum(mel))


def build_vocoder(pkg) -> tuple[Vocoder, VocoderConfig]:
    """From a `checkpoint.VocoderPackage` (inside a model package, or read from a vocoder run)."""
    from mtts.errors import MttsError
    try:
        cfg = VocoderConfig(**pkg.config)
        p = pkg.feature_params
        voc = Vocoder(cfg, p["n_mels"], p["n_fft"], p["hop_length"], p["win_length"])
        voc.load_state_dict(pkg.weights)
    except (TypeError, KeyError, RuntimeError) as e:
        raise MttsError(f"the vocoder's weights or config do not fit ({str(e).splitlines()[0][:120]})") from None
    voc.eval()
    return voc, cfg


def load_checkpoint(path) -> dict:
    """A vocoder training checkpoint (read safely: tensors and plain values only)."""
    from mtts.errors import MttsError
    from mtts.io import torch_load
    ck = torch_load(path)
    if not isinstance(ck, dict) or ck.get("kind") != "vocoder":
        raise MttsError(f"{path} is not an mtts vocoder checkpoint")
    return ck


def load_vocoder_checkpoint(path):
    """The newest checkpoint of a vocoder exp dir, or a checkpoint file, as a VocoderPackage."""
    from mtts import checkpoint
    path = checkpoint.resolve(path, "run `mtts train-vocoder` first")
    ck = load_checkpoint(path)
    return checkpoint.VocoderPackage(ck["config"], ck["feature_params"], ck["stats"], ck["step"], ck["model"])


def check_compatible(vocoder, package, where: str) -> None:
    """The vocoder reads the acoustic model's normalised mels: same features, same statistics.
    vocoder: a VocoderPackage; package: the model's Package."""
    from mtts.errors import MttsError
    if vocoder.feature_params != package.feature_params.to_dict():
        raise MttsError(f"{where}: the vocoder was trained with other feature parameters than the model")
    if vocoder.stats["mel_mean"] != package.stats["mel_mean"] or \
            vocoder.stats["mel_std"] != package.stats["mel_std"]:
        raise MttsError(f"{where}: the vocoder was trained on other mel statistics (another dump/)")
