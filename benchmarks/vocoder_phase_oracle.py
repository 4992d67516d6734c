#!/usr/bin/env python3
"""What limits the neural vocoder's naturalness: its magnitudes or its phase? DNSMOS of
recordings, of the vocoder on their own mels (copy synthesis), and of STFTs that take the
magnitude from one and the phase from the other.

usage: python benchmarks/vocoder_phase_oracle.py VOCODER [--split DIR] [--dump DIR] [--n 30]
                                                 [--threads 2] [--json OUT]
VOCODER is a vocoder exp dir or checkpoint (`mtts train-vocoder`); --split a data split with
wav.scp and feats.scp, --dump the dump with stats.json. Rows are means over the first n
utterances of the split; STFTs are n_fft / hop of the features (librosa, Hann window).
Prints a table and a JSON record.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import librosa
import numpy as np
import torch

from mtts.data.dataset import Stats
from mtts.evaluate.metrics import dnsmos
from mtts.features.audio import FeatureParams
from mtts.vocoder.model import build_vocoder, load_vocoder_checkpoint
from mtts.vocoder.train import load_pairs

ROWS = ("recording", "vocoder", "vocoder magnitude + recording phase",
        "recording magnitude + vocoder phase", "vocoder magnitude + recording phase < 1 kHz",
        "vocoder magnitude + recording phase, offset per bin")


def variants(rec: np.ndarray, voc: np.ndarray, n_fft: int, hop: int, sr: int,
             rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = min(len(rec), len(voc))
    rec, voc = rec[:n], voc[:n]
    R, V = (librosa.stft(y, n_fft=n_fft, hop_length=hop) for y in (rec, voc))

    def make(mag, phase):
        return librosa.istft(mag * np.exp(1j * phase), hop_length=hop, length=n)
    low = np.fft.rfftfreq(n_fft, 1 / sr)[:, None] < 1000
    # a constant offset per bin keeps every bin's frequency (phase advance per frame) but
    # breaks the phase relation between neighbouring bins (group delay)
    offset = rng.uniform(-np.pi, np.pi, (R.shape[0], 1))
    return dict(zip(ROWS, (rec, voc, make(np.abs(V), np.angle(R)), make(np.abs(R), np.angle(V)),
                           make(np.abs(V), np.where(low, np.angle(R), np.angle(V))),
                           make(np.abs(V), np.angle(R) + offset))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vocoder", type=Path)
    ap.add_argument("--split", type=Path, default=Path("recipes/mini/data/test"))
    ap.add_argument("--dump", type=Path, default=Path("recipes/mini/dump"))
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    state = load_vocoder_checkpoint(args.vocoder)
    voc, _ = build_vocoder(state)
    p = state["feature_params"]
    sr, n_fft, hop = p["sample_rate"], p["n_fft"], p["hop_length"]
    stats = Stats(json.loads((args.dump / "stats.json").read_text()))
    pairs = load_pairs(args.split, stats, FeatureParams.from_dict(p), args.n)   # (mel, recording)
    rng = np.random.default_rng(0)
    scores: dict[str, list[dict]] = {k: [] for k in ROWS}
    for mel, rec in pairs:
        with torch.no_grad():
            y = voc(mel[None])[0].numpy()
        for name, wav in variants(rec.numpy(), y, n_fft, hop, sr, rng).items():
            scores[name].append(dnsmos(wav.astype(np.float32), sr))
    rows = {k: {m: round(float(np.mean([s[m] for s in v])), 3) for m in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")}
            for k, v in scores.items()}
    width = max(map(len, ROWS))
    print(f"{'audio (' + str(len(pairs)) + ' utterances)':{width}}    SIG    BAK   OVRL")
    for k, r in rows.items():
        print(f"{k:{width}}  {r['dnsmos_sig']:5.2f}  {r['dnsmos_bak']:5.2f}  {r['dnsmos_ovrl']:5.2f}")
    record = {"vocoder": str(args.vocoder), "step": state["step"], "split": str(args.split),
              "utterances": len(pairs), "dnsmos": rows}
    print(json.dumps(record))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
