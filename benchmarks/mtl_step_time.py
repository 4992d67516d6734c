#!/usr/bin/env python3
"""Seconds per training step of every weighting method, relative to the static sum.

usage: python benchmarks/mtl_step_time.py [--steps 10] [--repeats 3] [--d-model 192] [--json OUT]
Uses a fixed synthetic batch (8 utterances, ~4,000 frames) and the default model size,
so the figure isolates the cost of the method. Median over repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import torch

from mtts.model import MultiTaskModel
from mtts.mtl import METHODS
from mtts.train import build_method, build_optimizer, same_batch_losses
from mtts.validate import config_from_dict


def batch(B: int = 8, n_tokens: int = 80, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    text_lens = torch.randint(60, 120, (B,), generator=g)
    feats_lens = text_lens * 5
    N, T = int(text_lens.max()), int(feats_lens.max())
    text = torch.randint(2, n_tokens, (B, N), generator=g) * (torch.arange(N)[None] < text_lens[:, None])
    return {"text": text, "text_lens": text_lens, "feats": torch.randn(B, T, 80, generator=g),
            "feats_lens": feats_lens, "pitch": torch.rand(B, T, generator=g) * 100 + 150,
            "energy": torch.randn(B, T, generator=g)}


def time_method(name: str, d_model: int, steps: int, b: dict) -> float:
    torch.manual_seed(0)
    cfg = config_from_dict({"model": {"d_model": d_model}, "mtl": {"method": name}})
    model = MultiTaskModel(cfg, 80, 80, (200.0, 30.0))
    method = build_method(cfg, model)
    opt, _ = build_optimizer(cfg, model, method)

    def one():
        out = model(b)
        opt.zero_grad(set_to_none=True)
        method.backward(out["losses"], out["shared"])
        opt.step()
        method.after_step(lambda: same_batch_losses(model, b, "fp32"))   # FAMO's second forward pass
    one()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--d-model", type=int, default=192)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--json")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    b = batch()
    rows = {}
    for name in args.methods.split(","):
        rows[name] = statistics.median(time_method(name, args.d_model, args.steps, b) for _ in range(args.repeats))
    base = rows.get("static") or next(iter(rows.values()))
    print(f"{'method':<12} {'s/step':>8} {'x static':>9}")
    for name, s in rows.items():
        print(f"{name:<12} {s:>8.3f} {s / base:>9.2f}")
    rec = {"frames": int(b["feats_lens"].sum()), "d_model": args.d_model, "threads": torch.get_num_threads(),
           "seconds_per_step": rows, "relative": {k: v / base for k, v in rows.items()}}
    print(json.dumps(rec))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rec, f, indent=2)


if __name__ == "__main__":
    main()
