"""Stage `synthesize`: text -> wav from a model file alone (best.safetensors or any checkpoint).

The file carries config (with the input the model reads: phonemes or characters), token
tables, feature parameters and statistics, and the neural vocoder when one was packaged
(`select-best --vocoder`), and a multi-speaker model's speaker names (`speaker`, chosen with
`set_speaker`); Griffin-Lim (librosa) needs nothing. Long text is split into
sentences and the audio joined; `Synthesizer.stream` yields it sentence by sentence, as it is
made, and `WavStream` writes a wav that grows as it arrives (docs/serving.md).
"""

from __future__ import annotations

import os
import re
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import soundfile as sf
import torch

from mtts import checkpoint
from mtts.data.dataset import Stats
from mtts.errors import MttsError
from mtts.features.audio import griffin_lim
from mtts.io import atomic_path, check_id
from mtts.limits import MAX_CHARS as MAX_TEXT_CHARS, MAX_SECONDS, MAX_TEXT_FILE_BYTES, check_line, check_seconds
from mtts.text.normalize import get_normalizer
from mtts.text.phonemize import Phonemizer
from mtts.text.tokens import TokenTable

VOCODERS = ("auto", "griffin-lim", "neural")
SOURCES = ("auto", "phonemes", "chars")   # --input: what the text becomes before the model (input_ids)
MAX_CHARS = 300  # longer sentences are split further at commas, then at spaces
POSTFILTER = 0.0  # default strength of the global-variance postfilter: off (docs/synthesis.md)
GAP_S = 0.15      # silence between sentences


class NothingToSay(MttsError):
    """A sentence with no pronounceable word: skipped inside longer text, an error on its own."""


def gv_postfilter(mel: np.ndarray, gv: np.ndarray | None, strength: float) -> np.ndarray:
    """Global-variance postfilter (as in HMM-based synthesis): a model trained with an L1/L2
    loss predicts the average of what it has heard, so its mel bins vary less within an
    utterance than recorded speech does. Scale each bin's deviations from its mean in this
    utterance by 1 + strength * (gv / std - 1): strength 1 restores the training set's
    variance `gv`, 0 leaves the mel as it is. Never lowers a bin's variance, at most triples it.

    mel: normalised log-mel (..., T, n_mels); gv: (n_mels,) from the training statistics."""
    if gv is None or strength <= 0 or mel.shape[-2] < 2:
        return mel
    mu = mel.mean(-2, keepdims=True)
    sd = np.maximum(mel.std(-2, keepdims=True), 1e-3)
    ratio = np.clip(1.0 + strength * (gv / sd - 1.0), 1.0, 3.0)
    return (mu + (mel - mu) * ratio).astype(mel.dtype)


def split_sentences(text: str) -> list[str]:
    parts = [p.strip() for p in re.split(r"(?<=[.!?;])\s+", text) if p.strip()]
    out = []
    for p in parts:
        while len(p) > MAX_CHARS:
            cut = p.rfind(",", 0, MAX_CHARS)
            cut = cut if cut > 0 else p.rfind(" ", 0, MAX_CHARS)
            cut = cut if cut > 0 else MAX_CHARS
            out.append(p[: cut + 1].strip())
            p = p[cut + 1:].strip()
        if p:
            out.append(p)
    return out


def check_postfilter(strength: float) -> None:
    if not 0.0 <= strength <= 1.0:
        raise MttsError(f"--postfilter must be between 0 and 1, got {strength}")


@dataclass
class Synthesizer:
    model: torch.nn.Module
    tokens: object
    params: object
    stats: Stats
    phonemizer: Phonemizer
    normalizer: str = "builtin"
    chars: TokenTable | None = None     # present when the model reads characters (G2P task or data.input)
    vocoder: torch.nn.Module | None = None   # the packaged neural vocoder, when chosen
    postfilter: float = POSTFILTER           # gv_postfilter strength; 0 = off
    speakers: dict[str, int] | None = None   # a multi-speaker model's names -> indices
    speaker: str | None = None               # the voice spoken with (None: the model's index 0)

    @classmethod
    def load(cls, path: Path, vocoder: str = "auto", postfilter: float = POSTFILTER,
             speaker: str | None = None) -> "Synthesizer":
        synth = cls.from_package(checkpoint.Package.load(path), path, vocoder=vocoder, postfilter=postfilter)
        synth.set_speaker(speaker)
        return synth

    def set_speaker(self, name: str | None) -> None:
        """Speak with this speaker of a multi-speaker model (None: its first, index 0); an
        unknown name is an error that names the speakers the model knows."""
        checkpoint.speaker_index(self.speakers, name)
        self.speaker = name

    @property
    def default_speaker(self) -> str | None:
        """The speaker a multi-speaker model speaks with when none is chosen (index 0)."""
        return next((s for s, i in (self.speakers or {}).items() if i == 0), None)

    @classmethod
    def from_package(cls, pkg: checkpoint.Package, path: Path, model=None, vocoder: str = "auto",
                     postfilter: float = POSTFILTER) -> "Synthesizer":
        """From a loaded model package; pass `model` when it is already built.
        vocoder: auto (neural when packaged), griffin-lim or neural."""
        if vocoder not in VOCODERS:
            raise MttsError(f"--vocoder must be one of {', '.join(VOCODERS)}, got {vocoder!r}")
        check_postfilter(postfilter)
        if vocoder == "neural" and pkg.vocoder is None:
            raise MttsError(f"{path} has no neural vocoder: package one with `mtts select-best --vocoder EXP` "
                            "or use --vocoder griffin-lim")
        voc = None
        if pkg.vocoder is not None and vocoder != "griffin-lim":
            from mtts.vocoder.model import build_vocoder
            voc = build_vocoder(pkg.vocoder)[0]
        return cls(model if model is not None else pkg.build_model(path), pkg.tokens, pkg.feature_params,
                   Stats(pkg.stats), Phonemizer(lexicon=pkg.text.get("lexicon")), pkg.text["normalizer"],
                   pkg.chars, voc, postfilter, pkg.speakers)

    def add_lexicon(self, path: Path) -> None:
        """A user lexicon on top of the one saved in the model (docs/text.md): its entries add
        to or override the saved ones; its phonemes must be in the model's token table."""
        from mtts.text.lexicon import check_symbols, read_lexicon_lines
        entries = read_lexicon_lines(path)
        if self.model.input == "chars":
            raise MttsError("this model reads characters (data.input: chars): a lexicon of phonemes does not apply")
        check_symbols(entries, self.tokens.symbols[self.tokens.n_special:], path)
        self.phonemizer.lexicon.update({w: ipa for w, (ipa, _) in entries.items()})

    @property
    def postfilter_strength(self) -> float:
        """The strength applied: 0 when the statistics predate the postfilter (no mel_gv)."""
        return self.postfilter if self.stats.mel_gv is not None else 0.0

    @property
    def vocoder_name(self) -> str:
        return "neural" if self.vocoder is not None else "griffin-lim"

    def input_ids(self, text: str, source: str = "auto") -> list[int]:
        """Normalised sentence -> the ids the model reads, between its boundary tokens. A
        phoneme model's phonemes come from espeak (`phonemes`, also `auto`) or from its own G2P
        task (`chars`); a character model (data.input: chars) reads the characters (`chars`,
        `auto`), and espeak's phonemes are refused, since it never saw them."""
        if source not in SOURCES:
            raise MttsError(f"--input must be one of {', '.join(SOURCES)}, got {source!r}")
        if self.model.input == "chars":
            if source == "phonemes":
                raise MttsError("this model reads characters (data.input: chars): synthesize with --input chars")
            ids = [i for i in self.chars.encode(text.lower()) if i >= self.chars.n_special]
            return self.chars.wrap(ids) if ids and any(c.isalpha() for c in text) else []
        if source == "chars":
            if self.chars is None:
                raise MttsError("this model has no g2p task: synthesize with --input phonemes")
            cids = [i for i in self.chars.encode(text.lower()) if i >= self.chars.n_special]
            if not any(c.isalpha() for c in text) or not cids:
                return []
            ids = self.model.phonemes_from_chars(torch.tensor([cids]))[0]
        else:
            phones = self.phonemizer([text])[0]
            if not any(c.isalpha() for c in phones):
                return []
            ids = self.tokens.encode(phones)
        # drop symbols unseen in training (and boundaries G2P emitted), then add the boundaries
        ids = [i for i in ids if i >= self.tokens.n_special]
        return self.tokens.wrap(ids) if ids else []

    def norm_mel(self, text: str, length_scale: float = 1.0, source: str = "auto",
                 speaker: str | None = None) -> torch.Tensor:
        """One sentence -> normalised log-mel (T, n_mels), as the model outputs it and then
        postfiltered (`postfilter`); speaker: this call's voice (None: `self.speaker`)."""
        index = checkpoint.speaker_index(self.speakers, speaker if speaker is not None else self.speaker)
        ids = self.input_ids(get_normalizer(self.normalizer)(text), source)
        if not ids:
            raise NothingToSay(f"nothing to say in {text[:60]!r}: no pronounceable words")
        speaker = torch.tensor([index]) if index is not None else None
        mel = self.model.infer(torch.tensor([ids]), speaker=speaker, length_scale=length_scale)["mel"][0]
        return torch.from_numpy(gv_postfilter(mel.numpy(), self.stats.mel_gv, self.postfilter))

    def mel(self, text: str, length_scale: float = 1.0, source: str = "auto", speaker: str | None = None) -> np.ndarray:
        """One sentence -> log-mel (T, n_mels)."""
        return self.stats.denorm_mel(self.norm_mel(text, length_scale, source, speaker)).numpy()

    @torch.no_grad()
    def vocode(self, norm_mel: torch.Tensor, n_iter: int = 32, seed: int | None = None) -> np.ndarray:
        if self.vocoder is not None:
            return self.vocoder(norm_mel[None])[0].clamp(-1.0, 1.0).numpy()
        return griffin_lim(self.stats.denorm_mel(norm_mel).numpy(), self.params, n_iter, seed)

    def stream(self, text: str, length_scale: float = 1.0, n_iter: int = 32, source: str = "auto",
               seed: int | None = None, timing: dict | None = None,
               check: Callable[[], None] | None = None, speaker: str | None = None) -> Iterator[np.ndarray]:
        """Any length of text -> its audio sentence by sentence, each piece yielded as soon as it
        is made: float32 samples in [-1, 1], the GAP_S pause leading every piece but the first.
        A punctuation-only piece inside longer text is skipped; text with nothing to say raises
        NothingToSay. timing, when given, accumulates acoustic_s and vocoder_s; check, when
        given, runs before each sentence (a server's deadline raises there); speaker: the
        voice of a multi-speaker model for this text (None: `self.speaker`), so that
        interleaved streams of one Synthesizer may speak in different voices."""
        sentences = split_sentences(text)
        if not sentences:
            raise MttsError("the text is empty")
        gap = np.zeros(int(GAP_S * self.params.sample_rate), dtype=np.float32)
        said = False
        for k, s in enumerate(sentences):
            if check is not None:
                check()
            t0 = time.perf_counter()
            try:
                mel = self.norm_mel(s, length_scale, source, speaker)
            except NothingToSay:
                if len(sentences) == 1:
                    raise
                continue
            t1 = time.perf_counter()
            wav = self.vocode(mel, n_iter, None if seed is None else seed + k)
            if timing is not None:
                timing["acoustic_s"] = timing.get("acoustic_s", 0.0) + t1 - t0
                timing["vocoder_s"] = timing.get("vocoder_s", 0.0) + time.perf_counter() - t1
            yield np.concatenate([gap, wav]) if said else wav
            said = True
        if not said:
            raise NothingToSay(f"nothing to say in {text[:60]!r}: no pronounceable words")

    def __call__(self, text: str, length_scale: float = 1.0, n_iter: int = 32,
                 source: str = "auto", seed: int | None = None,
                 max_seconds: float = MAX_SECONDS, speaker: str | None = None) -> tuple[np.ndarray, dict]:
        """Any length of text -> waveform, plus timing of acoustic model and vocoder.
        seed: Griffin-Lim's initial phases (evaluation makes them alike for every model).
        max_seconds: stop with an error once the audio passes it (0: no limit; mtts.limits)."""
        timing = {"acoustic_s": 0.0, "vocoder_s": 0.0}
        pieces, samples = [], 0
        for piece in self.stream(text, length_scale, n_iter, source, seed, timing, speaker=speaker):
            pieces.append(piece)
            samples += len(piece)
            check_seconds(samples / self.params.sample_rate, max_seconds)
        wav = np.concatenate(pieces)
        secs = len(wav) / self.params.sample_rate
        return wav, {"audio_s": secs, **timing, "rtf": (timing["acoustic_s"] + timing["vocoder_s"]) / max(secs, 1e-9)}


def pcm16(wav: np.ndarray) -> bytes:
    """float samples in [-1, 1] -> little-endian 16-bit PCM (scaled by 32767 and rounded)."""
    return (np.clip(wav, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def wav_header(sr: int, samples: int | None = None) -> bytes:
    """The 44-byte header of a 16-bit mono PCM wav of `samples` samples; None: of unknown length,
    the sizes the largest there are, as streaming servers send them (players read to the end)."""
    data = 0xFFFFFFFF - 36 if samples is None else 2 * samples
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data, b"WAVE", b"fmt ", 16, 1, 1, sr, 2 * sr, 2, 16,
                       b"data", data)


class WavStream:
    """A 16-bit mono wav at `path` that grows as audio is added: after each `write` its header
    is brought up to date, so the file is at every moment a valid wav of the audio so far (a
    player can follow it). It is created at the first write, so a stream that fails before any
    audio leaves an existing file alone; `abort` removes what was written."""

    def __init__(self, path: Path, sr: int):
        if not path.parent.is_dir():
            raise MttsError(f"cannot write {path}: directory {path.parent} does not exist")
        self.path, self.sr, self.file, self.frames = path, sr, None, 0

    def write(self, wav: np.ndarray) -> None:
        try:
            if self.file is None:
                self.file = open(self.path, "wb")
                self.file.write(wav_header(self.sr, 0))
            self.file.seek(0, os.SEEK_END)
            self.file.write(pcm16(wav))
            self.frames += len(wav)
            self.file.seek(0)
            self.file.write(wav_header(self.sr, self.frames))
            self.file.flush()
        except OSError as e:
            raise MttsError(f"cannot write {self.path}: {e.strerror or e}") from None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

    def abort(self) -> None:
        if self.file is None:
            return
        try:
            self.file.close()
        except OSError:
            pass
        self.path.unlink(missing_ok=True)


def write_wav(path: Path, wav: np.ndarray, sr: int) -> None:
    with atomic_path(path) as tmp:
        try:
            sf.write(tmp, wav, sr, subtype="PCM_16", format="WAV")
        except RuntimeError as e:  # libsndfile says little on a full disk; look ourselves
            full = os.statvfs(tmp.parent).f_bavail == 0
            raise MttsError(f"cannot write {path}: {'No space left on device' if full else e}") from None


def read_text_file(path: Path, max_chars: int = MAX_TEXT_CHARS) -> list[tuple[str, str]]:
    """Lines `text` or `ID|text` -> (id, text); ids default to line numbers. Lines longer than
    `max_chars` (0: no limit), NUL bytes and text that is not UTF-8 are refused, naming the line."""
    if not path.is_file():
        raise MttsError(f"{path} does not exist")
    if path.stat().st_size > MAX_TEXT_FILE_BYTES:
        raise MttsError(f"{path} is larger than {MAX_TEXT_FILE_BYTES // 2**20} MB: split it")
    raw = path.read_bytes()
    try:
        lines = raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise MttsError(f"{path}:{line}: not UTF-8 text; convert it with iconv -t UTF-8") from None
    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        check_line(line, f"{path}:{n}", max_chars)
        uid, sep, text = line.partition("|")
        if not sep:
            uid, text = f"utt{n:05d}", line
        items.append((check_id(uid.strip(), f"{path}:{n}"), text.split("|")[0].strip()))
    if not items:
        raise MttsError(f"{path} holds no text")
    return items


def stream_lines(text: str | None, text_file: Path | None, max_chars: int = MAX_TEXT_CHARS) -> Iterator[str]:
    """The lines `synthesize --stream` reads, one at a time as they come: the text given, a UTF-8
    file ('-': standard input), or standard input when neither is given. File lines are checked
    as read_text_file checks them (`check_line`)."""
    if text is not None:
        yield from text.splitlines() or [""]
        return
    if text_file is not None and str(text_file) != "-":
        if not text_file.is_file():
            raise MttsError(f"{text_file} does not exist")
        with open(text_file, "rb") as f:
            yield from _decoded(f, str(text_file), max_chars)
        return
    if sys.stdin is None or sys.stdin.isatty():
        raise MttsError("no text given: pass --text, --text-file, or pipe it to standard input")
    yield from _decoded(sys.stdin.buffer, "standard input", max_chars)


def _decoded(lines: Iterable[bytes], where: str, max_chars: int) -> Iterator[str]:
    """UTF-8 lines decoded and checked one at a time, so a bad line is found on its own, after
    the lines before it were spoken."""
    for n, raw in enumerate(lines, 1):
        try:
            line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError:
            raise MttsError(f"{where}:{n}: not UTF-8 text; convert it with iconv -t UTF-8") from None
        yield check_line(line.rstrip("\r\n"), f"{where}:{n}", max_chars)


def synthesize_stream(synth: Synthesizer, lines: Iterable[str], write: Callable[[np.ndarray], None],
                      length_scale: float = 1.0, n_iter: int = 32, source: str = "auto",
                      note: Callable[[str], None] = lambda _: None) -> dict:
    """Speak lines in order, handing each sentence's audio to `write` as soon as it is made
    (GAP_S of silence between sentences and lines). A line with nothing to say is skipped
    with a `note`; when no line says anything, NothingToSay. Returns counts and timings:
    first_audio_s runs from the first line read to its first audio written."""
    gap = np.zeros(int(GAP_S * synth.params.sample_rate), dtype=np.float32)
    t_start = first = None
    samples = sentences = n_lines = 0
    skipped: list[str] = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        n_lines += 1
        t_start = t_start if t_start is not None else time.perf_counter()
        try:
            for k, wav in enumerate(synth.stream(line, length_scale, n_iter, source)):
                if k == 0 and sentences:
                    wav = np.concatenate([gap, wav])
                write(wav)
                first = first if first is not None else time.perf_counter() - t_start
                samples += len(wav)
                sentences += 1
        except NothingToSay as e:
            skipped.append(f"line {n}: {e}, skipped")
        if sentences:   # notes wait for the first audio: text with nothing at all to say is one error
            for msg in skipped:
                note(msg)
            skipped = []
    if not sentences:
        raise NothingToSay(skipped[0].split(": ", 1)[1].removesuffix(", skipped") if n_lines == 1
                           else "nothing to say: no line holds a pronounceable word")
    return {"lines": n_lines, "sentences": sentences, "audio_s": samples / synth.params.sample_rate,
            "first_audio_s": first, "total_s": time.perf_counter() - t_start}
