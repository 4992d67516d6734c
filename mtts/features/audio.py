"""Audio reading, mel analysis and Griffin-Lim inversion, all from one FeatureParams.

The parameters are saved by `prepare` (dump/feature_params.json) and copied into every
checkpoint, so no later stage repeats a sample rate or hop size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from mtts.errors import MttsError

MIN_SECONDS = 0.2
MAX_SECONDS = 30.0


@dataclass(frozen=True)
class FeatureParams:
    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 256
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    f0_min: float = 60.0      # pYIN search range; covers typical adult speakers
    f0_max: float = 600.0
    # leading and trailing silence quieter than trim_db below the loudest frame is cut, all
    # but trim_margin seconds of it (0: keep everything): left in, the alignment must give
    # ~0.2 s of silence to the first and last phonemes, and its diagonal prior resists that
    trim_db: float = 0.0
    trim_margin: float = 0.05

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureParams":
        return cls(**d)


def load_audio(path: Path, sr: int, max_seconds: float | None = None) -> np.ndarray:
    """Read any soundfile format, mix to mono, resample to `sr`. Raises MttsError, also for
    NaN or infinite samples, and, from the header before reading, for a file longer than
    `max_seconds` (a 2-hour recording at 96 kHz would be gigabytes in memory)."""
    if not path.is_file():
        raise MttsError(f"{path}: audio file does not exist")
    if path.stat().st_size == 0:
        raise MttsError(f"{path}: audio file is empty (0 bytes)")
    try:
        if max_seconds is not None and (dur := sf.info(path).duration) > max_seconds:
            raise MttsError(f"{path}: too long ({dur:.1f} s > {max_seconds:g} s); split it first")
        y, file_sr = sf.read(path, dtype="float32", always_2d=True)
    except MttsError:
        raise
    except Exception as e:  # libsndfile reports corrupt headers in several ways
        raise MttsError(f"{path}: unreadable audio ({str(e).splitlines()[0][:80]})") from None
    if not np.isfinite(y).all():
        raise MttsError(f"{path}: unreadable audio (it holds NaN or infinite samples)")
    y = y.mean(axis=1)
    if file_sr != sr:
        y = librosa.resample(y, orig_sr=file_sr, target_sr=sr)
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def check_audio(path: Path, y: np.ndarray, sr: int) -> str | None:
    """Return a problem description, or None when the audio is usable for training."""
    dur = len(y) / sr
    if dur < MIN_SECONDS:
        return f"{path}: too short ({dur:.2f} s < {MIN_SECONDS} s)"
    if dur > MAX_SECONDS:
        return f"{path}: too long ({dur:.1f} s > {MAX_SECONDS} s); split it first"
    if np.abs(y).max() < 1e-4:
        return f"{path}: silent"
    return None


def trim_silence(y: np.ndarray, p: FeatureParams) -> np.ndarray:
    """y without its leading and trailing silence (FeatureParams.trim_db), keeping trim_margin."""
    if p.trim_db <= 0:
        return y
    _, (start, end) = librosa.effects.trim(y, top_db=p.trim_db, frame_length=p.win_length, hop_length=p.hop_length)
    margin = int(round(p.trim_margin * p.sample_rate))
    return y[max(0, start - margin):min(len(y), end + margin)]


def mel_basis(p: FeatureParams) -> np.ndarray:
    return librosa.filters.mel(sr=p.sample_rate, n_fft=p.n_fft, n_mels=p.n_mels,
                               fmin=p.fmin, fmax=p.fmax)


def extract(y: np.ndarray, p: FeatureParams) -> dict[str, np.ndarray]:
    """Frame-synchronous features: mel (T, n_mels) log-magnitude, pitch (T,) in Hz
    with 0 where unvoiced, energy (T,) log frame RMS."""
    spec = np.abs(librosa.stft(y, n_fft=p.n_fft, hop_length=p.hop_length,
                               win_length=p.win_length, center=True))
    mel = np.log(np.maximum(mel_basis(p) @ spec, 1e-5)).T
    # pYIN at half-semitone resolution: ~50x faster than the default, plenty for prosody
    f0, voiced, _ = librosa.pyin(y, fmin=p.f0_min, fmax=p.f0_max, sr=p.sample_rate,
                                 frame_length=p.win_length, hop_length=p.hop_length,
                                 resolution=0.5, n_thresholds=20, center=True)
    f0 = np.where(voiced, np.nan_to_num(f0), 0.0)
    rms = librosa.feature.rms(S=spec, frame_length=p.n_fft)[0]
    energy = np.log(np.maximum(rms, 1e-5))
    T = mel.shape[0]
    return {"mel": mel.astype(np.float32), "pitch": f0[:T].astype(np.float32),
            "energy": energy[:T].astype(np.float32)}


def griffin_lim(log_mel: np.ndarray, p: FeatureParams, n_iter: int = 32, seed: int | None = None) -> np.ndarray:
    """log-mel (T, n_mels) -> waveform, via librosa's mel inversion and Griffin-Lim.
    seed: of the random initial phases (None: new ones every call, from the OS)."""
    min_frames = p.n_fft // p.hop_length + 1  # Griffin-Lim needs a few frames; pad with silence
    if log_mel.shape[0] < min_frames:
        pad = np.full((min_frames - log_mel.shape[0], log_mel.shape[1]), np.log(1e-5), dtype=log_mel.dtype)
        log_mel = np.concatenate([log_mel, pad])
    mag = np.exp(log_mel.T.astype(np.float64))
    # librosa's mel_to_audio in two steps, so that the phases can be seeded
    stft = librosa.feature.inverse.mel_to_stft(mag, sr=p.sample_rate, n_fft=p.n_fft, power=1.0,
                                               fmin=p.fmin, fmax=p.fmax)
    y = librosa.griffinlim(stft, n_iter=n_iter, hop_length=p.hop_length, win_length=p.win_length, n_fft=p.n_fft,
                           dtype=np.float32, random_state=seed)
    peak = np.abs(y).max()
    return (y / peak * 0.95 if peak > 0 else y).astype(np.float32)
