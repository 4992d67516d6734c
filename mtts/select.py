"""Stage `select-best`: choose the checkpoint with the best value of a metric from the
evaluate results, optionally averaging the n best (ESPnet's average_nbest_models).

Reads  EXP/eval/<split>/summary.json and the checkpoints it names
Writes EXP/best.safetensors (model package: weights as safetensors, config, tokens, feature
       params, stats and vocoder as JSON; no optimiser) and EXP/selection.json (metric,
       direction, ranking, why)
"""

from __future__ import annotations

from pathlib import Path

import torch

from mtts import checkpoint
from mtts.errors import MttsError
from mtts.io import read_json, write_json


def parse_metric(spec: str) -> dict[str, float]:
    """'mel_l1' -> {mel_l1: 1}; 'wer:1,mcd_db:0.05' -> weights of a combination."""
    weights = {}
    for part in spec.split(","):
        name, _, w = part.strip().partition(":")
        try:
            weights[name] = float(w) if w else 1.0
        except ValueError:
            raise MttsError(f"--metric: weight of '{name}' must be a number, got {w!r}") from None
    if not all(weights):
        raise MttsError(f"--metric {spec!r} names no metric")
    return weights


def is_up(name: str, weights: dict[str, float], higher_better: bool) -> bool:
    """True when higher values of `name` are better: its own direction, or --higher-better
    for a single metric."""
    from mtts.evaluate import HIGHER_IS_BETTER
    return HIGHER_IS_BETTER.get(name, False) or (higher_better and len(weights) == 1)


def score(metrics: dict[str, float], weights: dict[str, float], higher_better: bool) -> float:
    """A value where lower is better: each metric turned by its direction, then weighted."""
    total = 0.0
    for name, w in weights.items():
        total += w * (-metrics[name] if is_up(name, weights, higher_better) else metrics[name])
    return total


def rank(results: list[dict], metric: str, higher_better: bool = False) -> list[dict]:
    weights = parse_metric(metric)
    usable = [r for r in results if all(k in r.get("metrics", {}) for k in weights)]
    if not usable:
        known = sorted({k for r in results for k in r.get("metrics", {})})
        missing = [k for k in weights if not any(k in r.get("metrics", {}) for r in results)]
        raise MttsError(f"metric '{', '.join(missing) or metric}' is not in the evaluate results "
                        f"(known: {', '.join(known)})")
    return sorted(usable, key=lambda r: score(r["metrics"], weights, higher_better))


def average_states(states: list[dict]) -> dict:
    """Element-wise mean of floating-point tensors; other entries from the first state."""
    out = {}
    for k, v in states[0].items():
        if torch.is_floating_point(v):
            out[k] = sum(s[k].to(torch.float64) for s in states).div(len(states)).to(v.dtype)
        else:
            out[k] = v.clone()
    return out


def select_best(summary: Path, out: Path, metric: str, higher_better: bool = False, n_average: int = 1,
                vocoder: Path | None = None) -> dict:
    results = read_json(summary)
    ranked = rank(results, metric, higher_better)
    chosen = ranked[: max(1, n_average)]
    pkgs = [checkpoint.Package.load(Path(r["checkpoint"])) for r in chosen]
    package = pkgs[0]
    if len(pkgs) > 1:
        package.weights = average_states([p.weights for p in pkgs])
    package.build_model(out)  # proves the package loads before it is written
    if vocoder is not None:  # the neural vocoder ships inside the model package
        from mtts.vocoder.model import build_vocoder, check_compatible, load_vocoder_checkpoint
        package.vocoder = load_vocoder_checkpoint(vocoder)
        check_compatible(package.vocoder, package, str(vocoder))
        build_vocoder(package.vocoder)
    package.save(out)
    weights = parse_metric(metric)
    up = len(weights) == 1 and is_up(metric, weights, higher_better)
    what = metric if len(weights) == 1 else "weighted score " + " + ".join(f"{w:g}×{k}" for k, w in weights.items())
    record = {
        "metric": metric, "weights": weights, "direction": "higher" if up else "lower",
        "split": chosen[0].get("split"), "chosen": [r["checkpoint"] for r in chosen], "averaged": len(chosen),
        "value": chosen[0]["metrics"][metric] if len(weights) == 1 else score(chosen[0]["metrics"], weights, False),
        "model": str(out),
        "vocoder": (f"{vocoder} (step {package.vocoder.step})" if vocoder is not None else "griffin-lim"),
        "ranking": [{"checkpoint": r["checkpoint"], "step": r.get("step"),
                     **{k: r["metrics"][k] for k in weights}} for r in ranked],
        "why": f"{'highest' if up else 'lowest'} {what} on {chosen[0].get('split')} "
               f"among {len(ranked)} checkpoints"
               + (f"; weights averaged over the {len(chosen)} best" if len(chosen) > 1 else ""),
    }
    write_json(out.parent / "selection.json", record)
    return record
