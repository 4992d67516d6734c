"""Stage `prepare`: LJSpeech-layout corpus -> data dirs + features + train stats.

Reads  CORPUS/metadata.csv, CORPUS/wavs/*.wav
Writes DATA/{train,dev,test}/{wav.scp,text,utt2spk,spk2utt,utt2dur,feats.scp}
       DUMP/feats/<utt>.npz (mel, pitch, energy), DUMP/feature_params.json, DUMP/stats.json
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from mtts.console import console, progress
from mtts.data.corpora import read_ljspeech, split_ids
from mtts.data.datadir import validate_datadir, write_datadir, write_table
from mtts.errors import MttsError
from mtts.features.audio import FeatureParams, check_audio, extract, load_audio, trim_silence
from mtts.io import atomic_path, child_path, read_json, write_json


def _process(args: tuple[str, str, dict, str]) -> tuple[str, float, str | None]:
    """Worker: load, check and featurise one utterance. Returns (id, seconds, problem)."""
    utt_id, wav, pdict, out = args
    p = FeatureParams.from_dict(pdict)
    try:
        y = load_audio(Path(wav), p.sample_rate)
    except MttsError as e:
        return utt_id, 0.0, str(e)
    dur = len(y) / p.sample_rate
    problem = check_audio(Path(wav), y, p.sample_rate)
    if problem:
        return utt_id, dur, problem
    y = trim_silence(y, p)
    dur = len(y) / p.sample_rate
    out_path = Path(out)
    if not out_path.is_file():
        feats = extract(y, p)
        with atomic_path(out_path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **feats)
    return utt_id, dur, None


KINDS = ("does not exist", "0 bytes", "unreadable", "too short", "too long", "silent", "fields",
         "duplicate id", "empty text", "contains spaces")


def summarize(problems: list[str]) -> str:
    """'2 does not exist, 1 too short': counts of each kind of problem."""
    counts: dict[str, int] = {}
    for p in problems:
        kind = next((k for k in KINDS if k in p), "other")
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in counts.items())


def compute_stats(paths: list[Path]) -> dict[str, object]:
    """Mean/std of mel bins, voiced F0 and energy over the training set, and each mel bin's
    global variance: its standard deviation within an utterance, averaged over utterances
    (the target of the synthesis postfilter, `mtts.synthesize.gv_postfilter`)."""
    mel_sum = mel_sq = None
    n = 0
    pitch, energy, utt_std = [], [], []
    for path in paths:
        with np.load(path) as z:
            mel = z["mel"].astype(np.float64)
            mel_sum = mel.sum(0) if mel_sum is None else mel_sum + mel.sum(0)
            mel_sq = (mel ** 2).sum(0) if mel_sq is None else mel_sq + (mel ** 2).sum(0)
            n += mel.shape[0]
            utt_std.append(mel.std(0))
            f0 = z["pitch"]
            pitch.append(f0[f0 > 0])
            energy.append(z["energy"])
    mean = mel_sum / n
    std = np.sqrt(np.maximum(mel_sq / n - mean ** 2, 1e-8))
    f0 = np.concatenate(pitch) if pitch else np.zeros(1)
    en = np.concatenate(energy)
    if f0.size < 2:
        raise MttsError("no voiced frames in the training set: is the audio speech?")
    return {"mel_mean": mean.tolist(), "mel_std": std.tolist(),
            "mel_gv": (np.mean(utt_std, 0) / std).tolist(),   # in normalised units
            "pitch_mean": float(f0.mean()), "pitch_std": float(f0.std() + 1e-3),
            "energy_mean": float(en.mean()), "energy_std": float(en.std() + 1e-3),
            "frames": int(n)}


def prepare(corpus: Path, data_dir: Path, dump_dir: Path, nj: int = 2, n_dev: int = 0,
            n_test: int = 0, skip_bad: bool = False, params: FeatureParams | None = None) -> dict:
    params = params or FeatureParams()
    utts, problems = read_ljspeech(corpus)
    pfile = dump_dir / "feature_params.json"
    feat_dir = dump_dir / "feats"
    # read through FeatureParams: a file from before a parameter existed holds its default
    if pfile.is_file() and FeatureParams.from_dict(read_json(pfile)) != params:
        raise MttsError(f"{dump_dir} holds features made with other parameters; "
                        "remove it or choose another --dump-dir")
    write_json(pfile, params.to_dict())
    for stale in feat_dir.glob(".*.tmp"):  # left by a killed run; finished files are kept
        stale.unlink(missing_ok=True)

    jobs = [(u.utt_id, str(u.wav), params.to_dict(), str(child_path(feat_dir, f"{u.utt_id}.npz")))
            for u in utts]
    durs: dict[str, float] = {}
    with progress() as prog, ProcessPoolExecutor(max_workers=max(1, nj)) as pool:
        task = prog.add_task("features", total=len(jobs))
        for utt_id, dur, problem in pool.map(_process, jobs, chunksize=4):
            if problem:
                problems.append(problem)
            else:
                durs[utt_id] = dur
            prog.advance(task)

    if problems:
        for line in problems:
            console.print(f"  [yellow]{line}", highlight=False, soft_wrap=True)
        console.print(f"summary: {summarize(problems)}", highlight=False, soft_wrap=True)
        if not skip_bad:
            raise MttsError(f"{len(problems)} problem(s) in {corpus} (listed above); fix them "
                            "or rerun with --skip-bad to drop those utterances")
        console.print(f"[yellow]warning: dropped {len(problems)} bad utterance(s)")

    good = [u for u in utts if u.utt_id in durs]
    n = len(good)
    n_dev = n_dev or min(100, max(2, n // 20))
    n_test = n_test or min(100, max(2, n // 20))
    split = split_ids([u.utt_id for u in good], n_dev, n_test)
    by_id = {u.utt_id: u for u in good}
    for name, ids in split.items():
        d = data_dir / name
        write_datadir(d, {i: str(by_id[i].wav.resolve()) for i in ids},
                      {i: by_id[i].text for i in ids}, {i: by_id[i].speaker for i in ids},
                      {i: durs[i] for i in ids})
        write_table(d / "feats.scp", {i: str((feat_dir / f"{i}.npz").resolve()) for i in ids})
        validate_datadir(d)
    stats = compute_stats([feat_dir / f"{i}.npz" for i in split["train"]])
    write_json(dump_dir / "stats.json", stats)
    summary = {k: len(v) for k, v in split.items()}
    summary["hours"] = round(sum(durs.values()) / 3600, 3)
    summary["dropped"] = len(problems)
    return summary
