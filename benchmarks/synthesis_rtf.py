#!/usr/bin/env python3
"""Synthesis real-time factor per component and end to end: acoustic model, Griffin-Lim,
the neural vocoder in torch, and both again through onnxruntime.

usage: python benchmarks/synthesis_rtf.py MODEL.pt [--onnx DIR] [--sentences FILE] [--n 5]
                                          [--repeats 3] [--threads 2] [--json OUT]
RTF = compute seconds / audio seconds, totalled over the sentences; each figure is the
median over repeats. The text front end (normaliser, espeak, cached after the warm-up)
counts towards the acoustic model. Prints a table and a JSON record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from mtts.features.audio import griffin_lim
from mtts.synthesize import Synthesizer, read_text_file

DEFAULT = ["The quick brown fox jumps over the lazy dog.",
           "Printing, in the only sense with which we are at present concerned, differs from most arts.",
           "It was a bright cold day in April, and the clocks were striking thirteen.",
           "She sells sea shells by the sea shore.",
           "To be or not to be, that is the question."]


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--onnx", type=Path, help="Directory written by `mtts export` for this model.")
    ap.add_argument("--sentences", type=Path)
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--gl-iter", type=int, default=32)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    texts = [t for _, t in read_text_file(args.sentences)][: args.n] if args.sentences else DEFAULT[: args.n]
    synth = Synthesizer.load(args.model)
    onnx = None
    if args.onnx:
        from mtts.export import OnnxSynthesizer
        onnx = OnnxSynthesizer(args.onnx, args.threads)
    hop, sr = synth.params.hop_length, synth.params.sample_rate
    runs = []
    for rep in range(args.repeats + 1):           # repeat 0 is a warm-up
        # one component at a time over all sentences: interleaving them (Griffin-Lim's numpy
        # between two acoustic-model calls) slows each one down through cold caches and threads
        t, mels = {}, []
        with torch.no_grad():
            for text in texts:
                mel, dt = timed(synth.norm_mel, text)
                t["acoustic"] = t.get("acoustic", 0.0) + dt
                mels.append(mel)
            if synth.vocoder is not None:
                t["neural"] = sum(timed(synth.vocoder, mel[None])[1] for mel in mels)
        audio = sum(mel.shape[0] for mel in mels) * hop / sr
        t["griffin-lim"] = sum(timed(griffin_lim, synth.stats.denorm_mel(mel).numpy(), synth.params,
                                     args.gl_iter)[1] for mel in mels)
        if onnx is not None:
            onnx_mels = []
            for text in texts:
                ids = onnx.ids(text)
                m, dt = timed(onnx.norm_mel, ids)
                t["onnx acoustic"] = t.get("onnx acoustic", 0.0) + dt
                onnx_mels.append(m)
            if "vocoder" in onnx.sessions:
                t["onnx neural"] = sum(timed(onnx.sessions["vocoder"].run, None, {"mel": m})[1] for m in onnx_mels)
        if rep:
            runs.append({k: v / audio for k, v in t.items()})
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    ends = {"torch + griffin-lim": med["acoustic"] + med["griffin-lim"]}
    if "neural" in med:
        ends["torch + neural"] = med["acoustic"] + med["neural"]
    if "onnx neural" in med:
        ends["onnx + onnx neural"] = med["onnx acoustic"] + med["onnx neural"]
    rec = {"model": str(args.model), "onnx": str(args.onnx) if args.onnx else None, "sentences": len(texts),
           "repeats": args.repeats, "threads": torch.get_num_threads(), "griffin_lim_iterations": args.gl_iter,
           "rtf_components": med, "rtf_end_to_end": ends}
    print(f"{'component':<22} {'RTF (median)':>12}")
    for k, v in med.items():
        print(f"{k:<22} {v:>12.4f}")
    print(f"{'end to end':<22}")
    for k, v in ends.items():
        print(f"{k:<22} {v:>12.4f}")
    print(json.dumps(rec))
    if args.json:
        args.json.write_text(json.dumps(rec, indent=2) + "\n")


if __name__ == "__main__":
    main()
