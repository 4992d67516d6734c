"""Known answers for the ablation's statistics: the paired bootstrap over seeds × sentences,
the seed-level t-test beside it, Holm's correction and the verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from mtts.evaluate import stats as S
from mtts.evaluate.metrics import asr_errors, error_rates, paired_difference

N_SENT = 40


def scores_from_errors(refs: list[str], hyps: list[str], mcd: np.ndarray | None = None) -> dict[str, dict]:
    """{sentence id: scores} as the ablation stores them, from real transcripts."""
    e = asr_errors(refs, hyps)
    out = {}
    for u, row in enumerate(e):
        s = dict(zip(("word_errors", "words", "char_errors", "chars"), map(int, row)))
        if mcd is not None:
            s.update(mcd_db=float(mcd[u]), log_f0_rmse_cents=float(100 + 10 * mcd[u]))
        out[f"u{u:03d}"] = s
    return out


def corrupt(words: list[str], n: int, rng) -> str:
    """The reference with n words substituted."""
    w = list(words)
    for i in rng.choice(len(w), size=min(n, len(w)), replace=False):
        w[i] = "zz"
    return " ".join(w)


@pytest.fixture(scope="module")
def refs() -> list[list[str]]:
    rng = np.random.default_rng(0)
    vocab = ["the", "cat", "sat", "on", "mat", "dog", "ran", "far", "away", "home", "big", "red"]
    # lengths differ, so a corpus rate is not the mean of the sentences' rates
    return [list(rng.choice(vocab, rng.integers(4, 21))) for _ in range(N_SENT)]


def system(refs, errors_per_sentence: np.ndarray, mcd: np.ndarray) -> dict[str, dict]:
    rng = np.random.default_rng(int(errors_per_sentence.sum()))
    hyps = [corrupt(r, int(n), rng) for r, n in zip(refs, errors_per_sentence)]
    return scores_from_errors([" ".join(r) for r in refs], hyps, mcd)


def compare(ref_runs, new_runs, metric, n_resamples=4000):
    sents = S.usable_sentences(ref_runs + new_runs, metric)
    return S.difference(S.cells(ref_runs, sents, metric), S.cells(new_runs, sents, metric), n_resamples)


def test_identical_variants_come_out_inconclusive(refs):
    rng = np.random.default_rng(1)
    runs = [system(refs, rng.integers(0, 6, N_SENT), rng.normal(7, 1, N_SENT)) for _ in range(3)]
    for m in S.METRICS:
        r = compare(runs, runs, m)
        assert r["diff"] == 0.0 and r["low"] == r["high"] == 0.0 and r["p"] == 1.0
        assert S.verdict(r["diff"], S.holm([r["p"]])[0], r["seeds"]) == "inconclusive"


def test_a_planted_gain_is_better_and_the_reverse_worse(refs):
    """B makes a fixed fraction (40 %) fewer word errors than A in every sentence of every
    seed, and its MCD is 0.3 dB lower; the seeds differ in how many errors A makes."""
    rng = np.random.default_rng(2)
    a_runs, b_runs = [], []
    for seed in range(4):
        n = rng.integers(2, 7, N_SENT) + seed   # seeds differ
        mcd = rng.normal(7 + 0.1 * seed, 1.0, N_SENT)
        a_runs.append(system(refs, n, mcd))
        b_runs.append(system(refs, np.round(0.6 * n), mcd - 0.3 + rng.normal(0, 0.05, N_SENT)))
    for m in ("wer", "cer", "mcd_db"):
        better, worse = compare(a_runs, b_runs, m), compare(b_runs, a_runs, m)
        assert better["diff"] < 0 < worse["diff"] and better["high"] < 0 < worse["low"]
        # Holm over a family of eight with six null tests beside it
        family = S.holm([better["p"], worse["p"]] + [0.5] * 6)
        assert S.verdict(better["diff"], family[0], 4) == "better"
        assert S.verdict(worse["diff"], family[1], 4) == "worse"
    # the difference is that of the corpus rates over all cells, as error_rates computes them
    wer = compare(a_runs, b_runs, "wer")["diff"]

    def corpus(runs):
        rows = np.array([[s["word_errors"], s["words"], s["char_errors"], s["chars"]]
                         for r in runs for s in r.values()])
        return error_rates(rows)["wer"]
    assert wer == pytest.approx(corpus(b_runs) - corpus(a_runs))


def test_holm_gives_the_textbook_adjusted_values():
    # Holm (1979) as in the usual worked example: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1,
    # then made non-decreasing
    assert S.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert S.holm([0.5, 0.6, 0.001]) == pytest.approx([1.0, 1.0, 0.003])   # capped at 1
    assert S.holm([0.02]) == [0.02] and S.holm([]) == []


def test_fewer_than_three_seeds_get_no_verdict(refs):
    rng = np.random.default_rng(3)
    n = rng.integers(3, 7, N_SENT)
    mcd = rng.normal(7, 1, N_SENT)
    a = [system(refs, n + k, mcd) for k in range(2)]
    b = [system(refs, np.zeros(N_SENT), mcd - 2) for _ in range(2)]
    r = compare(a, b, "wer")
    assert r["high"] < 0 and r["seeds"] == 2
    assert S.verdict(r["diff"], 0.0, r["seeds"]) == "too few seeds"


def _grid(values: np.ndarray) -> S.Cells:
    return S.Cells(values, np.ones_like(values))


def test_pairing_cancels_what_the_sentences_share():
    """Sentences differ by several dB, B is 0.1 dB better on each: told apart only when both
    systems are resampled on the same cells."""
    rng = np.random.default_rng(4)
    sent = rng.normal(7, 3, N_SENT)
    a = sent + rng.normal(0, 0.02, (3, N_SENT))
    b = a - 0.1 + rng.normal(0, 0.02, (3, N_SENT))
    paired = S.difference(_grid(a), _grid(b))
    assert paired["high"] < 0 and paired["p"] < 0.05
    shuffled = S.difference(_grid(a), _grid(b[:, rng.permutation(N_SENT)]))   # pairs broken
    assert shuffled["low"] < 0 < shuffled["high"]


def test_seeds_are_resampled_with_the_sentences():
    """Consistent over sentences, but seeds disagree in sign: an interval over sentences alone
    would exclude 0; over seeds × sentences it holds 0."""
    rng = np.random.default_rng(5)
    a = rng.normal(7, 1, (3, N_SENT))
    b = a + np.array([[-1.0], [-0.9], [1.0]]) + rng.normal(0, 0.01, (3, N_SENT))
    r = S.difference(_grid(a), _grid(b))
    assert r["low"] < 0 < r["high"] and r["p"] > 0.05
    assert r["per_seed"] == pytest.approx([-1.0, -0.9, 1.0], abs=0.01)


def test_one_seed_reduces_to_the_sentence_bootstrap(refs):
    """With one seed the crossed resampling is metrics.paired_difference's (scipy) over sentences."""
    rng = np.random.default_rng(6)
    a = system(refs, rng.integers(0, 6, N_SENT), np.zeros(N_SENT))
    b = system(refs, rng.integers(0, 5, N_SENT), np.zeros(N_SENT))
    mine = compare([a], [b], "wer", n_resamples=20000)

    def rows(r):
        return np.array([[s["word_errors"], s["words"], s["char_errors"], s["chars"]] for s in r.values()])
    ref = paired_difference(rows(a), rows(b), n_resamples=20000)["wer"]
    assert mine["diff"] == pytest.approx(ref[0])
    assert mine["low"] == pytest.approx(ref[1], abs=0.006) and mine["high"] == pytest.approx(ref[2], abs=0.006)


def test_the_seed_test_keeps_few_seeds_from_calling_noise_a_difference():
    """No true difference; each training seed moves a whole system by as much as the
    sentences scatter. The bootstrap alone, which cannot see beyond three seeds, calls many
    of these studies a difference; with the seed t-test beside it, about 5 % or fewer."""
    rng = np.random.default_rng(7)
    boot = combined = 0
    n = 200
    for _ in range(n):
        sent = rng.normal(7, 1, N_SENT)
        a = sent + rng.normal(0, 0.3, (3, 1)) + rng.normal(0, 0.3, (3, N_SENT))
        b = sent + rng.normal(0, 0.3, (3, 1)) + rng.normal(0, 0.3, (3, N_SENT))
        r = S.difference(_grid(a), _grid(b), n_resamples=1000, seed=1)
        boot += r["p_bootstrap"] < 0.05
        combined += r["p"] < 0.05
    assert boot / n > 0.12 and combined / n <= 0.08


def test_one_system_interval_and_usable_sentences():
    runs = [{"u1": {"mcd_db": 5.0, "log_f0_rmse_cents": None, "words": 3, "word_errors": 1},
             "u2": {"mcd_db": 7.0, "log_f0_rmse_cents": 200.0, "words": 0, "word_errors": 0}},
            {"u1": {"mcd_db": 6.0, "log_f0_rmse_cents": 100.0, "words": 3, "word_errors": 0},
             "u2": {"mcd_db": 8.0, "log_f0_rmse_cents": 300.0, "words": 0, "word_errors": 0},
             "u3": {"mcd_db": 1.0, "log_f0_rmse_cents": 1.0, "words": 1, "word_errors": 1}}]
    assert S.usable_sentences(runs, "mcd_db") == ["u1", "u2"]          # u3: not scored in every run
    assert S.usable_sentences(runs, "log_f0_rmse_cents") == ["u2"]     # u1: no F0 in one run
    assert S.usable_sentences(runs, "wer") == ["u1"]                   # u2: nothing to recognise
    r = S.interval(S.cells(runs, ["u1", "u2"], "mcd_db"))
    assert r["value"] == pytest.approx(6.5) and 5.0 <= r["low"] <= 6.5 <= r["high"] <= 8.0
    assert r["seeds"] == 2 and r["sentences"] == 2
