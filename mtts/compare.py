"""`mtts compare`: the selected (or best-by-mel_l1) checkpoint of each experiment, side by side."""

from __future__ import annotations

from pathlib import Path

from mtts.errors import MttsError
from mtts.io import read_json


def compare(exps: list[Path], split: str) -> tuple[list[dict], str | None]:
    rows, id_sets = [], []
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
    warning = None
    if len(set(id_sets)) > 1:
        warning = "the experiments were scored on different sentences; rerun evaluate with the same split"
    return rows, warning
