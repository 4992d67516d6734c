#!/usr/bin/env python3
"""The adaptation study of recipes/mini_multi: a voice never trained on (rms), given 5, 10 or
30 minutes of its recordings, three ways:

  adapt    the pooled four-voice model (exp/train/best.safetensors) fine-tuned on them
           (conf/adapt.yaml: 400 steps at a quarter of the learning rate)
  scratch  the same network trained from a seeded start on them alone (conf/train.yaml's
           1,800 steps, the source model's own budget)
  pooled   the four voices and those minutes trained together from scratch (conf/train.yaml)

Every model is scored on the same 100 held-out sentences (../mini/local/heldout.txt, never in
any training set) read by the target voice itself (flite rms), free-running, Griffin-Lim, with
the same judge: WER/CER (pocketsphinx), MCD and log-F0 RMSE against the voice's reading, and
speaker similarity to the voice's other readings. The recordings' own WER/CER and similarity
are the reference points.

Runs in pieces: each finished model leaves a small JSON in --results (committed), which a
rerun skips; an unfinished training resumes from its checkpoints. The report (--report) is
rebuilt from the results alone:
  local/adapt_study.py [--minutes 5,10,30] [--variants adapt,scratch,pooled] [--pooled-minutes 10]
  local/adapt_study.py --report-only
Run from recipes/mini_multi after stages 1-3 and a select-best of exp/train.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]
REPO = HERE.parents[1]
SPEAKER = "rms"
VOICE = "flite:rms"
HELDOUT = HERE.parent / "mini" / "local" / "heldout.txt"
N_RESAMPLES = 10_000


def sh(*cmd, log: Path | None = None) -> None:
    cmd = [str(c) for c in cmd]
    print("+", " ".join(cmd), flush=True)
    if log is None:
        subprocess.run(cmd, check=True, cwd=HERE)
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        if subprocess.run(cmd, cwd=HERE, stdout=f, stderr=subprocess.STDOUT).returncode:
            sys.exit(f"failed: {' '.join(cmd)} (log: {log})")


def mtts(*args, log: Path | None = None) -> None:
    sh(shutil.which("mtts") or "mtts", *args, log=log)


def prepared(corpus: Path, data: str, dump: str, n_dev: int, n_test: int) -> None:
    if (HERE / data / "train" / "phones").is_file():
        return
    mtts("prepare", corpus, "--data-dir", data, "--dump-dir", dump, "--nj", 2, "--n-dev", n_dev,
         "--n-test", n_test, "--trim-db", 45)
    mtts("tokenize", "--data-dir", data, "--dump-dir", dump)


def eval_corpus() -> None:
    """The held-out sentences read by the target voice, prepared as a data dir: prepare keeps
    2 + 2 of them as dev and test, so the 96 of its train split are the ones scored."""
    corpus = HERE / "downloads" / f"eval_{SPEAKER}"
    if not (corpus / "metadata.csv").is_file():
        sh(HERE / "utils" / "make_corpus.sh", HELDOUT, corpus, 100, 2, VOICE, SPEAKER)
    prepared(corpus, f"data_eval_{SPEAKER}", f"dump_eval_{SPEAKER}", 2, 2)


def first_minutes(minutes: int) -> list[str]:
    """The first utterances of the voice's train split, in id order (as training reads them),
    that make up `minutes` of audio."""
    durs = sorted(line.split() for line in (HERE / f"data_{SPEAKER}" / "train" / "utt2dur").read_text().splitlines())
    out, total = [], 0.0
    for uid, dur in durs:
        if total >= minutes * 60:
            break
        out.append(uid)
        total += float(dur)
    if total < minutes * 60 - 1:
        sys.exit(f"data_{SPEAKER}/train holds {total / 60:.1f} minutes, fewer than {minutes}")
    return out


def pooled_corpus(minutes: int) -> Path:
    """The training voices' corpus plus the target's first `minutes` (its train split's)."""
    corpus = HERE / "downloads" / f"pooled_{SPEAKER}_{minutes}"
    if (corpus / "metadata.csv").is_file():
        return corpus
    (corpus / "wavs").mkdir(parents=True, exist_ok=True)
    src = HERE / "downloads" / "multi_300"
    lines = (src / "metadata.csv").read_text(encoding="utf-8").splitlines()
    heldout = HERE / "downloads" / "heldout" / SPEAKER
    mine = set(first_minutes(minutes))
    lines += [l for l in (heldout / "metadata.csv").read_text(encoding="utf-8").splitlines()
              if l.split("|", 1)[0] in mine]
    for line in lines:
        uid = line.split("|", 1)[0]
        wav = src / "wavs" / f"{uid}.wav"
        wav = wav if wav.exists() else heldout / "wavs" / f"{uid}.wav"
        link = corpus / "wavs" / f"{uid}.wav"
        if not link.exists():
            link.symlink_to(wav.resolve())
    tmp = corpus / "metadata.csv.tmp"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.rename(corpus / "metadata.csv")
    return corpus


def train(variant: str, minutes: int, exp: Path, seed: int) -> dict:
    """Train one model (resuming an unfinished run); what it was trained on and how long."""
    resume = ["--resume"] if list((exp / "checkpoints").glob("step_*.pt")) else []
    log = exp / "study.log"
    if variant == "pooled":
        corpus = pooled_corpus(minutes)
        data, dump = f"data_pooled_{minutes}", f"dump_pooled_{minutes}"
        prepared(corpus, data, dump, 40, 40)
        args = ["-c", "conf/train.yaml", "--data-dir", data, "--dump-dir", dump]
        target = [u for u in (HERE / data / "train" / "utt2spk").read_text().split("\n") if u.endswith(f" {SPEAKER}")]
        n = len(target)
    else:
        n = len(first_minutes(minutes))
        args = ["-c", "conf/adapt.yaml" if variant == "adapt" else "conf/train.yaml", "--data-dir", f"data_{SPEAKER}",
                "--dump-dir", f"dump_{SPEAKER}", "--max-utts", n]
        if variant == "adapt":
            if not (HERE / "exp" / "train" / "best.safetensors").is_file():
                sys.exit("exp/train/best.safetensors is missing: run stages 1-3, evaluate and select-best first")
            args += ["--init-from", "exp/train/best.safetensors"]
    t0 = time.time()
    # max-minutes far above the budget: the step budget decides, not this machine's load
    mtts("train", *args, "--exp-dir", exp, "--seed", seed, "--max-minutes", 600, *resume, log=log)
    last = [json.loads(l) for l in (exp / "metrics.jsonl").read_text().splitlines() if '"train"' in l][-1]
    return {"target_utterances": n, "steps": last["step"], "train_minutes_this_run": round((time.time() - t0) / 60, 1),
            "train_minutes_logged": round(last.get("elapsed_s", float("nan")) / 60, 1)}


def evaluate(exp: Path, nj: int, references: bool) -> tuple[dict, dict | None]:
    """The newest checkpoint of exp on the held-out readings: (its result, the recordings' own
    figures when asked)."""
    ckpt = sorted((exp / "checkpoints").glob("step_*.pt"))[-1]
    split = "train"
    mtts("evaluate", ckpt, "--exp-dir", exp, "--data-dir", f"data_eval_{SPEAKER}", "--split", split,
         "--metrics", "acoustic,asr,similarity", "--vocoder", "griffin-lim", "--nj", nj,
         *(["--references"] if references else []), log=exp / "study.log")
    out = exp / "eval" / f"{split}_griffin-lim"
    result = json.loads((out / f"{ckpt.stem}.json").read_text())
    refs = json.loads((out / "references.json").read_text()) if references else None
    return result, refs


def real_voice(results: Path, nj: int, seed: int) -> None:
    """The 32 real LJSpeech clips of ../shared: 22 adapted on (about 2.6 minutes), 8 kept as
    the voice's reference. The adapted model reads the held-out sentences (intelligibility in
    that voice, similarity to the 8 clips) and the 8 clips' own sentences (against the clips'
    own WER); the source model, unadapted, reads them too, in its slt voice."""
    name = "lj_adapt"
    if (results / f"{name}.json").is_file():
        return
    corpus = REPO.parent / "shared" / "data" / "ljspeech-mini"
    if not (corpus / "metadata.csv").is_file():
        sys.exit(f"{corpus} is missing: the real-voice study reads ../shared")
    prepared(corpus, "data_lj", "dump_lj", 2, 8)
    exp = HERE / "exp" / "study" / name
    resume = ["--resume"] if list((exp / "checkpoints").glob("step_*.pt")) else []
    mtts("train", "-c", "conf/adapt.yaml", "--data-dir", "data_lj", "--dump-dir", "dump_lj", "--exp-dir", exp,
         "--init-from", "exp/train/best.safetensors", "--seed", seed, "--max-minutes", 600, *resume,
         log=exp / "study.log")
    ckpt = sorted((exp / "checkpoints").glob("step_*.pt"))[-1]
    source = HERE / "exp" / "train" / "best.safetensors"
    durs = (HERE / "data_lj" / "train" / "utt2dur").read_text().splitlines()
    record = {"variant": "lj_adapt", "clips_trained": len(durs),
              "minutes_trained": round(sum(float(line.split()[1]) for line in durs) / 60, 2),
              "checkpoint": ckpt.name}
    for key, model, extra in (("adapted_heldout", ckpt, ["--text-file", HELDOUT]),
                              ("adapted_clips", ckpt, ["--references"]),
                              ("source_clips", source, ["--speaker", "slt"])):
        out_exp = exp if model == ckpt else exp / "source"
        mtts("evaluate", model, "--exp-dir", out_exp, "--data-dir", "data_lj", "--split", "test",
             "--metrics", "asr,similarity", "--vocoder", "griffin-lim", "--nj", nj, *extra, log=exp / "study.log")
        split = (HELDOUT.stem if "--text-file" in extra else "test") + "_griffin-lim" + (
            "_slt" if "--speaker" in extra else "")
        res = json.loads((out_exp / "eval" / split / f"{model.stem}.json").read_text())
        record[key] = {"metrics": res["metrics"], "asr_ci95": res.get("asr", {}).get("ci95", {}),
                       "sentences": res["utterances"],
                       "recordings": res.get("speaker_similarity", {}).get("recordings")}
        if "--references" in extra:
            refs = json.loads((out_exp / "eval" / split / "references.json").read_text())
            record["clips_own"] = {k: refs["reference"][k] for k in ("wer", "cer")}
    tmp = results / f".{name}.tmp"
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.rename(results / f"{name}.json")


def bootstrap_ratio(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], seed: int = 0) -> dict:
    """(errors, lengths) per sentence of two systems on the same sentences: the ratio of their
    corpus rates a/b with a 95 % paired percentile bootstrap interval over sentences."""
    from scipy.stats import bootstrap

    def ratio(ea, la, eb, lb, axis=-1):
        return (ea.sum(axis) / la.sum(axis)) / np.maximum(eb.sum(axis) / lb.sum(axis), 1e-12)
    ci = bootstrap((*a, *b), ratio, paired=True, vectorized=True, n_resamples=N_RESAMPLES, method="percentile",
                   rng=np.random.default_rng(seed)).confidence_interval
    return {"ratio": float(ratio(*a, *b)), "low": float(ci.low), "high": float(ci.high)}


def counts(result: dict, key: str, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    num, den = {"wer": ("word_errors", "words"), "cer": ("char_errors", "chars")}[key]
    per = result["per_utterance"]
    return np.array([per[u][num] for u in ids], float), np.array([per[u][den] for u in ids], float)


def report(results: Path, out: Path) -> None:
    rows = {p.stem: json.loads(p.read_text()) for p in sorted(results.glob("*.json"))
            if p.stem not in ("recordings", "lj_adapt")}
    lj = json.loads((results / "lj_adapt.json").read_text()) if (results / "lj_adapt.json").is_file() else None
    rec = json.loads((results / "recordings.json").read_text()) if (results / "recordings.json").is_file() else None
    order = sorted(rows, key=lambda k: (rows[k]["minutes"], ["adapt", "scratch", "pooled"].index(rows[k]["variant"])))
    lines = ["# Adaptation study: a new voice from minutes of its recordings", "",
             "Written by `recipes/mini_multi/local/adapt_study.py` from `docs/adaptation/results/` "
             "(one JSON per model). The target voice (flite rms) is never in the source model's training. "
             "Every model is scored on the same held-out sentences read by the target voice, free-running "
             "(predicted durations and pitch), Griffin-Lim, one training seed each: the intervals are over "
             "sentences (paired), so they say how sure the figure is for this seed, not across seeds.", ""]
    if not rows:
        lines.append("No model has finished yet.")
    else:
        head = ("| model | target minutes (utts) | steps | training min | WER | CER | MCD dB | log-F0 RMSE cents "
                "| speaker sim |")
        lines += [head, "|---" * (head.count("|") - 1) + "|"]
        for k in order:
            r, m = rows[k], rows[k]["metrics"]
            ci = r.get("asr_ci95", {})

            def rate(name: str) -> str:
                v = m.get(name)
                if v is None:
                    return "—"
                c = ci.get(name)
                return f"{100 * v:.1f} % ({100 * c[0]:.1f}–{100 * c[1]:.1f})" if c else f"{100 * v:.1f} %"
            nan = float("nan")
            lines.append(f"| {r['variant']} | {r['minutes']} ({r['target_utterances']}) | {r['steps']} | "
                         f"{r['train_minutes_logged']} | {rate('wer')} | {rate('cer')} | {m.get('mcd_db', nan):.2f} | "
                         f"{m.get('log_f0_rmse_cents', nan):.0f} | {m.get('speaker_sim', nan):.3f} |")
        if rec:
            lines += ["", f"The recordings themselves (the target voice reading the same {rec['sentences']} "
                          f"sentences): WER {100 * rec['wer']:.1f} %, CER {100 * rec['cer']:.1f} %; their "
                          f"similarity to the voice's other readings {rec['speaker_sim']:.3f}."]
        lines += ["", "## Adapted against trained from scratch, on the same minutes", ""]
        for minutes in sorted({r["minutes"] for r in rows.values()}):
            a, s = rows.get(f"adapt_{minutes}min"), rows.get(f"scratch_{minutes}min")
            if not (a and s):
                continue
            ids = a["ids"]
            for key in ("cer", "wer"):
                b = bootstrap_ratio(counts(a, key, ids), counts(s, key, ids))
                lines.append(f"- {minutes} min, {key.upper()}: adapted / scratch = {b['ratio']:.2f} "
                             f"(95 % CI {b['low']:.2f}–{b['high']:.2f}), a relative change of "
                             f"{100 * (b['ratio'] - 1):+.0f} %.")
    lines += ["", "## A real voice: the 32 LJSpeech clips", ""]
    if lj is None:
        lines.append("Not run yet (`local/adapt_study.py --real-voice`).")
    else:
        def pct(d: dict, k: str) -> str:
            c = d.get("asr_ci95", {}).get(k)
            v = d["metrics"][k]
            return f"{100 * v:.1f} %" + (f" ({100 * c[0]:.1f}–{100 * c[1]:.1f})" if c else "")
        ref = lj["adapted_clips"]["recordings"] or {}
        lines += [f"Adapted on {lj['clips_trained']} clips ({lj['minutes_trained']} min) from the pooled model; "
                  f"{lj['adapted_clips']['sentences']} clips kept out as the voice's reference.", "",
                  "| what | sentences | WER | CER | similarity to the kept-out clips |", "|---|---|---|---|---|",
                  f"| the kept-out clips themselves | {lj['adapted_clips']['sentences']} | "
                  f"{100 * lj['clips_own']['wer']:.1f} % | {100 * lj['clips_own']['cer']:.1f} % | "
                  f"{ref.get('own', float('nan')):.3f} (each to the others) |"]
        for key, what in (("source_clips", "source model (slt voice), the clips' sentences"),
                          ("adapted_clips", "adapted, the clips' sentences"),
                          ("adapted_heldout", "adapted, held-out sentences")):
            d = lj[key]
            lines.append(f"| {what} | {d['sentences']} | {pct(d, 'wer')} | {pct(d, 'cer')} | "
                         f"{d['metrics'].get('speaker_sim', float('nan')):.3f} |")
    tmp = out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.rename(out)
    print(f"report: {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="5,10,30")
    ap.add_argument("--variants", default="adapt,scratch,pooled")
    ap.add_argument("--pooled-minutes", default="10", help="sizes at which the pooled model is trained")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--nj", type=int, default=1, help="scoring jobs")
    ap.add_argument("--results", type=Path, default=REPO / "docs" / "adaptation" / "results")
    ap.add_argument("--report", type=Path, default=REPO / "docs" / "adaptation" / "study.md")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--data-only", action="store_true", help="build and prepare the data, train nothing")
    ap.add_argument("--real-voice", action="store_true", help="adapt to the 32 LJSpeech clips of ../shared "
                                                                "instead of the minutes study")
    a = ap.parse_args()
    a.results.mkdir(parents=True, exist_ok=True)
    if a.real_voice and not a.report_only:
        real_voice(a.results, a.nj, a.seed)
    elif not a.report_only:
        eval_corpus()
        prepared(HERE / "downloads" / "heldout" / SPEAKER, f"data_{SPEAKER}", f"dump_{SPEAKER}", 10, 10)
        if a.data_only:
            return
        pooled_at = {int(m) for m in a.pooled_minutes.split(",") if m}
        for minutes in [int(m) for m in a.minutes.split(",")]:
            for variant in a.variants.split(","):
                if variant == "pooled" and minutes not in pooled_at:
                    continue
                name = f"{variant}_{minutes}min"
                if (a.results / f"{name}.json").is_file():
                    continue
                exp = HERE / "exp" / "study" / name
                info = train(variant, minutes, exp, a.seed)
                first = not (a.results / "recordings.json").is_file()
                result, refs = evaluate(exp, a.nj, first)
                if refs is not None:
                    sim = result.get("speaker_similarity", {}).get("recordings", {})
                    rec = {"sentences": result["utterances"], "wer": refs["reference"]["wer"],
                           "cer": refs["reference"]["cer"], "speaker_sim": sim.get("own")}
                    (a.results / "recordings.json").write_text(json.dumps(rec, indent=2) + "\n")
                record = {"variant": variant, "minutes": minutes, **info, "checkpoint": Path(result["checkpoint"]).name,
                          "metrics": result["metrics"], "asr_ci95": result.get("asr", {}).get("ci95", {}),
                          "ids": result["ids"], "per_utterance": result["per_utterance"]}
                tmp = a.results / f".{name}.tmp"
                tmp.write_text(json.dumps(record, indent=1) + "\n")
                tmp.rename(a.results / f"{name}.json")
                report(a.results, a.report)
    report(a.results, a.report)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
