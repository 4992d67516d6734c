"""Comparisons of systems scored on the same sentences by several training seeds: a
bootstrap over seeds × sentences, paired, a seed-level t-test beside it, Holm's correction
and a verdict.

Scores come per (seed, sentence) cell. A metric's value over a set of cells is the sum of
its numerators over the sum of its denominators: errors over reference words for WER and
CER (the corpus rate, as metrics.error_rates), the value over 1 for MCD and log-F0 RMSE
(their mean). Lower is better for every metric here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# metric -> (numerator key, denominator key or None for a plain mean) of a sentence's scores
METRICS = {"wer": ("word_errors", "words"), "cer": ("char_errors", "chars"),
           "mcd_db": ("mcd_db", None), "log_f0_rmse_cents": ("log_f0_rmse_cents", None)}
ALPHA = 0.05
MIN_SEEDS = 3          # fewer seeds cannot say whether a difference outlives the seed
N_RESAMPLES = 10_000   # the smallest p is 2 / (N + 1): small enough for Holm over ~100 tests


@dataclass
class Cells:
    """One system's scores on a grid of seeds × sentences: num, den (S, U)."""
    num: np.ndarray
    den: np.ndarray

    @property
    def value(self) -> float:
        return float(self.num.sum() / self.den.sum())


def cells(runs: list[dict[str, dict]], sentences: list[str], metric: str) -> Cells:
    """runs: one {sentence id: scores} per seed, in seed order."""
    nk, dk = METRICS[metric]
    num = np.array([[r[u][nk] for u in sentences] for r in runs], dtype=np.float64).reshape(len(runs), -1)
    den = (np.array([[r[u][dk] for u in sentences] for r in runs], dtype=np.float64).reshape(num.shape)
           if dk else np.ones_like(num))
    return Cells(num, den)


def usable_sentences(runs: list[dict[str, dict]], metric: str) -> list[str]:
    """Sentences scored for `metric` in every run, with a finite value (log-F0 RMSE is
    undefined where no frame is voiced in both) and, for rates, a non-empty reference:
    the grid stays rectangular, so every resample pairs the same cells."""
    nk, dk = METRICS[metric]
    common = set.intersection(*(set(r) for r in runs)) if runs else set()

    def ok(s: dict) -> bool:
        return (nk in s and s[nk] is not None and np.isfinite(s[nk])
                and (dk is None or (s.get(dk) or 0) > 0))
    return sorted(u for u in common if all(ok(r[u]) for r in runs))


def resample_counts(n_seeds: int, n_sents: int, n_resamples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """How often each seed (R, S) and each sentence (R, U) is drawn in each resample: seeds
    and sentences are drawn with replacement independently, and a resample is every
    (drawn seed, drawn sentence) cell, so both the training seed and the choice of
    sentences vary as they would in a rerun of the study."""
    rng = np.random.default_rng(seed)
    cs = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_resamples).astype(np.float64)
    cu = rng.multinomial(n_sents, np.full(n_sents, 1.0 / n_sents), size=n_resamples).astype(np.float64)
    return cs, cu


def _resampled(x: Cells, cs: np.ndarray, cu: np.ndarray) -> np.ndarray:
    """The metric on every resampled grid (R,): weighted sums, each cell counted
    (times its seed was drawn) × (times its sentence was drawn)."""
    return np.einsum("rs,su,ru->r", cs, x.num, cu) / np.einsum("rs,su,ru->r", cs, x.den, cu)


def interval(x: Cells, n_resamples: int = N_RESAMPLES, seed: int = 0) -> dict:
    """One system: its value and 95 % percentile bootstrap interval over seeds × sentences."""
    cs, cu = resample_counts(*x.num.shape, n_resamples, seed)
    lo, hi = np.percentile(_resampled(x, cs, cu), [2.5, 97.5])
    return {"value": x.value, "low": float(lo), "high": float(hi), "seeds": x.num.shape[0],
            "sentences": x.num.shape[1]}


def difference(ref: Cells, new: Cells, n_resamples: int = N_RESAMPLES, seed: int = 0) -> dict:
    """new − ref on the same grid (row s of both: the same training seed; column u: the same
    sentence). Both systems are measured on the same resampled cells in every resample, so
    what a seed or a sentence does to both cancels. Returns the difference, its 95 %
    percentile interval, the difference per seed, the grid's size and three p-values:

    - p_bootstrap: twice the smaller share of resampled differences on either side of 0,
      +1 smoothed (the smallest level at which the percentile interval would leave out 0);
    - p_seeds: a paired t-test of the per-seed differences (S − 1 degrees of freedom);
    - p: the larger of the two, the one to correct and judge by.

    Why both: with 3–5 seeds, resampling seeds cannot reach beyond the range of the seeds
    seen, so where seeds differ more than sentences do the bootstrap alone calls about one
    difference in five that is not there (all three seeds agree in sign 1 time in 4); the
    t-test holds its level there but ignores the sentences. A verdict needs both
    (an intersection-union test: its level is that of each)."""
    from scipy.stats import ttest_1samp
    if ref.num.shape != new.num.shape:
        raise ValueError(f"paired cells need the same grid, got {ref.num.shape} and {new.num.shape}")
    cs, cu = resample_counts(*ref.num.shape, n_resamples, seed)
    d = _resampled(new, cs, cu) - _resampled(ref, cs, cu)
    lo, hi = np.percentile(d, [2.5, 97.5])
    p_boot = min(1.0, 2 * (min((d <= 0).sum(), (d >= 0).sum()) + 1) / (n_resamples + 1))
    per_seed = new.num.sum(1) / new.den.sum(1) - ref.num.sum(1) / ref.den.sum(1)
    if len(per_seed) < 2:
        p_seeds = float("nan")
    elif np.ptp(per_seed) <= 1e-12 * max(1.0, np.abs(per_seed).max()):   # no spread: t is 0/0 or ±inf
        p_seeds = 1.0 if np.all(per_seed == 0) else 0.0
    else:
        p_seeds = float(ttest_1samp(per_seed, 0.0).pvalue)
    return {"diff": new.value - ref.value, "low": float(lo), "high": float(hi),
            "p": max(p_boot, p_seeds) if np.isfinite(p_seeds) else float("nan"),
            "p_bootstrap": float(p_boot), "p_seeds": p_seeds, "per_seed": per_seed.tolist(),
            "seeds": ref.num.shape[0], "sentences": ref.num.shape[1]}


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input's order: the i-th smallest times
    (m − i + 1), made non-decreasing, at most 1. Rejecting where adjusted p < α keeps the
    chance of any false verdict in the family below α."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out.tolist()


def verdict(diff: float, p_holm: float | None, seeds: int, alpha: float = ALPHA) -> str:
    """better / worse (lower is better) where the Holm-adjusted p is below alpha;
    inconclusive otherwise (no evidence either way, not "did not help")."""
    if seeds < MIN_SEEDS or p_holm is None:
        return "too few seeds"
    if p_holm < alpha:
        return "better" if diff < 0 else "worse"
    return "inconclusive"
