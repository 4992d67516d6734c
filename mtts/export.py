"""Stage `export`: the model package to ONNX, run with onnxruntime.

Three graphs, because the length regulator has a data-dependent output length:
  encoder.onnx  input ids (1, N), length_scale (1,) [, speaker (1,) index of a multi-speaker
                model] -> h_dec (1, N, D), durations (1, N)
  decoder.onnx  expanded h_dec (1, T, D) -> normalised log-mel (1, T, n_mels)
  vocoder.onnx  normalised log-mel (1, T, n_mels) -> waveform (1, T * hop)   [if packaged]
The host repeats each input vector by its duration between the first two (numpy).
meta.json carries what the text front end needs (the input kind, phonemes or characters,
and its token table, normaliser, feature parameters) and a multi-speaker model's `speakers`
(name -> the index the encoder's `speaker` input takes).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mtts import checkpoint
from mtts.checkpoint import speaker_index
from mtts.errors import MttsError
from mtts.io import atomic_path, write_json
from mtts.synthesize import POSTFILTER, gv_postfilter
from mtts.tasks.base import Context


class _Front(nn.Module):
    """Text to the decoder's input at phoneme rate: the model's `infer_text`."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, text: torch.Tensor, length_scale: torch.Tensor, speaker: torch.Tensor | None = None):
        lens = (text >= 0).sum(1)   # one utterance, no padding: every position is valid
        ctx, _ = self.model.infer_text(text, lens, speaker, length_scale=length_scale)
        return ctx.h_dec, ctx.durations


class _Decoder(nn.Module):
    """Expanded decoder input to the mel: the model's `infer_frames`."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        ctx = Context(frames=x, frames_mask=torch.ones(x.shape[:2], dtype=torch.bool))
        self.model.infer_frames(ctx)
        return ctx.mel_pred


def export_module(module: nn.Module, args: tuple, path: Path, names_in: list[str], names_out: list[str],
                  dynamic: dict) -> None:
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(tmp), input_names=names_in, output_names=names_out,
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)


def export_onnx(model_path: Path, out_dir: Path) -> dict:
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise MttsError("ONNX export needs the onnx package: pip install -e '.[export]'") from None
    pkg = checkpoint.Package.load(model_path)
    model, tokens, params = pkg.build_model(model_path), pkg.tokens, pkg.feature_params
    n = 12
    text = torch.randint(2, len(pkg.chars if pkg.input == "chars" else tokens), (1, n))
    written = []
    # traced with autograd on: in no_grad mode attention takes a fused kernel ONNX lacks
    # a multi-speaker encoder takes the speaker's index as a third input
    args = (text, torch.ones(1)) + ((torch.zeros(1, dtype=torch.long),) if pkg.speakers else ())
    names = ["text", "length_scale"] + (["speaker"] if pkg.speakers else [])
    with torch.enable_grad():
        h, dur = _Front(model)(*args)
        export_module(_Front(model), args, out_dir / "encoder.onnx", names,
                      ["h_dec", "durations"], {"text": {1: "N"}, "h_dec": {1: "N"}, "durations": {1: "N"}})
        x = torch.randn(1, 50, h.shape[-1])
        export_module(_Decoder(model), (x,), out_dir / "decoder.onnx", ["x"], ["mel"], {"x": {1: "T"}, "mel": {1: "T"}})
        written += ["encoder.onnx", "decoder.onnx"]
        if pkg.vocoder is not None:
            from mtts.vocoder.model import build_vocoder
            voc = build_vocoder(pkg.vocoder)[0]
            export_module(voc, (torch.randn(1, 50, params.n_mels),), out_dir / "vocoder.onnx", ["mel"], ["wav"],
                          {"mel": {1: "T"}, "wav": {1: "L"}})
            written.append("vocoder.onnx")
    meta = {"input": pkg.input, "tokens": tokens.symbols, "text": pkg.text, "feature_params": params.to_dict(),
            "stats": pkg.stats, "files": written}
    if pkg.input == "chars":
        meta["chars"] = pkg.chars.symbols
    if pkg.speakers:
        meta["speakers"] = pkg.speakers
    write_json(out_dir / "meta.json", meta)
    return {"out": str(out_dir), "files": written}


class OnnxSynthesizer:
    """Sentence -> waveform with onnxruntime only (plus the espeak front end of a phoneme model)."""

    def __init__(self, out_dir: Path, threads: int = 0, postfilter: float | None = None):
        import json

        import onnxruntime as ort

        from mtts.features.audio import FeatureParams
        from mtts.text.phonemize import Phonemizer
        from mtts.text.tokens import TokenTable
        meta = json.loads((out_dir / "meta.json").read_text(encoding="utf-8"))
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.sessions = {f[:-5]: ort.InferenceSession(str(out_dir / f), opts, providers=["CPUExecutionProvider"])
                         for f in meta["files"]}
        self.tokens = TokenTable(meta["tokens"])
        self.input = meta.get("input", "phones")   # exports from before character models read phonemes
        self.chars = TokenTable(meta["chars"]) if self.input == "chars" else None
        self.normalizer = meta["text"]["normalizer"]
        self.params = FeatureParams.from_dict(meta["feature_params"])
        self.mel_mean = np.asarray(meta["stats"]["mel_mean"], dtype=np.float32)
        self.mel_std = np.asarray(meta["stats"]["mel_std"], dtype=np.float32)
        gv = meta["stats"].get("mel_gv")
        self.mel_gv = np.asarray(gv, dtype=np.float32) if gv is not None else None
        self.postfilter = POSTFILTER if postfilter is None else postfilter
        self.phonemizer = Phonemizer(lexicon=meta["text"].get("lexicon"))
        self.speakers = meta.get("speakers")   # None: a single-speaker export (no speaker input)

    def ids(self, text: str) -> np.ndarray:
        """A sentence as the encoder graph reads it: phoneme or character ids, as Synthesizer.input_ids."""
        from mtts.text.normalize import get_normalizer
        norm = get_normalizer(self.normalizer)(text)
        table = self.chars if self.chars is not None else self.tokens
        spoken = norm.lower() if self.chars is not None else self.phonemizer([norm])[0]
        ids = [i for i in table.encode(spoken) if i >= table.n_special]
        if not ids or not any(c.isalpha() for c in spoken):
            raise MttsError(f"nothing to say in {text[:60]!r}: no pronounceable words")
        return np.asarray([table.wrap(ids)], dtype=np.int64)

    def norm_mel(self, ids: np.ndarray, length_scale: float = 1.0, speaker: str | None = None) -> np.ndarray:
        """speaker: a multi-speaker export's speaker name (None: index 0)."""
        feed = {"text": ids, "length_scale": np.asarray([length_scale], np.float32)}
        index = speaker_index(self.speakers, speaker)
        if self.speakers:
            feed["speaker"] = np.asarray([index or 0], dtype=np.int64)
        h, dur = self.sessions["encoder"].run(None, feed)
        x = np.repeat(h[0], dur[0], axis=0)[None]          # the length regulator
        return self.sessions["decoder"].run(None, {"x": x.astype(np.float32)})[0]

    def __call__(self, text: str, length_scale: float = 1.0, speaker: str | None = None) -> tuple[np.ndarray, dict]:
        if "vocoder" not in self.sessions:
            raise MttsError("this export has no vocoder.onnx: package a neural vocoder before exporting")
        t0 = time.perf_counter()
        mel = gv_postfilter(self.norm_mel(self.ids(text), length_scale, speaker), self.mel_gv, self.postfilter)
        t1 = time.perf_counter()
        wav = np.clip(self.sessions["vocoder"].run(None, {"mel": mel})[0][0], -1.0, 1.0)
        t2 = time.perf_counter()
        secs = len(wav) / self.params.sample_rate
        return wav, {"audio_s": secs, "acoustic_s": t1 - t0, "vocoder_s": t2 - t1, "rtf": (t2 - t0) / secs}


def check_export(model_path: Path, out_dir: Path, text: str, threads: int = 0) -> dict:
    """Torch against onnxruntime on one sentence (of a multi-speaker model, in every speaker's
    voice: the largest difference over them): largest differences and RTF of both."""
    from mtts.synthesize import Synthesizer
    synth = Synthesizer.load(model_path)
    onnx_synth = OnnxSynthesizer(out_dir, threads)
    ids = onnx_synth.ids(text)
    diff, ref = 0.0, None
    for name, index in (onnx_synth.speakers or {None: None}).items():
        with torch.no_grad():
            speaker = torch.tensor([index]) if index is not None else None
            ref_s = synth.model.infer(torch.from_numpy(ids), speaker=speaker)["mel"].numpy()
        mel = onnx_synth.norm_mel(ids, speaker=name)
        diff = max(diff, float(np.abs(mel - ref_s).max()) if mel.shape == ref_s.shape else float("inf"))
        ref = ref_s if ref is None else ref
    rec = {"sentence": text, "frames": int(ref.shape[1]), "mel_max_abs_diff": diff}
    if onnx_synth.speakers:
        rec["speakers"] = len(onnx_synth.speakers)
    if "vocoder" in onnx_synth.sessions:
        with torch.no_grad():
            wav_t = synth.vocoder(torch.from_numpy(ref))[0].numpy()
        wav_o = onnx_synth.sessions["vocoder"].run(None, {"mel": ref.astype(np.float32)})[0][0]
        rec["wav_max_abs_diff"] = float(np.abs(wav_t - wav_o).max())
        synth(text)
        onnx_synth(text)  # warm-up both
        rec["rtf_torch"] = synth(text)[1]["rtf"]
        rec["rtf_onnx"] = onnx_synth(text)[1]["rtf"]
    return rec
