"""Metric group `similarity`: how much synthesised speech sounds like its speaker.

An offline speaker encoder, resemblyzer's GE2E VoiceEncoder, whose pretrained weights ship
inside its wheel (nothing is downloaded; it runs on the CPU), embeds every wav in a 256-d
unit vector. A sentence's score is the cosine of its synthesis' embedding to the mean
embedding of its speaker's recordings in the split, the sentence's own recording left out
(else a model would be rewarded for copying one take). As reference points, the recordings
are scored the same way: each against its own speaker's other recordings (what a perfect
synthesis of that voice reaches) and against the other speakers' (what merely another voice
reaches). A single-speaker split has no other speakers, so no `other` figures.

Metrics: speaker_sim (own speaker, higher is better), speaker_sim_other (the nearest other
speaker, lower is better; multi-speaker splits); result["speaker_similarity"]: the
recordings' own and other figures.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from mtts.errors import MttsError
from mtts.features.audio import load_audio

SR = 16000          # the encoder's sample rate
MIN_SECONDS = 0.5   # a voice-activity trim that leaves less (a babbling untrained model) is not used


def available() -> bool:
    return importlib.util.find_spec("resemblyzer") is not None


class SpeakerEncoder:
    """resemblyzer's VoiceEncoder on the CPU, built on first use; wav path -> unit embedding."""

    def __init__(self):
        if not available():
            raise MttsError("--metrics similarity needs resemblyzer: pip install 'mtts[eval]'")
        self._encoder = None
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, path: str | Path) -> np.ndarray:
        key = str(path)
        if key not in self._cache:
            from resemblyzer import VoiceEncoder, preprocess_wav
            if self._encoder is None:   # its weights are the pretrained.pt inside the package
                self._encoder = VoiceEncoder(device="cpu", verbose=False)
            y = load_audio(Path(path), SR)
            trimmed = preprocess_wav(y, source_sr=SR)   # loudness-normalised, silences cut (webrtcvad)
            y = trimmed if len(trimmed) >= MIN_SECONDS * SR else y
            self._cache[key] = np.asarray(self._encoder.embed_utterance(y.astype(np.float32)), dtype=np.float64)
        return self._cache[key]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def centroids(emb: dict[str, np.ndarray], utt2spk: dict[str, str]) -> dict[str, list[str]]:
    """Speaker -> its utterances among `emb` (every utterance one speaker '' without utt2spk)."""
    out: dict[str, list[str]] = {}
    for u in emb:
        out.setdefault(utt2spk.get(u, ""), []).append(u)
    return out


def scores(emb: np.ndarray, uid: str, spk: str, refs: dict[str, np.ndarray], by_spk: dict[str, list[str]]
           ) -> dict[str, float]:
    """One wav's cosine to the mean of its speaker's recordings other than uid's, and the
    highest to another speaker's mean; a figure that has no recordings to compare is left out."""
    out = {}
    own = [refs[u] for u in by_spk.get(spk, []) if u != uid]
    if own:
        out["speaker_sim"] = cosine(emb, np.mean(own, axis=0))
    others = [cosine(emb, np.mean([refs[u] for u in us], axis=0)) for s, us in by_spk.items() if s != spk]
    if others:
        out["speaker_sim_other"] = max(others)
    return out


def reference_points(refs: dict[str, np.ndarray], utt2spk: dict[str, str]) -> dict:
    """The recordings scored as a synthesis would be: means over the utterances."""
    by_spk = centroids(refs, utt2spk)
    rows = [scores(refs[u], u, utt2spk.get(u, ""), refs, by_spk) for u in refs]
    out = {"recordings": len(refs), "speakers": len(by_spk)}
    for key, name in (("speaker_sim", "own"), ("speaker_sim_other", "other")):
        vals = [r[key] for r in rows if key in r]
        if vals:
            out[name] = float(np.mean(vals))
    return out


def _utt2spk(split_dir: Path) -> dict[str, str]:
    from mtts.data.datadir import read_table
    return read_table(split_dir / "utt2spk") if (split_dir / "utt2spk").is_file() else {}


def check_references(split_dir: Path, speaker: str | None) -> None:
    """Before any synthesis: a text list is compared with one voice of split_dir, its only
    one or the one `speaker` names; with several and none named there is nothing to choose by."""
    voices = set(_utt2spk(split_dir).values())
    if len(voices) > 1 and speaker not in voices:
        raise MttsError(f"{split_dir} holds {len(voices)} voices ({', '.join(sorted(voices))}) and "
                        + (f"none is {speaker!r}" if speaker else "no --speaker names one")
                        + ": a text list is compared with one voice's recordings (--split)")


def similarity(hyps: list[tuple[str, str, str | None]], split_dir: Path, encoder: SpeakerEncoder | None = None
               ) -> tuple[dict[str, dict[str, float]], dict]:
    """hyps: (utterance id, synthesised wav, the voice it was spoken in or None). Per
    utterance its scores, and the reference points, against the recordings of split_dir
    (wav.scp; utt2spk where there is one). What a wav is measured against: for a sentence of
    the split, its recording's speaker (the utterance's own recording left out); for a
    sentence of a text list, the voice it was spoken in where the split holds it, else the
    split's one voice."""
    from mtts.data.datadir import read_table
    encoder = encoder or SpeakerEncoder()
    wavs = read_table(split_dir / "wav.scp")
    utt2spk = _utt2spk(split_dir)
    refs = {u: encoder(w) for u, w in sorted(wavs.items())}
    by_spk = centroids(refs, utt2spk)
    only = next(iter(by_spk)) if len(by_spk) == 1 else ""

    def target(u: str, spk: str | None) -> str:
        return utt2spk[u] if u in utt2spk else spk if spk in by_spk else only
    per_utt = {u: scores(encoder(h), u, target(u, spk), refs, by_spk) for u, h, spk in hyps}
    return per_utt, reference_points(refs, utt2spk)
