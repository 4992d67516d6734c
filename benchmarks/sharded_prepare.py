#!/usr/bin/env python3
"""Speed-up of `mtts prepare` run as shards at once (as an array job's tasks would run) over one
process, on the same corpus, from a fresh dump dir each time.

usage: python benchmarks/sharded_prepare.py [--corpus DIR] [--shards 2] [--repeats 3] [--json OUT]

Rows: one process with one worker (`--nj 1`); one process with a pool of N workers (`--nj N`,
the local option); N shard processes started together (`--job K --njobs N --nj 1`), then the
merge, timed apart and in the total. Each is the `mtts` command line as a user runs it, so
start-up (imports, the forkserver) is included. Figures are medians of wall time over the
repeats; the machine's load is printed beside them, since a busy machine slows the parallel
rows most, and the shards' sizes, since the largest one sets their time. The outputs of the
two ways are checked to be the same bytes. Prints a table and JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mtts.data.shards import shard_of

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ljspeech-mini"
MTTS = [sys.executable, "-m", "mtts.cli"]


def prepare_args(corpus: Path, work: Path, *extra) -> list[str]:
    return [*MTTS, "prepare", str(corpus), "--data-dir", str(work / "data"), "--dump-dir", str(work / "dump"),
            "--n-dev", "2", "--n-test", "2", *map(str, extra)]


def run(cmds: list[list[str]]) -> float:
    """Seconds until every one of the commands, started together, has finished."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in cmds]
    for p, c in zip(procs, cmds):
        err = p.communicate()[1]
        if p.returncode:
            sys.exit(f"failed: {' '.join(c)}\n{err[-2000:]}")
    return time.perf_counter() - t0


def outputs(work: Path) -> dict[str, bytes]:
    return {str(p.relative_to(work)): p.read_bytes().replace(str(work).encode(), b"WORK")
            for p in sorted(work.rglob("*")) if p.is_file() and p.name != ".lock" and "shards" not in p.parts}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="LJSpeech-layout corpus.")
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="Also write the record here.")
    args = ap.parse_args()
    n = args.shards
    load0 = round(os.getloadavg()[0], 2)
    times: dict[str, list[float]] = {"one process, --nj 1": [], f"one process, --nj {n}": [],
                                     f"{n} shards at once": [], "merge": [], f"{n} shards + merge": []}
    root = Path(tempfile.mkdtemp(prefix="mtts-shard-bench-"))
    same = True
    try:
        for r in range(args.repeats):
            one, pool, shard = root / f"one{r}", root / f"pool{r}", root / f"shard{r}"
            for key, work, opts in (("one process, --nj 1", one, (1,)), (f"one process, --nj {n}", pool, (n,))):
                times[key].append(run([prepare_args(args.corpus, work, "--nj", *opts)]))
            t = run([prepare_args(args.corpus, shard, "--nj", 1, "--job", k, "--njobs", n) for k in range(1, n + 1)])
            m = run([prepare_args(args.corpus, shard, "--merge", "--njobs", n)])
            times[f"{n} shards at once"].append(t)
            times["merge"].append(m)
            times[f"{n} shards + merge"].append(t + m)
            same = same and outputs(one) == outputs(shard)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    med = {k: round(statistics.median(v), 2) for k, v in times.items()}
    base, one_s = med["one process, --nj 1"], times["one process, --nj 1"]
    ids = [line.split("|", 1)[0] for line in (args.corpus / "metadata.csv").read_text(encoding="utf-8").splitlines()
           if line.strip()]
    sizes = [sum(shard_of(u, n) == k for u in ids) for k in range(1, n + 1)]
    record = {"corpus": str(args.corpus), "utterances": len(ids), "shard_sizes": sizes, "repeats": args.repeats,
              "cpu_cores": os.cpu_count(), "load_avg_1min_before": load0,
              "load_avg_1min_after": round(os.getloadavg()[0], 2),
              "median_wall_s": med, "all_wall_s": {k: [round(x, 2) for x in v] for k, v in times.items()},
              "speedup_vs_one_worker": {k: round(base / v, 2) for k, v in med.items() if k != "merge"},
              # per repeat, one process's time over each row's, measured a minute apart: less swayed
              # than the ratio of medians by other work that comes and goes
              "paired_speedup_median": {k: round(statistics.median(a / b for a, b in zip(one_s, v)), 2)
                                        for k, v in times.items() if k != "merge"},
              "outputs_identical": same}
    print(f"{len(ids)} utterances, shards of {sizes}; {os.cpu_count()} cores, 1-minute load "
          f"{load0} before, {record['load_avg_1min_after']} after")
    print(f"{'':24} {'wall s':>8} {'speed-up':>9}")
    for k, v in med.items():
        print(f"{k:24} {v:8.2f} {'' if k == 'merge' else f'{base / v:8.2f}x':>9}")
    print(f"paired speed-up (median over repeats): {record['paired_speedup_median']}")
    print(f"outputs of one process and of the merged shards identical: {same}")
    print(json.dumps(record, indent=2))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
