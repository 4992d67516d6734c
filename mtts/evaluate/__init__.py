"""Stage `evaluate`: score checkpoints on a data split (or a text list), fully offline.

Reads  checkpoints, DATA/<split>/{text,wav.scp,phones,feats.scp} (or a text file), and
       DATA/<split>/utt2spk for a multi-speaker model (each sentence spoken in its own voice)
Writes EXP/eval/<split>/<checkpoint>.json   metrics.json of one checkpoint (with each
                                            sentence's scores: per_utterance; for a
                                            multi-speaker model and split, per_speaker)
       EXP/eval/<split>/summary.json        all checkpoints (select-best reads it)
       EXP/eval/<split>/references.json     the recordings and their Griffin-Lim resynthesis
       EXP/eval/<split>/<checkpoint>/{wavs,plots}/  synthesised audio, PNG plots
       EXP/eval/<split>/report.md, curves.png

Metric groups (--metrics): tasks (teacher-forced per-task metrics), acoustic (MCD with
DTW, log-F0 RMSE, voicing error against the recordings), asr (pocketsphinx WER/CER),
dnsmos (speechmos SIG/BAK/OVRL/P.808), speed (real-time factor, acoustic model and
vocoder apart), similarity (speaker similarity to the split's recordings, resemblyzer's
offline encoder: mtts/evaluate/similarity.py).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import zlib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from mtts.console import console, progress
from mtts.data.datadir import read_table
from mtts.errors import MttsError
from mtts.features.audio import FeatureParams, griffin_lim, load_audio
from mtts.io import write_json

GROUPS = ("tasks", "acoustic", "asr", "dnsmos", "speed", "similarity")
AUDIO_GROUPS = ("acoustic", "asr", "dnsmos", "speed", "similarity")   # these synthesise every sentence
DEFAULT_GROUPS = ("tasks",)
N_PLOTS = 3
# direction of every metric mtts writes: True when higher is better
HIGHER_IS_BETTER = {"dnsmos_sig": True, "dnsmos_bak": True, "dnsmos_ovrl": True, "dnsmos_p808": True,
                    "speaker_acc": True, "speaker_sim": True}


def parse_groups(spec: str) -> tuple[str, ...]:
    """--metrics: groups by name, or all (similarity only where resemblyzer is installed)."""
    from mtts.evaluate.similarity import available
    if spec == "all":
        return tuple(g for g in GROUPS if g != "similarity" or available())
    groups = tuple(g.strip() for g in spec.split(",") if g.strip())
    bad = [g for g in groups if g not in GROUPS]
    if bad or not groups:
        raise MttsError(f"unknown --metrics {', '.join(bad) or spec!r} (choose from {', '.join(GROUPS)} or all)")
    if "similarity" in groups and not available():
        raise MttsError("--metrics similarity needs resemblyzer: pip install 'mtts[eval]'")
    return groups


CRASH_ENV = "_MTTS_TEST_WORKER_CRASH"   # tests only: a scoring worker kills itself on this utterance
_crash_on: str | None = None


def _worker_init(crash_on: str | None) -> None:
    global _crash_on   # passed in: a forkserver's workers have the server's environment, not ours
    _crash_on = crash_on


def _score(args: tuple) -> dict:
    """Worker: wav-level metrics of one utterance."""
    from mtts.evaluate import metrics as M
    uid, hyp_path, ref_path, text, groups, pdict = args
    if _crash_on == uid:
        os.kill(os.getpid(), signal.SIGSEGV)
    p = FeatureParams.from_dict(pdict)
    hyp = load_audio(Path(hyp_path), p.sample_rate)
    out: dict = {"id": uid}
    if "acoustic" in groups and ref_path:
        out.update(M.acoustic_metrics(load_audio(Path(ref_path), p.sample_rate), hyp, p))
    if "asr" in groups:
        out["ref_words"] = M.normalize_for_asr(text)
        out["hyp_words"] = M.transcribe(hyp, p.sample_rate)
    if "dnsmos" in groups:
        out.update(M.dnsmos(hyp, p.sample_rate))
    return out


def score_rows(items: list[tuple[str, str, str | None, str]], groups: tuple[str, ...], p: FeatureParams,
               nj: int, label: str) -> list[dict]:
    """items: (id, hyp wav, ref wav or None, text). One row per utterance, in item order:
    its wav-level metrics and, with asr, its words (ref_words, hyp_words)."""
    wanted = tuple(g for g in groups if g in ("acoustic", "asr", "dnsmos"))
    if not wanted:
        return []
    jobs = [(uid, h, r, t, wanted, p.to_dict()) for uid, h, r, t in items]
    rows = []
    with progress() as prog:
        task = prog.add_task(f"score {label}", total=len(jobs))
        if nj > 1:
            # forkserver, not fork: a fork of a process whose libraries hold threads (torch's
            # OpenMP, numba) can deadlock in the child
            ctx = multiprocessing.get_context("forkserver")
            try:
                with ProcessPoolExecutor(nj, mp_context=ctx, initializer=_worker_init,
                                         initargs=(os.environ.get(CRASH_ENV),)) as pool:
                    for row in pool.map(_score, jobs):
                        rows.append(row)
                        prog.advance(task)
            except BrokenProcessPool:
                uid = jobs[len(rows)][0]
                raise MttsError(f"a scoring worker died (a crash in a native library, or out of memory) while "
                                f"scoring '{uid}' or one after it; {len(rows)} of {len(jobs)} scored; "
                                f"rerun, or with --nj 1 to see which") from None
        else:
            for job in jobs:
                rows.append(_score(job))
                prog.advance(task)
    return rows


def score_wavs(items: list[tuple[str, str, str | None, str]], groups: tuple[str, ...], p: FeatureParams,
               nj: int, label: str) -> tuple[dict[str, float], dict]:
    """items: (id, hyp wav, ref wav or None, text). Returns averaged metrics and, with asr,
    the transcripts and the 95 % intervals of WER and CER ({} without)."""
    return summarize_rows(score_rows(items, groups, p, nj, label))


def summarize_rows(rows: list[dict]) -> tuple[dict[str, float], dict]:
    """score_rows' rows -> averaged metrics (NaN, e.g. F0 with nothing voiced, left out) and
    the asr part: transcripts and 95 % intervals of WER and CER ({} without asr)."""
    out: dict[str, float] = {}
    for k in sorted({k for r in rows for k in r if isinstance(r[k], float)}):
        vals = [r[k] for r in rows if k in r and np.isfinite(r[k])]
        out[k] = float(np.mean(vals)) if vals else float("nan")
    asr: dict = {}
    if any("hyp_words" in r for r in rows):
        from mtts.evaluate.metrics import asr_errors, asr_intervals, error_rates
        errors = asr_errors([r["ref_words"] for r in rows], [r["hyp_words"] for r in rows])
        out.update(error_rates(errors))
        asr = {"ci95": asr_intervals(errors),
               "transcripts": {r["id"]: {"ref": r["ref_words"], "hyp": r["hyp_words"]} for r in rows}}
    return out, asr


def load_items(split_dir: Path | None, text_file: Path | None, max_utts: int) -> list[tuple[str, str, str | None]]:
    """(id, text, reference wav or None) for a data split or a text list."""
    if text_file is not None:
        from mtts.synthesize import read_text_file
        items = [(uid, t, None) for uid, t in read_text_file(text_file)]
    else:
        text = read_table(split_dir / "text")
        wavs = read_table(split_dir / "wav.scp")
        items = [(uid, text[uid], wavs.get(uid)) for uid in sorted(text)]
    return items[:max_utts] if max_utts else items


def voices(pkg, path: Path, items: list[tuple[str, str, str | None]], split_dir: Path | None,
           speaker: str | None) -> dict[str, str]:
    """Utterance id -> the voice a multi-speaker model speaks it in: `speaker` for every
    sentence, else each split sentence's own (utt2spk). {} for a one-voice model. A
    multi-speaker model with neither is an error: silently speaking the first voice would
    score the wrong one."""
    from mtts import checkpoint
    if not pkg.speakers:
        if speaker is not None:
            raise MttsError(f"--speaker {speaker!r}: {path} has one voice")
        return {}
    if speaker is not None:
        checkpoint.speaker_index(pkg.speakers, speaker)   # an unknown name lists the known ones
        return {uid: speaker for uid, _, _ in items}
    names = ", ".join(sorted(pkg.speakers, key=pkg.speakers.get))
    if split_dir is None:
        raise MttsError(f"{path} speaks {len(pkg.speakers)} voices ({names}): pass --speaker NAME to choose "
                        f"the voice of the text list")
    if not (split_dir / "utt2spk").is_file():
        raise MttsError(f"{split_dir / 'utt2spk'} does not exist, and {path} speaks {len(pkg.speakers)} voices "
                        f"({names}): pass --speaker NAME")
    utt2spk = read_table(split_dir / "utt2spk")
    if missing := [uid for uid, _, _ in items if uid not in utt2spk]:
        raise MttsError(f"{split_dir / 'utt2spk'}: no speaker for '{missing[0]}' ({len(missing)} utterances)")
    return {uid: utt2spk[uid] for uid, _, _ in items}


def evaluate_checkpoint(path: Path, split_dir: Path | None, out_dir: Path, groups: tuple[str, ...], nj: int,
                        max_utts: int, text_file: Path | None = None, vocoder: str = "auto",
                        postfilter: float | None = None, speaker: str | None = None,
                        sim_dir: Path | None = None) -> dict:
    """sim_dir: the recordings speaker similarity compares with (default split_dir)."""
    from mtts import checkpoint
    from mtts.evaluate.plots import utterance_plot
    from mtts.evaluate.tasks import load_split, speaker_task_metrics, task_metrics
    from mtts.features.audio import extract
    from mtts.synthesize import POSTFILTER, Synthesizer, write_wav
    pkg = checkpoint.Package.load(path)
    model = pkg.build_model(path)
    # the recordings encoded for the teacher-forced tasks and the plots' alignments; not with a
    # --speaker of the model's own for a split of voices it may not know, unless tasks are asked
    data = (load_split(pkg, split_dir, max_utts)
            if split_dir is not None and ("tasks" in groups or speaker is None) else None)
    metrics: dict[str, float] = {}
    used, asr, per_utt = None, {}, {}
    items = load_items(split_dir, text_file, max_utts)
    utt2spk = voices(pkg, path, items, split_dir, speaker)   # utterance -> the voice it is spoken in
    per_speaker: dict[str, dict] = {}
    if "tasks" in groups and data is not None:
        metrics.update(task_metrics(model, data))
        metrics.update(logged_free_running(path, pkg.step, split_dir))
        if utt2spk and speaker is None:   # teacher-forced: each recording with its own speaker
            per_speaker = {s: dict(m) for s, m in speaker_task_metrics(model, data).items()}
    sim_refs = None
    if any(g in groups for g in AUDIO_GROUPS):
        synth = Synthesizer.from_package(pkg, path, model, vocoder,
                                            POSTFILTER if postfilter is None else postfilter)
        used = synth.vocoder_name
        p = synth.params
        wav_dir = out_dir / path.stem / "wavs"
        scored, t_am, t_voc, secs = [], 0.0, 0.0, 0.0
        with progress() as prog:
            task = prog.add_task(f"synthesize {path.stem}", total=len(items))
            for uid, text, ref in items:
                if utt2spk:   # an unknown speaker (one held out of training) is named in the error
                    synth.set_speaker(utt2spk.get(uid))
                # Griffin-Lim starts from random phases: seeded by the sentence, every model's
                # audio of it is made alike and a rerun scores the same
                wav, info = synth(text, seed=zlib.crc32(uid.encode()))
                write_wav(wav_dir / f"{uid}.wav", wav, p.sample_rate)
                t_am, t_voc, secs = t_am + info["acoustic_s"], t_voc + info["vocoder_s"], secs + info["audio_s"]
                scored.append((uid, str(wav_dir / f"{uid}.wav"), ref, text))
                prog.advance(task)
        if "speed" in groups:
            metrics.update({"rtf": (t_am + t_voc) / secs, "rtf_acoustic": t_am / secs, "rtf_vocoder": t_voc / secs})
        rows = score_rows(scored, groups, p, nj, path.stem)
        sim_dir = sim_dir or split_dir
        if "similarity" in groups and sim_dir is not None:   # in this process: one encoder, its cache
            from mtts.evaluate.similarity import similarity
            rows = rows or [{"id": uid} for uid, _, _, _ in scored]
            sims, sim_refs = similarity([(uid, hyp, utt2spk.get(uid)) for uid, hyp, _, _ in scored], sim_dir)
            for r in rows:
                r.update(sims[r["id"]])
        scores, asr = summarize_rows(rows)
        metrics.update(scores)
        for spk in sorted(set(utt2spk.get(r["id"]) for r in rows) - {None}):
            spk_scores, _ = summarize_rows([r for r in rows if utt2spk.get(r["id"]) == spk])
            per_speaker.setdefault(spk, {}).update(spk_scores)
        per_utt = sentence_scores(rows)
        if split_dir is not None and (split_dir / "feats.scp").is_file():  # plots of the first few utterances
            feats = read_table(split_dir / "feats.scp")
            for uid, text, ref in [i for i in items if i[0] in feats][:N_PLOTS]:
                with np.load(feats[uid]) as z:
                    ref_mel, ref_f0 = z["mel"], z["pitch"]
                if utt2spk:
                    synth.set_speaker(utt2spk.get(uid))
                hyp_mel = synth.mel(text)
                hyp_f0 = extract(load_audio(wav_dir / f"{uid}.wav", p.sample_rate), p)["pitch"]
                utterance_plot(out_dir / path.stem / "plots" / f"{uid}.png", uid, ref_mel, hyp_mel,
                               _alignment(model, data, uid) if data is not None else None, ref_f0, hyp_f0)
    result = {"checkpoint": str(path), "step": pkg.step, "split": split_dir.name if split_dir else str(text_file),
              "utterances": len(items), "ids": [i[0] for i in items], "metrics": metrics}
    if speaker is not None:
        result["speaker"] = speaker
    if used:   # what the audio was made with
        result["vocoder"] = used
        result["postfilter"] = synth.postfilter_strength
    if asr:
        result["asr"] = asr
    if sim_refs is not None:   # the recordings' own figures: what speaker_sim is read against
        result["speaker_similarity"] = {"recordings": sim_refs}
    if per_utt:
        result["per_utterance"] = per_utt
    if per_speaker:
        counts = {s: sum(utt2spk.get(u) == s for u, _, _ in items) for s in per_speaker}
        result["per_speaker"] = {s: {"utterances": counts[s], "metrics": m} for s, m in per_speaker.items()}
    write_json(out_dir / f"{path.stem}.json", result)
    return result


def sentence_scores(rows: list[dict]) -> dict[str, dict]:
    """Utterance id -> its scores: the wav-level metrics and, with asr, its asr_errors row
    as word_errors, words, char_errors, chars (what corpus WER/CER and paired statistics
    are summed from; words 0 for a sentence with nothing to recognise)."""
    from mtts.evaluate.metrics import asr_errors
    out = {}
    for r in rows:
        s = {k: v for k, v in r.items() if isinstance(v, float)}
        if "hyp_words" in r:
            e = asr_errors([r["ref_words"]], [r["hyp_words"]])
            we, wn, ce, cn = (e[0] if len(e) else (0.0, 0.0, 0.0, 0.0))
            s.update(word_errors=int(we), words=int(wn), char_errors=int(ce), chars=int(cn))
        out[r["id"]] = s
    return out


def logged_free_running(path: Path, step: int | None, split_dir: Path) -> dict[str, float]:
    """fr_wer/fr_cer that training measured on this split at this checkpoint's step
    (train.asr_utts), from EXP/metrics.jsonl beside EXP/checkpoints/: so select-best can pick
    by what a listener gets."""
    from mtts.run import step_of
    log = path.parent.parent / "metrics.jsonl"
    if path.parent.name != "checkpoints" or split_dir.name != "dev" or step is None or not log.is_file():
        return {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if step_of(line) == step and '"fr_cer"' in line:
            rec = json.loads(line)
            if rec.get("split") == "dev":
                return {k: rec[k] for k in ("fr_wer", "fr_cer")}
    return {}


def _alignment(model, data, uid: str) -> np.ndarray | None:
    """MAS path (N, T) of one reference utterance, or None when the model has no aligner."""
    import torch

    from mtts.data.dataset import collate
    if "alignment" not in model.tasks or uid not in data.ids:
        return None
    batch = collate([data[data.ids.index(uid)]])
    with torch.no_grad():
        out = model(batch)
    return out["preds"]["alignment"]["path"][0].numpy()


def evaluate_references(split_dir: Path, out_dir: Path, groups: tuple[str, ...], nj: int, max_utts: int,
                        params: FeatureParams) -> tuple[dict[str, dict], dict[str, dict]]:
    """Score the recordings themselves and their Griffin-Lim resynthesis from true mels:
    the bounds a model trained on them can reach with this vocoder. Returns the metrics and,
    with asr, the transcripts of each."""
    from mtts.synthesize import write_wav
    items = load_items(split_dir, None, max_utts)
    feats = read_table(split_dir / "feats.scp")
    gl_dir = out_dir / "resynthesis" / "wavs"
    for uid, _, _ in items:
        with np.load(feats[uid]) as z:
            write_wav(gl_dir / f"{uid}.wav", griffin_lim(z["mel"], params), params.sample_rate)
    wav_groups = tuple(g for g in groups if g in ("acoustic", "asr", "dnsmos"))
    audio = {"reference": {u: r for u, _, r in items},
             "resynthesis": {u: str(gl_dir / f"{u}.wav") for u, _, _ in items}}
    out, asr = {}, {}
    for name, wav in audio.items():
        out[name], asr[name] = score_wavs([(u, wav[u], r, t) for u, t, r in items], wav_groups, params, nj, name)
    write_json(out_dir / "references.json", {**out, "asr": asr} if any(asr.values()) else out)
    return out, asr


def teacher_wavs(teacher: Path, ids: list[str]) -> dict[str, str]:
    """Utterance id -> the teacher's reading of it: TEACHER/wavs/ID.wav (LJSpeech layout) or TEACHER/ID.wav."""
    base = teacher / "wavs" if (teacher / "wavs").is_dir() else teacher
    if not base.is_dir():
        raise MttsError(f"--teacher {teacher} is not a directory of ID.wav files")
    missing = [u for u in ids if not (base / f"{u}.wav").is_file()]
    if missing:
        raise MttsError(f"{base}: no teacher recording for {', '.join(missing[:5])}"
                        + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    return {u: str(base / f"{u}.wav") for u in ids}


def score_teacher(teacher: Path, items: list, groups: tuple[str, ...], params: FeatureParams, nj: int,
                  out_dir: Path) -> dict:
    """The teacher's readings of the same sentences, scored by the same judge -> teacher.json."""
    wavs = teacher_wavs(teacher, [u for u, _, _ in items])
    wav_groups = tuple(g for g in groups if g in ("asr", "dnsmos"))
    metrics, asr = score_wavs([(u, wavs[u], None, t) for u, t, _ in items], wav_groups, params, nj, "teacher")
    result = {"teacher": str(teacher), "utterances": len(items), "metrics": metrics, **({"asr": asr} if asr else {})}
    write_json(out_dir / "teacher.json", result)
    return result


def against_teacher(result: dict, teacher: dict) -> dict:
    """A model's WER/CER as multiples of the teacher's on the same sentences, each
    [ratio, low, high] with a 95 % paired bootstrap interval, and the teacher's own figures."""
    from mtts.evaluate.metrics import asr_errors, paired_difference
    mine, theirs = result.get("asr", {}).get("transcripts"), teacher.get("asr", {}).get("transcripts")
    if not mine or not theirs:
        return {}
    ids = [u for u in result["ids"] if u in mine and u in theirs]

    def errors(tr: dict):
        return asr_errors([tr[u]["ref"] for u in ids], [tr[u]["hyp"] for u in ids])
    return {"ratio": paired_difference(errors(theirs), errors(mine), ratio=True),
            "teacher": {k: v for k, v in teacher["metrics"].items() if k in ("wer", "cer") or k.startswith("dnsmos")},
            "utterances": len(ids)}


def evaluate(checkpoints: list[Path], split_dir: Path | None, out_dir: Path, groups: tuple[str, ...] = DEFAULT_GROUPS,
             nj: int = 1, max_utts: int = 0, references: bool = False, text_file: Path | None = None,
             vocoder: str = "auto", postfilter: float | None = None, teacher: Path | None = None,
             speaker: str | None = None, sim_dir: Path | None = None) -> list[dict]:
    """Score every checkpoint; with `references` (a split) or `teacher` (readings of the same
    sentences by the voice the corpus came from) also those, and the models against them.
    speaker: the voice of every sentence of a multi-speaker model (default: the split's
    utt2spk); sim_dir: the recordings speaker similarity compares with (default split_dir:
    a text list needs one)."""
    from mtts import checkpoint
    from mtts.evaluate.plots import curves_plot
    from mtts.evaluate.report import write_report
    items = load_items(split_dir, text_file, max_utts)
    sim_dir = sim_dir or split_dir
    if "similarity" in groups:
        if sim_dir is None or not (sim_dir / "wav.scp").is_file():
            raise MttsError(f"--metrics similarity compares with a split's recordings, and "
                            f"{(sim_dir or Path('--data-dir/--split')) / 'wav.scp'} does not exist")
        if split_dir is None:   # a text list: its one voice must be among the recordings
            from mtts.evaluate.similarity import check_references
            voices(checkpoint.Package.load(checkpoints[0]), checkpoints[0], items, None, speaker)
            check_references(sim_dir, speaker)
    if teacher is not None:   # fail before hours of synthesis when a reading is missing
        if not any(g in groups for g in ("asr", "dnsmos")):
            raise MttsError("--teacher is scored with the asr and dnsmos groups: add one to --metrics")
        teacher_wavs(teacher, [u for u, _, _ in items])
    results = [evaluate_checkpoint(c, split_dir, out_dir, groups, nj, max_utts, text_file, vocoder, postfilter,
                                   speaker, sim_dir) for c in checkpoints]
    refs, reference = None, None
    params = checkpoint.Package.load(checkpoints[0]).feature_params if references or teacher else None
    if references and split_dir is not None:
        refs, ref_asr = evaluate_references(split_dir, out_dir, groups, nj, max_utts, params)
        reference = {"metrics": refs["reference"], "asr": ref_asr["reference"]}   # the recordings: the teacher's
    if teacher is not None:
        reference = score_teacher(teacher, items, groups, params, nj, out_dir)
    if reference is not None:
        for r in results:
            if vs := against_teacher(r, reference):
                r["vs_teacher"] = vs
                write_json(out_dir / f"{Path(r['checkpoint']).stem}.json", r)
    write_json(out_dir / "summary.json", results)
    keys = [k for k in results[0]["metrics"] if not k.startswith("loss_")]
    curves_plot(out_dir / "curves.png", results, keys)
    write_report(out_dir / "report.md", results, refs, out_dir)
    console.print(f"report: {out_dir / 'report.md'}")
    return results
