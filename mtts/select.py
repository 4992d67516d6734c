"""Stage `select-best`: choose the checkpoint with the best value of a metric from the
evaluate results, optionally averaging the n best (ESPnet's average_nbest_models).

Reads  EXP/eval/<split>/summary.json and the checkpoints it names
Writes EXP/best.pt (model package: weights, config, tokens, feature params, stats; no
       optimiser) and EXP/selection.json (metric, direction, ranking, why)
"""

from __future__ import annotations

from pathlib import Path

import torch

from mtts import checkpoint
from mtts.errors import MttsError
from mtts.io import read_json, torch_save, write_json

PACKAGE_KEYS = ("config", "tokens", "feature_params", "stats", "step")


def rank(results: list[dict], metric: str, higher_better: bool) -> list[dict]:
    usable = [r for r in results if metric in r.get("metrics", {})]
    if not usable:
        known = sorted({k for r in results for k in r.get("metrics", {})})
        raise MttsError(f"metric '{metric}' is not in the evaluate results (known: {', '.join(known)})")
    return sorted(usable, key=lambda r: r["metrics"][metric], reverse=higher_better)


def average_states(states: list[dict]) -> dict:
    """Element-wise mean of floating-point tensors; other entries from the first state."""
    out = {}
    for k, v in states[0].items():
        if torch.is_floating_point(v):
            out[k] = sum(s[k].to(torch.float64) for s in states).div(len(states)).to(v.dtype)
        else:
            out[k] = v.clone()
    return out


def select_best(summary: Path, out: Path, metric: str, higher_better: bool = False, n_average: int = 1) -> dict:
    results = read_json(summary)
    ranked = rank(results, metric, higher_better)
    chosen = ranked[: max(1, n_average)]
    ckpts = [checkpoint.load(Path(r["checkpoint"])) for r in chosen]
    package = {k: ckpts[0].get(k) for k in PACKAGE_KEYS}
    package["model"] = average_states([c["model"] for c in ckpts]) if len(ckpts) > 1 else ckpts[0]["model"]
    checkpoint.build_model(package, out)  # proves the package loads before it is written
    torch_save(package, out)
    record = {
        "metric": metric, "direction": "higher" if higher_better else "lower", "split": chosen[0].get("split"),
        "chosen": [r["checkpoint"] for r in chosen], "averaged": len(chosen),
        "value": chosen[0]["metrics"][metric], "model": str(out),
        "ranking": [{"checkpoint": r["checkpoint"], "step": r.get("step"), metric: r["metrics"][metric]} for r in ranked],
        "why": f"{'highest' if higher_better else 'lowest'} {metric} on {chosen[0].get('split')}"
               + (f"; weights averaged over the {len(chosen)} best" if len(chosen) > 1 else ""),
    }
    write_json(out.parent / "selection.json", record)
    return record
