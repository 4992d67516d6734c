#!/usr/bin/env python3
"""Time to first audio: streaming synthesis (Synthesizer.stream, what `mtts synthesize --stream`
and /api/tts/stream run) against synthesising the whole text before any audio.

usage: python benchmarks/stream_latency.py [MODEL] [--chars 5000] [--threads 2] [--repeats 3]
                                           [--vocoder auto|neural|griffin-lim] [--json OUT]
Without MODEL: an untrained model of the default size, with an untrained neural vocoder of
the default size, its durations fixed at 7 frames a phoneme (speech-like lengths). Weights
do not change the compute, so the timings stand for a trained model of the same size. The
text is Harvard sentences cycled to --chars characters. Times are wall-clock seconds
(median of --repeats; the whole text once) and the process's CPU seconds beside them, which
another job on the machine does not inflate. Prints a table and a JSON record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from mtts.synthesize import Synthesizer
from mtts.text.samples import HARVARD

REPO = Path(__file__).resolve().parents[1]


def long_text(chars: int) -> str:
    out, k = [], 0
    while sum(len(s) + 1 for s in out) < chars:
        out.append(HARVARD[k % len(HARVARD)])
        k += 1
    return " ".join(out)[:chars].rsplit(" ", 1)[0] + "."


def untrained_package(path: Path) -> Path:
    """Default-size acoustic model and neural vocoder, random weights, 7 frames a phoneme."""
    sys.path.insert(0, str(REPO / "tests"))
    from mtts import checkpoint
    from mtts.vocoder.model import Vocoder, VocoderConfig

    from conftest import make_model_package
    make_model_package(path.with_suffix(".pt"), frames_per_token=7, config={})
    pkg = checkpoint.Package.load(path.with_suffix(".pt"))
    fp = pkg.feature_params.to_dict()
    voc = Vocoder(VocoderConfig(), fp["n_mels"], fp["n_fft"], fp["hop_length"], fp["win_length"])
    pkg.vocoder = checkpoint.VocoderPackage(asdict(VocoderConfig()), fp, pkg.stats, 0, voc.state_dict())
    pkg.save(path)
    return path


def clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, nargs="?")
    ap.add_argument("--chars", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--vocoder", default="auto")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or untrained_package(Path(tmp) / "untrained.safetensors")
        synth = Synthesizer.load(model, args.vocoder)
        text = long_text(args.chars)
        synth(HARVARD[-1])                              # warm-up: espeak, torch kernels
        firsts = []
        for _ in range(args.repeats):
            w0, c0 = clocks()
            gen = synth.stream(text)
            first = next(gen)
            w1, c1 = clocks()
            firsts.append((w1 - w0, c1 - c0, len(first)))
            gen.close()
        w0, c0 = clocks()
        n = sum(1 for _ in synth.stream(text))          # the rest, as a stream would go on
        w1, c1 = clocks()
        wav, _ = synth(text)                            # the whole text before any audio, as before
        w2, c2 = clocks()
    sr = synth.params.sample_rate
    rec = {"model": str(args.model or "untrained default-size model + neural vocoder"),
           "vocoder": synth.vocoder_name, "threads": args.threads, "chars": len(text), "sentences": n,
           "first_sentence_chars": len(text.split(". ")[0]) + 1,
           "audio_s": round(len(wav) / sr, 2),
           "first_audio_wall_s": round(statistics.median(f[0] for f in firsts), 4),
           "first_audio_cpu_s": round(statistics.median(f[1] for f in firsts), 4),
           "first_audio_s_of_audio": round(firsts[0][2] / sr, 2),
           "stream_all_wall_s": round(w1 - w0, 3), "stream_all_cpu_s": round(c1 - c0, 3),
           "whole_text_wall_s": round(w2 - w1, 3), "whole_text_cpu_s": round(c2 - c1, 3)}
    print(f"{'':28}{'wall s':>10}{'CPU s':>10}")
    print(f"{'first audio (stream)':28}{rec['first_audio_wall_s']:>10.3f}{rec['first_audio_cpu_s']:>10.3f}")
    print(f"{'whole text, then audio':28}{rec['whole_text_wall_s']:>10.3f}{rec['whole_text_cpu_s']:>10.3f}")
    print(f"{len(text)} characters, {n} sentences, {rec['audio_s']} s of audio, {rec['vocoder']}, "
          f"{args.threads} threads")
    print(json.dumps(rec))
    if args.json:
        args.json.write_text(json.dumps(rec, indent=2) + "\n")


if __name__ == "__main__":
    main()
