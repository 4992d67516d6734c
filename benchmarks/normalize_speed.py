#!/usr/bin/env python3
"""Speed of the built-in text normaliser, in sentences per second on one core.

usage: python benchmarks/normalize_speed.py [--transcripts FILE] [--repeats 3] [--json OUT]

Rows: the LJSpeech transcripts of ../shared (12,600 sentences, already in words, as most
text is), the same sentences each with one written form appended (a date, money, a unit,
a time, ...), and the written forms alone. Each figure is the median over the repeats,
from wall time and from the process's CPU time (the two differ on a busy machine). Without
../shared the transcript rows are skipped, with a note. Prints a table and a JSON record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from mtts.text.normalize import normalize

TRANSCRIPTS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ljspeech-text" / "transcripts.txt"
FORMS = ["It cost $3.50 on 12/25/2020.", "She left at 3:30 pm EST.", "Dr. Smith lives at 221 Baker St.",
         "The FBI seized 12KG in the 1990s.", "Henry VIII had 6 wives.", "Call 555-1234 or mail john@example.com.",
         "Speeds of 100 km/h and 1 mbps.", "The 1,000th visitor won £2.5m.", "Read pages 10-20 of Chapter IV.",
         "About 3/4 of the 25 July 2012 votes.", "Temperatures fell to -5°C.", "Sales rose 3.5% to ¥30 billion."]


def rate(sentences: list[str], repeats: int) -> dict[str, float]:
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        for s in sentences:
            normalize(s)
        wall.append(len(sentences) / (time.perf_counter() - w0))
        cpu.append(len(sentences) / (time.process_time() - c0))
    return {"sentences": len(sentences), "per_s_wall": round(statistics.median(wall)),
            "per_s_cpu": round(statistics.median(cpu))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transcripts", type=Path, default=TRANSCRIPTS, help="Lines 'ID|text'.")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="Also write the record here.")
    args = ap.parse_args()
    rows = {}
    if args.transcripts.is_file():
        lines = [ln.split("|", 1)[-1].strip() for ln in args.transcripts.read_text(encoding="utf-8").splitlines()]
        lines = [ln for ln in lines if ln]
        rows["ljspeech"] = rate(lines, args.repeats)
        rows["ljspeech + one written form"] = rate([f"{ln} {FORMS[i % len(FORMS)]}" for i, ln in enumerate(lines)],
                                                   args.repeats)
    else:
        print(f"note: {args.transcripts} not found: LJSpeech rows skipped")
    rows["written forms alone"] = rate(FORMS * 500, args.repeats)
    print(f"{'sentences':32} {'n':>7} {'per s (wall)':>13} {'per s (cpu)':>12}")
    for name, r in rows.items():
        print(f"{name:32} {r['sentences']:7d} {r['per_s_wall']:13,d} {r['per_s_cpu']:12,d}")
    record = {"repeats": args.repeats, "rows": rows}
    print(json.dumps(record))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
