"""Shared fixtures: tiny configs, random batches and a small corpus spoken by espeak-ng."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mtts.text.samples import HARVARD
from mtts.validate import config_from_dict

torch.set_num_threads(1)  # tests are small; leave the other core free
# training commands default to --device auto: on a GPU machine the suite still trains on the
# CPU, where its exact-resume checks hold (tests/test_device.py asks for the GPU by name)
os.environ.setdefault("MTTS_DEVICE", "cpu")
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
LJ_MINI = SHARED / "data" / "ljspeech-mini"

TINY = {"model": {"d_model": 32, "n_heads": 2, "encoder_layers": 1, "decoder_layers": 1},
        "train": {"max_steps": 20, "batch_frames": 3000, "warmup_steps": 5, "log_every": 5,
                  "ckpt_every": 10, "lr": 0.003}}

SENTENCES = HARVARD[:12]


def mtts(*args) -> str:
    """Run the CLI in this process (arguments str()-ed), assert it succeeded, return its output."""
    from typer.testing import CliRunner

    from mtts.cli import app
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture
def tiny_cfg():
    return config_from_dict(TINY)


def random_batch(B: int = 3, n_tokens: int = 20, n_mels: int = 80, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    text_lens = torch.tensor([12, 9, 6][:B])
    feats_lens = torch.tensor([60, 45, 30][:B])
    text = torch.randint(2, n_tokens, (B, int(text_lens.max())), generator=g)
    for b in range(B):
        text[b, text_lens[b]:] = 0
    T = int(feats_lens.max())
    # learnable mels: each token holds a fixed random spectrum for 5 frames, plus a little noise
    spectra = torch.randn(n_tokens, n_mels, generator=g)
    feats = spectra[text].repeat_interleave(5, dim=1) + 0.1 * torch.randn(B, T, n_mels, generator=g)
    feats = feats * (torch.arange(T)[None, :, None] < feats_lens[:, None, None])
    return {"text": text, "text_lens": text_lens, "feats": feats,
            "feats_lens": feats_lens, "pitch": torch.rand(B, T, generator=g) * 100 + 150,
            "energy": torch.randn(B, T, generator=g)}


requires_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                     reason="espeak-ng is not installed (apt-get install espeak-ng)")
requires_shared = pytest.mark.skipif(not LJ_MINI.is_dir(),
                                     reason="../shared/data/ljspeech-mini is absent (only in the dev/CI checkout)")


@pytest.fixture(scope="session")
def espeak_corpus(tmp_path_factory) -> Path:
    """An LJSpeech-layout corpus of 12 sentences spoken by espeak-ng at 22,050 Hz."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    root = tmp_path_factory.mktemp("espeak_corpus")
    (root / "wavs").mkdir()
    lines = []
    for i, text in enumerate(SENTENCES):
        uid = f"ES{i:03d}"
        raw = root / f"{uid}.raw.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), text], check=True)
        y, sr = sf.read(raw, dtype="float32")
        import librosa
        sf.write(root / "wavs" / f"{uid}.wav", librosa.resample(y, orig_sr=sr, target_sr=22050), 22050)
        raw.unlink()
        lines.append(f"{uid}|{text}|{text}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


VOICES = {"alice": ["-v", "en-us+f3", "-p", "70"], "bob": ["-v", "en-us", "-p", "30"]}   # two espeak-ng voices


@pytest.fixture(scope="session")
def two_voice_corpus(tmp_path_factory) -> Path:
    """A multi-speaker LJSpeech-layout corpus (ID|text|normalized|speaker): espeak-ng's en-us
    read by two voices (a high female variant and a low male one), 6 sentences each, ids
    prefixed by the speaker as Kaldi wants."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    import librosa
    root = tmp_path_factory.mktemp("two_voice_corpus")
    (root / "wavs").mkdir()
    lines = []
    for k, (spk, opts) in enumerate(VOICES.items()):
        for i, text in enumerate(SENTENCES[k * 6:(k + 1) * 6]):
            uid = f"{spk}_{i:03d}"
            raw = root / f"{uid}.raw.wav"
            subprocess.run(["espeak-ng", *opts, "-w", str(raw), text], check=True)
            y, sr = sf.read(raw, dtype="float32")
            sf.write(root / "wavs" / f"{uid}.wav", librosa.resample(y, orig_sr=sr, target_sr=22050), 22050)
            raw.unlink()
            lines.append(f"{uid}|{text}|{text}|{spk}")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def write_wav(path: Path, seconds: float = 1.0, sr: int = 22050, channels: int = 1,
              subtype: str = "PCM_16", freq: float = 220.0) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * freq * t)
    if channels > 1:
        y = np.stack([y] * channels, axis=1)
    sf.write(path, y, sr, subtype=subtype)
    return path


def make_model_package(path: Path, seed: int = 0, text: dict | None = None, frames_per_token: int = 0,
                       config: dict | None = None, speakers: dict[str, int] | None = None) -> Path:
    """An untrained but complete model file: enough to exercise synthesize end to end.
    frames_per_token > 0 fixes every predicted duration at that many frames (an untrained
    predictor gives almost none), so the audio has a known, speech-like length; config
    replaces the tiny dimensions (e.g. {} for the default model's size); speakers: a
    multi-speaker model's name -> index map."""
    from mtts import checkpoint
    from mtts.features.audio import FeatureParams
    from mtts.model import MultiTaskModel
    from mtts.text.tokens import BASE_SYMBOLS, TokenTable
    base = TINY if config is None else config
    cfg = config_from_dict({**base, "train": {**base.get("train", {}), "seed": seed}})   # the seed sets the weights
    tokens = TokenTable.build([], BASE_SYMBOLS)
    model = MultiTaskModel(cfg, len(tokens), 80, (200.0, 30.0), n_speakers=len(speakers or {}))
    if frames_per_token > 0:
        proj = model.tasks["duration"].predictor.proj
        with torch.no_grad():
            proj.weight.zero_()
            proj.bias.fill_(float(np.log1p(frames_per_token)))
    stats = {"mel_mean": [-4.0] * 80, "mel_std": [2.0] * 80, "pitch_mean": 200.0, "pitch_std": 30.0,
             "energy_mean": -3.0, "energy_std": 1.0}
    checkpoint.save(path, {"model": model.state_dict(), "config": cfg.to_dict(), "tokens": tokens.symbols,
                           "feature_params": FeatureParams().to_dict(), "stats": stats, "step": 0,
                           **({"text": text} if text else {}), **({"speakers": speakers} if speakers else {})})
    return path
