#!/usr/bin/env python3
"""Resident memory of `mtts synthesize --text-file` and `mtts evaluate --text-file` over many
sentences: does it stay flat?

usage: python benchmarks/flat_memory.py MODEL.pt [--sentences FILE] [--n 10000]
                                        [--commands synthesize,evaluate] [--vocoder auto]
                                        [--json OUT]
Each command runs as its own process on the first N sentences (`ID|text` lines; default the
12,600 LJSpeech transcripts of ../shared, cycled if N is larger). Every second the process's
resident memory (VmRSS) is read with the number of wavs written so far; the table gives RSS
after 10 % of the sentences and at the end, and the slope of RSS against sentences over the
second half (MB per 1,000 sentences; ~0 is flat). One thread. `--vocoder auto` takes the
package's neural vocoder (what users get, ~0.1 s a sentence here); Griffin-Lim spends ~1 s a
sentence in librosa's NNLS mel inversion, so 10,000 sentences take hours with it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ljspeech-text" / "transcripts.txt"


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def watch(cmd: list[str], wav_dir: Path) -> list[tuple[int, float]]:
    """(wavs written, RSS MB) once a second while the command runs."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    samples = []
    while proc.poll() is None:
        mb = rss_mb(proc.pid)
        if mb is not None:
            n = sum(1 for _ in wav_dir.rglob("*.wav")) if wav_dir.is_dir() else 0
            samples.append((n, mb))
        time.sleep(1.0)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()[-2000:]}")
    return samples


def summary(samples: list[tuple[int, float]], n: int) -> dict:
    x = np.array([s[0] for s in samples], dtype=float)
    y = np.array([s[1] for s in samples])
    at10 = y[x >= 0.1 * n]
    half = x >= 0.5 * n
    slope = float(np.polyfit(x[half], y[half], 1)[0] * 1000) if half.sum() >= 3 and np.ptp(x[half]) > 0 else None
    return {"rss_mb_at_10pct": round(float(at10[0]), 1) if len(at10) else None,
            "rss_mb_end": round(float(y[-1]), 1), "rss_mb_max": round(float(y.max()), 1),
            "mb_per_1000_sentences_second_half": round(slope, 2) if slope is not None else None,
            "samples": len(samples)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--sentences", type=Path, default=SHARED)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--commands", default="synthesize,evaluate")
    ap.add_argument("--vocoder", default="auto", help="auto, neural or griffin-lim")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    lines = [l for l in a.sentences.read_text(encoding="utf-8").splitlines() if "|" in l]
    if not lines:
        sys.exit(f"{a.sentences}: no ID|text lines")
    picked = [f"{k:06d}|{lines[k % len(lines)].split('|', 1)[1]}" for k in range(a.n)]
    mtts = str(Path(sys.executable).with_name("mtts"))
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "list.txt").write_text("\n".join(picked) + "\n", encoding="utf-8")
        for name in a.commands.split(","):
            if name == "synthesize":
                cmd = [mtts, "synthesize", "-m", str(a.model), "--text-file", str(tmp / "list.txt"), "--out",
                       str(tmp / "syn"), "--vocoder", a.vocoder]
                wav_dir = tmp / "syn"
            elif name == "evaluate":
                cmd = [mtts, "evaluate", str(a.model), "--exp-dir", str(tmp / "ev"), "--text-file",
                       str(tmp / "list.txt"), "--metrics", "speed", "--vocoder", a.vocoder, "--nj", "1"]
                wav_dir = tmp / "ev"
            else:
                sys.exit(f"--commands: unknown {name!r} (synthesize, evaluate)")
            t0 = time.perf_counter()
            rows[name] = {**summary(watch(cmd, wav_dir), a.n), "minutes": round((time.perf_counter() - t0) / 60, 1)}
    print(f"{'command':<11} {'RSS @10 %':>10} {'RSS end':>9} {'RSS max':>9} {'MB/1k (2nd half)':>17} {'min':>6}")
    for name, r in rows.items():
        print(f"{name:<11} {r['rss_mb_at_10pct']:>10} {r['rss_mb_end']:>9} {r['rss_mb_max']:>9} "
              f"{str(r['mb_per_1000_sentences_second_half']):>17} {r['minutes']:>6}")
    record = {"model": str(a.model), "n": a.n, "vocoder": a.vocoder, "commands": rows,
              "machine": f"{os.cpu_count()} CPU cores"}
    print(json.dumps(record))
    if a.json:
        a.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
