#!/usr/bin/env python3
"""Training step time in float32 and under bfloat16 autocast, acoustic model and vocoder.

usage: python benchmarks/train_precision.py [--steps 8] [--rounds 3] [--threads 2] [--json OUT]

The default acoustic model (synthetic frame batches of 6,000 frames, as train.yaml) and the
default vocoder (16 crops of 32 frames, as vocoder.yaml) take `--steps` optimiser steps
in each precision, alternating fp32 / bf16 for `--rounds` rounds, so a machine that changes
speed during the run (shared hosts do) affects both alike. Every round gets batches of new
shapes, as training does: oneDNN caches its kernels per shape, and repeating the same
batches would flatter the precision whose kernels are costlier to create. Prints the median
s/step of each and the speed-up, as a table and a JSON record. Whether bf16 pays depends on
the CPU: AMX / AVX-512 BF16 make it fast, older CPUs emulate it slowly.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import warnings

import torch

from mtts.features.audio import FeatureParams
from mtts.model import MultiTaskModel
from mtts.precision import PRECISIONS, autocast
from mtts.train import build_method
from mtts.validate import config_from_dict
from mtts.vocoder.model import Vocoder, VocoderConfig
from mtts.vocoder.train import SpectralLoss

from train_memory import random_batch


def acoustic_steps(precision: str, batches: list[dict]) -> list[float]:
    torch.manual_seed(0)
    cfg = config_from_dict({})
    model = MultiTaskModel(cfg, 80, 80, (200.0, 30.0))
    method = build_method(cfg, model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for batch in batches:
        t = time.perf_counter()
        with autocast(precision):
            out = model(batch)
        opt.zero_grad(set_to_none=True)
        method.backward(out["losses"], out["shared"])
        opt.step()
        times.append(time.perf_counter() - t)
    return times[1:]   # the first step allocates and picks kernels


def vocoder_steps(precision: str, steps: int) -> list[float]:
    torch.manual_seed(0)
    p = FeatureParams()
    cfg = VocoderConfig()
    voc = Vocoder(cfg, p.n_mels, p.n_fft, p.hop_length, p.win_length)
    loss_fn = SpectralLoss(p, cfg.mel_weight)
    opt = torch.optim.AdamW(voc.parameters(), lr=1e-3)
    mel = torch.randn(cfg.batch_size, cfg.segment_frames, p.n_mels)
    y = 0.1 * torch.randn(cfg.batch_size, cfg.segment_frames * p.hop_length)
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        with autocast(precision):
            log_mag, phase = voc.spectrum(mel)
            y_hat = voc.waveform(log_mag, phase)
        out = loss_fn(y_hat, y, phase)
        loss = out["total"] + cfg.phase_weight * out["phase"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return times[1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8, help="timed steps per model, precision and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-frames", type=int, default=6000)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--json")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = random.Random(0)
    times = {(m, p): [] for m in ("acoustic", "vocoder") for p in PRECISIONS}
    for r in range(args.rounds):
        batches = [random_batch(rng, args.batch_frames, 1) for _ in range(args.steps + 1)]
        for p in PRECISIONS:
            times[("acoustic", p)] += acoustic_steps(p, batches)
            times[("vocoder", p)] += vocoder_steps(p, args.steps)
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    record = {"threads": torch.get_num_threads(), "steps": args.steps, "rounds": args.rounds,
              "cpu_bf16": torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported(),
              "results": {}}
    print(f"\n{'model':10s} {'fp32 s/step':>12s} {'bf16 s/step':>12s} {'speed-up':>9s}")
    for m in ("acoustic", "vocoder"):
        a, b = statistics.median(times[(m, "fp32")]), statistics.median(times[(m, "bf16")])
        record["results"][m] = {"fp32_s_per_step": round(a, 4), "bf16_s_per_step": round(b, 4),
                                "speedup": round(a / b, 3)}
        print(f"{m:10s} {a:12.3f} {b:12.3f} {a / b:8.2f}x")
    print(json.dumps(record))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=2)


if __name__ == "__main__":
    main()
