"""Waveform-level metrics with known answers: MCD with DTW, log-F0 RMSE and voicing
error, WER/CER (pocketsphinx + jiwer), DNSMOS (speechmos). Models load lazily, once
per process."""

from __future__ import annotations

import re

import librosa
import numpy as np
import scipy.fft

from mtts.features.audio import FeatureParams, extract

N_CEPS = 24          # mel-cepstral coefficients 1..24; c0 (level) is left out, as usual
MCD_SCALE = 10.0 / np.log(10.0) * np.sqrt(2.0)


def mel_cepstrum(log_mel: np.ndarray) -> np.ndarray:
    """(T, n_mels) natural-log mel magnitude -> (T, N_CEPS) cepstra (DCT-II, orthonormal)."""
    return scipy.fft.dct(log_mel, type=2, norm="ortho", axis=1)[:, 1:N_CEPS + 1]


def dtw_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Frame pairs (K, 2) of the cheapest monotonic alignment of a (Ta, D) and b (Tb, D)."""
    _, wp = librosa.sequence.dtw(X=a.T, Y=b.T, metric="euclidean")
    return wp[::-1]


def acoustic_metrics(ref: np.ndarray, hyp: np.ndarray, p: FeatureParams, dtw: bool = True) -> dict[str, float]:
    """MCD (dB), log-F0 RMSE (cents) on frames voiced in both (NaN when there are none),
    voiced/unvoiced error.

    Both waveforms at p.sample_rate. With dtw=False frames are compared one to one
    (truncated to the shorter), which is what a time shift breaks."""
    fr, fh = extract(ref, p), extract(hyp, p)
    cr, ch = mel_cepstrum(fr["mel"]), mel_cepstrum(fh["mel"])
    if dtw:
        path = dtw_path(cr, ch)
    else:
        n = min(len(cr), len(ch))
        path = np.stack([np.arange(n), np.arange(n)], axis=1)
    i, j = path[:, 0], path[:, 1]
    mcd = float(np.mean(MCD_SCALE * np.sqrt(((cr[i] - ch[j]) ** 2).sum(1))))
    f0r, f0h = fr["pitch"][i], fh["pitch"][j]
    vr, vh = f0r > 0, f0h > 0
    both = vr & vh
    # no frame voiced in both: no F0 to compare (NaN, left out of means), not a perfect 0
    cents = 1200 * np.log2(f0h[both] / f0r[both]) if both.any() else np.full(1, np.nan)
    return {"mcd_db": mcd, "log_f0_rmse_cents": float(np.sqrt(np.mean(cents ** 2))),
            "vuv_error": float(np.mean(vr != vh))}


def normalize_for_asr(text: str) -> str:
    """Lower-case words only, as the recogniser writes them."""
    from mtts.text.normalize import normalize
    t = normalize(text).lower().replace("-", " ")
    t = re.sub(r"[^a-z' ]+", " ", t)
    return re.sub(r"\s+", " ", t).strip()


_decoder = None


def transcribe(wav: np.ndarray, sr: int) -> str:
    """pocketsphinx with its bundled en-us model (nothing is downloaded)."""
    global _decoder
    from pocketsphinx import Decoder
    if _decoder is None:
        _decoder = Decoder(samprate=16000, loglevel="FATAL")
    y = librosa.resample(wav, orig_sr=sr, target_sr=16000) if sr != 16000 else wav
    # The front end adapts (cepstral mean) across utterances, so a transcript would depend on
    # what this process decoded before it, and evaluate's workers take utterances in no fixed
    # order. Reset it: each utterance is heard as by a fresh decoder, at no measurable cost.
    _decoder.reinit_feat()
    _decoder.start_utt()
    _decoder.process_raw((np.clip(y, -1, 1) * 32767).astype(np.int16).tobytes(), full_utt=True)
    _decoder.end_utt()
    hyp = _decoder.hyp()
    return normalize_for_asr(hyp.hypstr) if hyp else ""


def wer_cer(refs: list[str], hyps: list[str]) -> dict[str, float]:
    """Corpus-level WER and CER (jiwer) of normalised references and hypotheses."""
    return error_rates(asr_errors(refs, hyps))


def error_rates(errors: np.ndarray) -> dict[str, float]:
    """Corpus WER and CER from asr_errors rows: all errors over all reference words/characters."""
    if not len(errors):
        return {"wer": float("nan"), "cer": float("nan")}
    return {"wer": float(_ratio(errors[:, 0], errors[:, 1])), "cer": float(_ratio(errors[:, 2], errors[:, 3]))}


def asr_errors(refs: list[str], hyps: list[str]) -> np.ndarray:
    """Per utterance with a reference: word errors, reference words, character errors and
    reference characters (N, 4). Their column sums give the corpus figures (error_rates)."""
    import jiwer
    rows = []
    for r, h in zip(refs, hyps):
        if r:
            w, c = jiwer.process_words(r, h), jiwer.process_characters(r, h)
            rows.append((w.substitutions + w.deletions + w.insertions, w.hits + w.substitutions + w.deletions,
                         c.substitutions + c.deletions + c.insertions, c.hits + c.substitutions + c.deletions))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def _ratio(errors: np.ndarray, totals: np.ndarray, axis: int = -1) -> np.ndarray:
    """Corpus error rate of (resampled) sentences: their errors over their reference length."""
    return errors.sum(axis) / np.maximum(totals.sum(axis), 1)


def _interval(samples: tuple, statistic, n_resamples: int, seed: int) -> list[float]:
    """95 % percentile bootstrap over sentences; the arrays of `samples` are resampled together."""
    from scipy.stats import bootstrap
    ci = bootstrap(samples, statistic, paired=True, vectorized=True, n_resamples=n_resamples,
                   method="percentile", rng=np.random.default_rng(seed)).confidence_interval
    return [float(ci.low), float(ci.high)]


def asr_intervals(errors: np.ndarray, n_resamples: int = 2000, seed: int = 0) -> dict[str, list[float]]:
    """95 % bootstrap intervals of corpus WER and CER, resampling whole utterances (Bisani &
    Ney, 2004): how far another draw of as many sentences could move the figure. On 100
    sentences a CER of 9 % spans about two points, so single-run differences of a few tenths
    say little."""
    if len(errors) < 2:
        return {}
    return {name: _interval((errors[:, e], errors[:, t]), _ratio, n_resamples, seed)
            for name, e, t in (("wer", 0, 1), ("cer", 2, 3))}


def paired_difference(a: np.ndarray, b: np.ndarray, n_resamples: int = 2000,
                      seed: int = 0, ratio: bool = False) -> dict[str, list[float]]:
    """WER and CER of b minus a on the same sentences (asr_errors rows in the same order):
    [difference, low, high] with the 95 % paired bootstrap interval, both systems resampled
    with the same sentences (Bisani & Ney, 2004). An interval that holds 0 means the two are
    not told apart on sentences like these. ratio=True: b's rate over a's instead (how many
    times a's errors b makes; an interval holding 1 does not tell them apart); left out where
    a made no errors."""
    if len(a) != len(b):
        raise ValueError(f"paired_difference needs the same sentences, got {len(a)} and {len(b)}")
    if len(a) < 2:
        return {}

    def diff(ae, at, be, bt, axis=-1):
        if ratio:   # a resample where a made no errors: inf if b made some, 1 if neither did
            num, den = _ratio(be, bt, axis), _ratio(ae, at, axis)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(den > 0, num / den, np.where(num > 0, np.inf, 1.0))
        return _ratio(be, bt, axis) - _ratio(ae, at, axis)

    out = {}
    for name, e, t in (("wer", 0, 1), ("cer", 2, 3)):
        if ratio and not a[:, e].any():
            continue   # no multiple of zero errors: a made none on these sentences
        cols = (a[:, e], a[:, t], b[:, e], b[:, t])
        lo, hi = _interval(cols, diff, n_resamples, seed)
        # an end at infinity (a made errors in too few sentences to bound the ratio): None
        out[name] = [float(diff(*cols)), *(x if np.isfinite(x) else None for x in (lo, hi))]
    return out


def dnsmos(wav: np.ndarray, sr: int) -> dict[str, float]:
    """DNSMOS P.835 (SIG, BAK, OVRL) and P.808 from speechmos's bundled ONNX models."""
    from speechmos import dnsmos as _dnsmos
    y = librosa.resample(wav, orig_sr=sr, target_sr=16000) if sr != 16000 else wav
    out = _dnsmos.run(np.clip(y, -1.0, 1.0).astype(np.float32), 16000)
    return {"dnsmos_sig": float(out["sig_mos"]), "dnsmos_bak": float(out["bak_mos"]),
            "dnsmos_ovrl": float(out["ovrl_mos"]), "dnsmos_p808": float(out["p808_mos"])}
