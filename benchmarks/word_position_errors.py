"""Where in the sentence a system's word errors fall: the error rate on the first K words of
each sentence against the rest, from the transcripts `mtts evaluate --metrics asr` stores
(`asr.transcripts` in a checkpoint's JSON, or teacher.json).

    python benchmarks/word_position_errors.py exp/A/eval/heldout/step_0001800.json \
        exp/A/eval/heldout/teacher.json --first 3

Substitutions and deletions count at their reference word; an insertion counts at the
reference word it precedes (the last word when it comes after all of them). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def position_errors(ref: str, hyp: str) -> list[int]:
    """Errors attributed to each reference word of one sentence."""
    import jiwer
    words = ref.split()
    errs = [0] * len(words)
    if not words:
        return errs
    out = jiwer.process_words(ref, hyp if hyp.strip() else "<empty>")
    for chunk in out.alignments[0]:
        if chunk.type in ("substitute", "delete"):
            for i in range(chunk.ref_start_idx, chunk.ref_end_idx):
                errs[i] += 1
        elif chunk.type == "insert":
            errs[min(chunk.ref_start_idx, len(words) - 1)] += chunk.hyp_end_idx - chunk.hyp_start_idx
    return errs


def split_rates(transcripts: dict, first: int) -> dict:
    head = [0, 0]
    rest = [0, 0]
    for t in transcripts.values():
        errs = position_errors(t["ref"], t["hyp"])
        head[0] += sum(errs[:first])
        head[1] += len(errs[:first])
        rest[0] += sum(errs[first:])
        rest[1] += len(errs[first:])
    return {f"wer_first_{first}": head[0] / max(head[1], 1), "wer_rest": rest[0] / max(rest[1], 1),
            "words_first": head[1], "words_rest": rest[1], "sentences": len(transcripts)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", type=Path, help="evaluate JSONs with asr.transcripts (or teacher.json)")
    ap.add_argument("--first", type=int, default=3, help="words counted as the start of a sentence")
    args = ap.parse_args()
    out = {}
    for path in args.results:
        tr = json.loads(path.read_text())["asr"]["transcripts"]
        out[str(path)] = split_rates(tr, args.first)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
