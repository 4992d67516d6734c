"""Where the alignment puts the leading silence: for each dev utterance, monotonic alignment
search (the model's alignment task, teacher-forced) gives every input token its frames; this
counts the silent frames (normalised energy below --silence) that go to <bos> and to the
phonemes of the first word, and prints medians as JSON.

    python benchmarks/boundary_alignment.py exp/train/checkpoints/step_0001800.pt --data-dir data

A model whose first phonemes take the recording's leading silence learns to make silence of
them, and its first word is then hard to understand (docs/intelligibility.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from mtts.checkpoint import Package
from mtts.data.dataset import Stats, TTSDataset, collate


def boundary_frames(ckpt: Path, data_dir: Path, split: str, silence: float, max_utts: int) -> dict:
    pkg = Package.load(ckpt)
    model = pkg.build_model(ckpt)
    stats = Stats(pkg.stats)
    ds = TTSDataset(data_dir / split, pkg.tokens, stats, max_utts=max_utts)
    space = pkg.tokens.symbols.index("<space>") if "<space>" in pkg.tokens.symbols else -1
    bos, first_word, first_word_silent = [], [], []
    for i in range(len(ds)):
        b = collate([ds[i]])
        with torch.no_grad():
            dur = model(b)["ctx"].durations[0].tolist()
        text, energy = b["text"][0].tolist(), b["energy"][0].numpy()
        edges = np.cumsum([0] + dur)
        end = next((k for k in range(1, len(text)) if text[k] == space), len(text) - 1)
        bos.append(dur[0])
        first_word.append(int(edges[end] - edges[1]))
        first_word_silent.append(int((energy[edges[1]:edges[end]] < silence).sum()))
    silent_lead = [int(np.argmax(ds[i]["energy"].numpy() >= silence)) for i in range(len(ds))]
    med = lambda xs: float(np.median(xs))  # noqa: E731
    return {"checkpoint": str(ckpt), "utterances": len(ds), "leading_silence_frames": med(silent_lead),
            "bos_frames": med(bos), "first_word_frames": med(first_word),
            "first_word_silent_frames": med(first_word_silent),
            "first_word_silent_share": float(np.sum(first_word_silent) / max(np.sum(first_word), 1))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--data-dir", type=Path, default=Path("data"))
    ap.add_argument("--split", default="dev")
    ap.add_argument("--silence", type=float, default=-2.0, help="normalised energy below which a frame is silent")
    ap.add_argument("--max-utts", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(json.dumps([boundary_frames(c, args.data_dir, args.split, args.silence, args.max_utts)
                      for c in args.checkpoints], indent=2))


if __name__ == "__main__":
    main()
