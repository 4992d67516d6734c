"""Stage `train-vocoder`: the neural vocoder, trained on the recipe's own recordings.

Reads  DATA/{train,dev}/{wav.scp,feats.scp}, DUMP/{stats.json,feature_params.json}
Writes EXP/config.yaml, EXP/checkpoints/step_*.pt, EXP/metrics.jsonl, EXP/train.log

Inputs are the normalised log-mels the acoustic model is trained to produce (from the
dump, computed from the same recordings); the loss compares the generated waveform's
log-mel and multi-resolution STFT magnitudes with the recording's, and the predicted phase's
differences between frames and between bins with the recording's (`phase_weight`): the
phase losses gave the largest gain in naturalness here. `discriminators: mpd,mrd` adds the
adversarial and feature-matching losses from `gan_start_step` on (or from the start when
fine-tuning a trained vocoder given as `init`), aimed at the buzzy texture the spectral
losses leave (docs/vocoder.md has what it gave here).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from mtts import checkpoint, distributed
from mtts.config import LOADS, load_yaml_config
from mtts.console import console, progress
from mtts.data.datadir import read_table
from mtts.data.dataset import Stats, normalisation
from mtts.errors import MttsError
from mtts.features.audio import FeatureParams, load_audio, mel_basis
from mtts.io import nested_tuples, read_json, seed_everything, write_text
from mtts.precision import autocast, check as check_precision
from mtts.run import Run
from mtts.vocoder.discriminators import (
    DISCRIMINATORS,
    Discriminators,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
)
from mtts.vocoder.model import PHASE_MODES, Vocoder, VocoderConfig, load_checkpoint, load_vocoder_checkpoint

RESOLUTIONS = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))


def check_vocoder_config(cfg: VocoderConfig) -> None:
    if cfg.phase not in PHASE_MODES:
        raise MttsError(f"'phase' must be one of {', '.join(PHASE_MODES)}, got '{cfg.phase}'")
    if cfg.load not in LOADS:
        raise MttsError(f"'load' must be one of {', '.join(LOADS)}, got '{cfg.load}'")
    check_precision(cfg.precision, "'precision'")
    if not cfg.disc_lr_scale > 0:
        raise MttsError(f"'disc_lr_scale' must be > 0, got {cfg.disc_lr_scale}")
    if not cfg.phase_weight >= 0:
        raise MttsError(f"'phase_weight' must be >= 0, got {cfg.phase_weight}")
    if not cfg.mel_weight > 0:
        raise MttsError(f"'mel_weight' must be > 0, got {cfg.mel_weight}")
    for name in disc_names(cfg):
        if name not in DISCRIMINATORS:
            raise MttsError(f"unknown discriminator '{name}' in 'discriminators' "
                            f"(known: {', '.join(DISCRIMINATORS)})")


def load_vocoder_config(path: Path | None, overrides: dict | None = None) -> VocoderConfig:
    """The vocoder config from YAML (defaults when path is None) with command-line
    `overrides` ({"seed": 3}, None values skipped) set before it is checked; errors name
    the file and the key."""
    return load_yaml_config(path, VocoderConfig, overrides, check_vocoder_config)


def disc_names(cfg: VocoderConfig) -> list[str]:
    return [n.strip() for n in cfg.discriminators.split(",") if n.strip()]


class SpectralLoss(torch.nn.Module):
    """Log-mel L1 plus multi-resolution STFT loss (spectral convergence + log magnitude), and
    the phase losses when given the phase."""

    def __init__(self, p: FeatureParams, mel_weight: float = 1.0):
        super().__init__()
        self.p, self.mel_weight = p, mel_weight
        self.main = (p.n_fft, p.hop_length, p.win_length)   # the features' STFT: log-mel and phase
        self.register_buffer("mel_basis", torch.from_numpy(mel_basis(p)).float())
        for n_fft, _, win in RESOLUTIONS:
            self.register_buffer(f"win{n_fft}", torch.hann_window(win))
        self.register_buffer("win_main", torch.hann_window(p.win_length))

    def stft(self, y: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
        window = self.win_main if (n_fft, hop, win) == self.main else getattr(self, f"win{n_fft}")
        return torch.stft(y, n_fft, hop, win, window, center=True, return_complex=True)

    def log_mel(self, y: torch.Tensor, spec: torch.Tensor | None = None) -> torch.Tensor:
        """Log-mel of y, from its STFT at the features' resolution when already taken."""
        spec = self.stft(y, *self.main) if spec is None else spec
        return torch.log(torch.clamp(self.mel_basis @ spec.abs(), min=1e-5))

    def phase_losses(self, phase: torch.Tensor, y: torch.Tensor,
                     spec: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """How the predicted phase's differences between neighbouring frames (instantaneous
        frequency, "phase_if") and neighbouring bins (group delay, "phase_gd") differ from the
        recording's, wrapped to [-pi, pi) and weighted by the recording's magnitude, so that
        the bins of a harmonic count and the noise between harmonics hardly does (as APNet's
        IAF and GD losses). Magnitude losses constrain phase only through the overlap-add,
        and the harmonics' phase below 1 kHz is what DNSMOS hears most (docs/vocoder.md).
        Both differences stay the same when the whole phase shifts, as it does with where the
        glottal pulses fall, so they are predictable from the mel where the phase is not.
        `spec`: y's STFT at the features' resolution, when already taken."""
        s = self.stft(y, *self.main) if spec is None else spec
        s = s[..., :phase.shape[-1]]        # frame t centred on t * hop
        mag = s.abs()
        out = {}
        for name, dim in (("phase_if", -1), ("phase_gd", -2)):
            n = s.shape[dim]
            a, b = s.narrow(dim, 1, n - 1), s.narrow(dim, 0, n - 1)
            true = torch.angle(a * b.conj())
            diff = phase.narrow(dim, 1, n - 1) - phase.narrow(dim, 0, n - 1)
            err = torch.remainder(diff - true + math.pi, 2 * math.pi) - math.pi
            w = torch.minimum(mag.narrow(dim, 1, n - 1), mag.narrow(dim, 0, n - 1))
            out[name] = (w * err.abs()).sum() / w.sum().clamp(min=1e-7)
        return out

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor,
                phase: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Spectral losses ("total") of the waveform and, given the phase that made it, the
        phase losses, kept apart: they join the generator loss through `phase_weight`."""
        # each STFT once: the features' resolution serves the log-mel, the phase losses and,
        # where it is one of them, the multi-resolution terms
        specs = {res: (self.stft(y_hat, *res), self.stft(y, *res))
                 for res in dict.fromkeys((self.main, *RESOLUTIONS))}
        mel = F.l1_loss(self.log_mel(y_hat, specs[self.main][0]), self.log_mel(y, specs[self.main][1]))
        sc, mag = 0.0, 0.0
        for res in RESOLUTIONS:
            s_hat, s = (x.abs().clamp(min=1e-7) for x in specs[res])
            sc = sc + torch.linalg.norm(s - s_hat) / torch.linalg.norm(s).clamp(min=1e-7)
            mag = mag + F.l1_loss(s_hat.log(), s.log())
        sc, mag = sc / len(RESOLUTIONS), mag / len(RESOLUTIONS)
        out = {"total": self.mel_weight * mel + sc + mag, "mel_l1": mel, "sc": sc, "log_mag": mag}
        if phase is not None:
            out.update(self.phase_losses(phase, y, specs[self.main][1]))
            out["phase"] = out["phase_if"] + out["phase_gd"]
        return out


def same_dump(feature_params: dict, stats: dict, p: FeatureParams, stats_d: dict) -> bool:
    """Whether a checkpoint this run builds on (init, gta_model) saw these features, normalised
    the same way."""
    return feature_params == p.to_dict() and normalisation(stats) == normalisation(stats_d)


@torch.no_grad()
def teacher_forced_mels(model_path: Path, split_dir: Path, stats_d: dict, p: FeatureParams,
                        batch_frames: int = 8000) -> dict[str, torch.Tensor]:
    """The acoustic model's mels for a split's recordings, decoded with the recordings' own
    durations (MAS), pitch and energy, so frame t still matches samples [t*hop, (t+1)*hop)."""
    from mtts.data.dataset import TTSDataset, collate, frame_batches
    path = checkpoint.resolve(model_path, "train the acoustic model first (gta_model)")
    pkg = checkpoint.Package.load(path)
    if not same_dump(pkg.feature_params.to_dict(), pkg.stats, p, stats_d):
        raise MttsError(f"gta_model {path}: trained on other features or mel statistics than this dump")
    model = pkg.build_model(path)
    if "alignment" not in model.tasks:
        raise MttsError(f"gta_model {path}: has no alignment task to give the recordings' durations")
    data = TTSDataset(split_dir, pkg.tokens, Stats(stats_d), chars=pkg.chars if pkg.input == "chars" else None,
                      input=pkg.input, speakers=pkg.speakers)
    groups = frame_batches(data.lengths, batch_frames, 0, 0, shuffle=False)   # similar lengths together
    mels = {}
    with progress() as prog:
        task = prog.add_task(f"teacher-forced mels {split_dir.name}", total=len(data))
        for idx in groups:
            out = model(collate([data[i] for i in idx]))
            for j, i in enumerate(idx):
                mels[data.ids[i]] = out["preds"]["mel"]["mel"][j, :data.lengths[i]].clone()
            prog.advance(task, len(idx))
    return mels


class Pairs(Sequence):
    """(normalised mel (T, M), waveform (T * hop,)) per utterance. In memory, or, streamed,
    read from disk each time one is taken (a corpus whose audio does not fit in memory: the
    waveforms are about 0.3 GB per hour of speech at 22,050 Hz); `frames` without reading."""

    def __init__(self, items: list, frames: list[int], read=None):
        self.items, self.frames, self.read = items, frames, read

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Pairs(self.items[i], self.frames[i], self.read)
        return self.items[i] if self.read is None else self.read(self.items[i])

    def longer_than(self, n: int) -> "Pairs":
        keep = [k for k, f in enumerate(self.frames) if f > n]
        return Pairs([self.items[k] for k in keep], [self.frames[k] for k in keep], self.read)


def _pair(mel: torch.Tensor, wav: Path, p: FeatureParams) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.from_numpy(load_audio(wav, p.sample_rate))
    n = mel.shape[0] * p.hop_length
    return mel, F.pad(y, (0, max(0, n - len(y))))[:n]   # frame t <-> samples [t*hop, (t+1)*hop)


def load_pairs(split_dir: Path, stats: Stats, p: FeatureParams, max_utts: int = 0,
               mels: dict[str, torch.Tensor] | None = None, load: str = "memory",
               memory_budget: int | None = None) -> Pairs:
    """A split's (mel, waveform) pairs; `mels` replaces the recordings' mels (teacher-forced
    ones, already in memory). load: "memory", "stream", or "auto": streams when the audio and
    feature files add up to more than `memory_budget` bytes (default: half of the memory
    available now; 16-bit audio counts twice, as float32)."""
    from mtts.data.dataset import node_share, npz_frames
    wavs, feats = read_table(split_dir / "wav.scp"), read_table(split_dir / "feats.scp")
    ids = sorted(set(wavs) & set(feats) & (set(mels) if mels is not None else set(feats)))[: max_utts or None]
    if not ids:
        raise MttsError(f"{split_dir}: no utterances with both audio and features; run `mtts prepare`")
    if load == "auto":
        size = sum(2 * Path(wavs[i]).stat().st_size + Path(feats[i]).stat().st_size for i in ids)
        load = "stream" if size > (memory_budget if memory_budget is not None else node_share()) \
            else "memory"

    def mel_of(i: str) -> torch.Tensor:
        if mels is not None:
            return mels[i]
        with np.load(feats[i]) as z:
            return stats.norm_mel(torch.from_numpy(z["mel"]))

    if load == "stream":
        frames = [mels[i].shape[0] if mels is not None else npz_frames(Path(feats[i])) for i in ids]
        return Pairs(ids, frames, lambda i: _pair(mel_of(i), Path(wavs[i]), p))
    pairs = []
    with progress() as prog:
        task = prog.add_task(f"load {split_dir.name}", total=len(ids))
        for i in ids:
            pairs.append(_pair(mel_of(i), Path(wavs[i]), p))
            prog.advance(task)
    return Pairs(pairs, [m.shape[0] for m, _ in pairs])


def random_batch(usable, cfg: VocoderConfig, hop: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crops of `segment_frames` from utterances longer than that."""
    F_ = cfg.segment_frames
    mels, wavs = [], []
    for mel, y in rng.sample(usable, min(cfg.batch_size, len(usable))):
        s = rng.randrange(0, mel.shape[0] - F_)
        mels.append(mel[s:s + F_])
        wavs.append(y[s * hop:(s + F_) * hop])
    return torch.stack(mels), torch.stack(wavs)


def adversarial_step(disc: Discriminators, opt_d, y: torch.Tensor, y_hat: torch.Tensor,
                     clip: float) -> dict[str, torch.Tensor]:
    """One discriminator update on (recording, generated) crops, then the generator's adversarial
    and feature-matching losses against the updated discriminators (hinge loss, as Vocos)."""
    real, _ = disc(y)
    fake, _ = disc(y_hat.detach())
    d_loss = discriminator_loss(real, fake)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    torch.nn.utils.clip_grad_norm_(disc.parameters(), clip)
    opt_d.step()
    disc.requires_grad_(False)          # the generator's backward needs no discriminator grads
    with torch.no_grad():
        _, real_feats = disc(y)
    fake, fake_feats = disc(y_hat)
    disc.requires_grad_(True)
    return {"d_loss": d_loss.detach(), "g_adv": generator_loss(fake),
            "g_fm": feature_matching_loss(real_feats, fake_feats)}


@torch.no_grad()
def dev_loss(voc: Vocoder, loss_fn: SpectralLoss, pairs) -> dict[str, float]:
    voc.eval()
    sums: dict[str, float] = {}
    device = next(voc.parameters()).device
    for mel, y in pairs:
        mel, y = mel.to(device), y.to(device)
        log_mag, phase = voc.spectrum(mel[None])
        out = loss_fn(voc.waveform(log_mag, phase), y[None], phase)
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + float(v) / len(pairs)
    voc.train()
    return sums


def train_vocoder(cfg: VocoderConfig, data_dir: Path, dump_dir: Path, exp_dir: Path, resume: bool = False,
                  max_utts: int = 0, device: str = "cpu") -> dict:
    """device: cpu, cuda or auto (one device: the vocoder trains in one process)."""
    if distributed.launched() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise MttsError("train-vocoder trains in one process; several processes (torchrun) are for "
                        "`mtts train` only (docs/scaling.md)")
    where = distributed.resolve_device(device)
    # first: Run locks EXP (EXP/.lock) before anything is read, so a second run stops at once
    run = Run(exp_dir, cfg.max_steps, cfg.max_minutes, cfg.keep_checkpoints)
    params = FeatureParams.from_dict(read_json(dump_dir / "feature_params.json"))
    stats_d = read_json(dump_dir / "stats.json")
    stats = Stats(stats_d)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    seed_everything(cfg.seed)
    gta = (lambda split: teacher_forced_mels(Path(cfg.gta_model), data_dir / split, stats_d, params)) \
        if cfg.gta_model else (lambda split: None)
    train_pairs = load_pairs(data_dir / "train", stats, params, max_utts, gta("train"), cfg.load)
    train_pairs = train_pairs.longer_than(cfg.segment_frames)
    if not train_pairs:
        raise MttsError(f"no training utterance is longer than segment_frames={cfg.segment_frames}")
    dev_pairs = load_pairs(data_dir / "dev", stats, params, 10, gta("dev"), cfg.load) \
        if (data_dir / "dev" / "wav.scp").is_file() else []
    voc = Vocoder(cfg, params.n_mels, params.n_fft, params.hop_length, params.win_length)
    if cfg.init:
        init = load_vocoder_checkpoint(cfg.init)
        if not same_dump(init.feature_params, init.stats, params, stats_d):
            raise MttsError(f"init {cfg.init}: trained on other features or mel statistics than {dump_dir}")
        voc.load_state_dict(init.weights)
    voc.to(where)
    loss_fn = SpectralLoss(params, cfg.mel_weight).to(where)
    opt = torch.optim.AdamW(voc.parameters(), lr=cfg.lr, betas=(0.8, 0.99), weight_decay=0.01)
    warm, total = max(1, cfg.warmup_steps), max(1, cfg.max_steps)

    def lr_factor(s: int) -> float:
        # a Python float: a NumPy scalar in the scheduler's state would need unpickling code to load
        return float(min((s + 1) / warm, 0.5 * (1 + np.cos(np.pi * min(1.0, max(0, s - warm) / max(1, total - warm))))
                         * 0.95 + 0.05))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    disc = Discriminators(disc_names(cfg), cfg.disc_channels).to(where) if disc_names(cfg) else None
    # the discriminators follow the generator's learning rate times disc_lr_scale (set every step)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=cfg.lr, betas=(0.8, 0.99), weight_decay=0.01) \
        if disc is not None else None
    rng = random.Random(cfg.seed)
    ck = run.resume(resume, load_checkpoint)
    if ck is not None:
        voc.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        if disc is not None and "disc" in ck:
            disc.load_state_dict(ck["disc"])
            opt_d.load_state_dict(ck["disc_optimizer"])
        rng.setstate(nested_tuples(ck["rng"]["python"]))
        torch.set_rng_state(ck["rng"]["torch"])
        if "cuda" in ck["rng"] and where.type == "cuda":
            torch.cuda.set_rng_state(ck["rng"]["cuda"])
    write_text(exp_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    def save() -> Path:
        return run.save({"kind": "vocoder", "model": voc.state_dict(), "optimizer": opt.state_dict(),
                         "scheduler": sched.state_dict(),
                         "rng": {"python": rng.getstate(), "torch": torch.get_rng_state(),
                                 **({"cuda": torch.cuda.get_rng_state()} if where.type == "cuda" else {})},
                         "config": cfg.to_dict(), "feature_params": params.to_dict(), "stats": stats_d,
                         **({"disc": disc.state_dict(), "disc_optimizer": opt_d.state_dict()}
                            if disc is not None else {})})

    n_params = sum(p.numel() for p in voc.parameters())
    console.print(f"vocoder: {n_params / 1e6:.2f} M parameters; {len(train_pairs)} train utterances"
                  + (f"; discriminators {cfg.discriminators} ({sum(p.numel() for p in disc.parameters()) / 1e6:.2f} M)"
                     f" from step {cfg.gan_start_step}" if disc is not None else ""))
    voc.train()
    acc, n_acc, t_acc = {}, 0, 0.0
    with run:
        while not run.done():
            t0 = time.time()
            mel, y = random_batch(train_pairs, cfg, params.hop_length, rng)
            mel, y = mel.to(where, non_blocking=True), y.to(where, non_blocking=True)
            with autocast(cfg.precision, where.type):
                log_mag, phase = voc.spectrum(mel)
                y_hat = voc.waveform(log_mag, phase)
            out = loss_fn(y_hat, y, phase)
            loss = cfg.spectral_weight * out["total"]
            if cfg.phase_weight:
                loss = loss + cfg.phase_weight * out["phase"]
            if disc is not None and run.step >= cfg.gan_start_step:
                for g in opt_d.param_groups:
                    g["lr"] = sched.get_last_lr()[0] * cfg.disc_lr_scale
                out.update(adversarial_step(disc, opt_d, y, y_hat, cfg.grad_clip))
                loss = loss + cfg.adv_weight * out["g_adv"] + cfg.fm_weight * out["g_fm"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(voc.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            run.advance()
            t_acc += time.time() - t0
            for k, v in out.items():
                acc[k] = acc.get(k, 0.0) + float(v.detach())
            n_acc += 1
            if run.step % cfg.log_every == 0:
                n_gan = min(n_acc, max(0, run.step - cfg.gan_start_step))   # steps of this window with a GAN loss
                means = {k: v / (n_gan if k.startswith(("d_", "g_")) else n_acc) for k, v in acc.items()}
                run.log({"split": "train", "step": run.step, **means, "lr": sched.get_last_lr()[0],
                         "s_per_step": t_acc / n_acc, "elapsed_s": run.elapsed})
                console.print(f"vocoder step {run.step:6d} " + " ".join(f"{k}={v:.3f}" for k, v in means.items())
                              + f" | {t_acc / n_acc:.2f} s/step {run.elapsed / 60:.1f} min")
                acc, n_acc, t_acc = {}, 0, 0.0
            if run.due(cfg.ckpt_every):
                if dev_pairs:
                    run.log({"split": "dev", "step": run.step, **dev_loss(voc, loss_fn, dev_pairs)})
                save()
        if not run.path().is_file():
            save()
    return {**run.summary(), "parameters": n_params}
