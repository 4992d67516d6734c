"""`mtts compare`: the selected (or newest evaluated) checkpoint of each experiment, side by side, and
where they were scored with asr on the same sentences, how far apart their WER and CER are."""

from __future__ import annotations

from pathlib import Path

from mtts.errors import MttsError
from mtts.io import read_json


def compare(exps: list[Path], split: str) -> tuple[list[dict], str | None]:
    rows, id_sets, transcripts = [], [], []
    for exp in exps:
        summary = exp / "eval" / split / "summary.json"
        if not summary.is_file():
            raise MttsError(f"{summary} does not exist: run `mtts evaluate --exp-dir {exp} --split {split}` first")
        results = read_json(summary)
        chosen = None
        if (exp / "selection.json").is_file():
            picked = set(read_json(exp / "selection.json")["chosen"])
            chosen = next((r for r in results if r["checkpoint"] in picked), None)
        if chosen is None:  # no selection yet: the newest checkpoint evaluated
            chosen = max(results, key=lambda r: r.get("step") or 0)
        rows.append({"experiment": str(exp), "checkpoint": Path(chosen["checkpoint"]).stem,
                     "step": chosen.get("step"), "metrics": chosen["metrics"]})
        id_sets.append(tuple(chosen.get("ids", [])))
        transcripts.append(chosen.get("asr", {}).get("transcripts"))
    warning = None
    if len(set(id_sets)) > 1:
        warning = "the experiments were scored on different sentences; rerun evaluate with the same split"
    elif all(transcripts) and len(rows) > 1:
        _asr_differences(rows, transcripts, list(id_sets[0]))
    return rows, warning


def _asr_differences(rows: list[dict], transcripts: list[dict], ids: list[str]) -> None:
    """rows[i]["asr_vs_first"]: WER and CER of experiment i minus the first's on the same
    sentences, with the 95 % paired bootstrap interval ([difference, low, high])."""
    from mtts.evaluate.metrics import asr_errors, paired_difference

    def errors(tr: dict):
        return asr_errors([tr[i]["ref"] for i in ids], [tr[i]["hyp"] for i in ids])

    first = errors(transcripts[0])
    for row, tr in zip(rows[1:], transcripts[1:]):
        row["asr_vs_first"] = paired_difference(first, errors(tr))


def difference_lines(rows: list[dict]) -> list[str]:
    """'B − A: WER +1.2 points (95 % CI -0.4 to +2.9), CER ...' for rows with asr_vs_first."""
    lines = []
    for r in rows[1:]:
        if d := r.get("asr_vs_first"):
            lines.append(f"{r['experiment']} − {rows[0]['experiment']}: " + ", ".join(
                f"{k.upper()} {100 * v[0]:+.1f} points (95 % CI {100 * v[1]:+.1f} to {100 * v[2]:+.1f})"
                for k, v in d.items()))
    return lines
