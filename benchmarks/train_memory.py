#!/usr/bin/env python3
"""Resident memory and speed over many training steps with varying batch shapes.

usage: python benchmarks/train_memory.py [--steps 300] [--every 25] [--pad-multiple 1] [--json OUT]

A frame-batched TTS loop sees a new (batch, frames, phonemes) shape almost every step. This
runs the default model on synthetic batches of random shape (same shape distribution for
every setting, fixed seed) and prints RSS and s/step every `--every` steps, so a leak shows
as a slope. Compare settings in separate processes, e.g.
    python benchmarks/train_memory.py --pad-multiple 1
    python benchmarks/train_memory.py --pad-multiple 32
    python benchmarks/train_memory.py --trim-every 1
    MALLOC_MMAP_THRESHOLD_=65536 python benchmarks/train_memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import warnings

import torch

from mtts.model import MultiTaskModel
from mtts.train import build_method, rss_mb, trim_heap
from mtts.validate import config_from_dict


def random_batch(rng: random.Random, max_frames: int, pad_multiple: int) -> dict:
    """A batch of up to `max_frames` padded frames with a random utterance length."""
    T = rng.randint(150, 900)
    B = max(1, max_frames // T)
    lens = torch.tensor([rng.randint(int(0.7 * T), T) for _ in range(B)])
    lens[0] = T
    T_pad = -(-T // pad_multiple) * pad_multiple
    text_lens = (lens // 6).clamp(min=2)
    N = int(text_lens.max())
    N_pad = -(-N // pad_multiple) * pad_multiple if pad_multiple > 1 else N
    text = torch.randint(2, 60, (B, N_pad)) * (torch.arange(N_pad)[None] < text_lens[:, None])
    return {"text": text, "text_lens": text_lens, "feats": torch.randn(B, T_pad, 80), "feats_lens": lens,
            "pitch": torch.rand(B, T_pad) * 100 + 150, "energy": torch.randn(B, T_pad)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--batch-frames", type=int, default=8000)
    ap.add_argument("--pad-multiple", type=int, default=1, help="pad frames and phonemes to a multiple of this")
    ap.add_argument("--trim-every", type=int, default=0, help="call glibc malloc_trim(0) every N steps")
    ap.add_argument("--json")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    rng = random.Random(0)
    cfg = config_from_dict({})
    model = MultiTaskModel(cfg, 80, 80, (200.0, 30.0))
    method = build_method(cfg, model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    rows, t0, frames = [], time.perf_counter(), 0
    print(f"{'step':>6} {'rss MB':>8} {'s/step':>7} {'frames/s':>9}")
    for step in range(1, args.steps + 1):
        b = random_batch(rng, args.batch_frames, args.pad_multiple)
        out = model(b)
        opt.zero_grad(set_to_none=True)
        method.backward(out["losses"], out["shared"])
        opt.step()
        frames += int(b["feats_lens"].sum())
        if args.trim_every and step % args.trim_every == 0:
            trim_heap()
        if step % args.every == 0:
            dt = time.perf_counter() - t0
            rows.append({"step": step, "rss_mb": round(rss_mb(), 1), "s_per_step": dt / args.every,
                         "frames_per_s": frames / dt})
            print(f"{step:>6} {rows[-1]['rss_mb']:>8.0f} {dt / args.every:>7.3f} {frames / dt:>9.0f}", flush=True)
            t0, frames = time.perf_counter(), 0
    rec = {"pad_multiple": args.pad_multiple, "trim_every": args.trim_every, "threads": torch.get_num_threads(),
           "env": {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "LD_PRELOAD", "ONEDNN"))},
           "rows": rows}
    print(json.dumps(rec))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rec, f, indent=2)


if __name__ == "__main__":
    main()
