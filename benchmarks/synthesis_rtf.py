#!/usr/bin/env python3
"""Synthesis real-time factor (text -> wav), split into acoustic model and vocoder.

usage: python benchmarks/synthesis_rtf.py MODEL.pt [--sentences FILE] [--n 10] [--repeats 3]
Prints a table and, with --json, a JSON record. RTF = compute seconds / audio seconds;
each figure is the median over repeats of the total over all sentences.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from mtts.synthesize import Synthesizer, read_text_file

DEFAULT = ["The quick brown fox jumps over the lazy dog.",
           "Printing, in the only sense with which we are at present concerned, differs from most arts.",
           "It was a bright cold day in April, and the clocks were striking thirteen.",
           "She sells sea shells by the sea shore.",
           "To be or not to be, that is the question."]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--sentences", type=Path)
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    texts = [t for _, t in read_text_file(args.sentences)][: args.n] if args.sentences else DEFAULT[: args.n]
    synth = Synthesizer.load(args.model)
    synth(texts[0])  # warm-up: espeak load, first-call allocations
    runs = []
    for _ in range(args.repeats):
        tot = {"audio_s": 0.0, "acoustic_s": 0.0, "vocoder_s": 0.0}
        t0 = time.perf_counter()
        for t in texts:
            _, info = synth(t)
            for k in tot:
                tot[k] += info[k]
        wall = time.perf_counter() - t0
        runs.append({"rtf_total": wall / tot["audio_s"], "rtf_acoustic": tot["acoustic_s"] / tot["audio_s"],
                     "rtf_vocoder": tot["vocoder_s"] / tot["audio_s"], "audio_s": tot["audio_s"]})
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    rec = {"model": str(args.model), "sentences": len(texts), "repeats": args.repeats,
           "threads": torch.get_num_threads(), "vocoder": "griffin-lim (32 iterations)", **med}
    print(f"{'component':<12} {'RTF (median)':>12}")
    for k in ("rtf_acoustic", "rtf_vocoder", "rtf_total"):
        print(f"{k[4:]:<12} {med[k]:>12.4f}")
    print(json.dumps(rec))
    if args.json:
        args.json.write_text(json.dumps(rec, indent=2) + "\n")


if __name__ == "__main__":
    main()
