"""Stage `prepare`: LJSpeech-layout corpus -> data dirs + features + train stats.

Reads  CORPUS/metadata.csv, CORPUS/wavs/*.wav
Writes DATA/{train,dev,test}/{wav.scp,text,utt2spk,spk2utt,utt2dur,feats.scp}, and spk2id when
       metadata.csv names several speakers (its 4th column)
       DUMP/feats/<utt>.npz (mel, pitch, energy), DUMP/feature_params.json, DUMP/stats.json

DUMP is locked (DUMP/.lock) while it runs. Each feature file is written atomically and kept,
so a rerun after a kill or a crashed worker extracts only what is missing. Workers start by
forkserver, not fork: a fork of a process whose libraries hold threads (OpenMP, numba) can
deadlock or crash; a worker that dies all the same is named with the utterance it was on.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from mtts.console import console, progress
from mtts.data.corpora import read_ljspeech, split_ids
from mtts.data.datadir import speaker_ids, validate_datadir, write_datadir, write_table
from mtts.errors import MttsError
from mtts.features.audio import MAX_SECONDS, FeatureParams, check_audio, extract, load_audio, trim_silence
from mtts.io import DirLock, atomic_path, child_path, read_json, write_json

FEATURE_KEYS = ("mel", "pitch", "energy")
WORKING = ".working."   # + worker pid: the utterance a worker is on, removed when it is done
CRASH_ENV = "_MTTS_TEST_WORKER_CRASH"   # tests only: a worker kills itself on this utterance
_crash_on: str | None = None


def complete(path: Path) -> bool:
    """Whether a feature file is there and whole (all its arrays readable)."""
    try:
        with np.load(path) as z:
            return all(z[k].size >= 0 for k in FEATURE_KEYS)
    except Exception:   # missing, truncated, not a zip: extract it again
        return False


def _worker_init(marker_dir: str, crash_on: str | None) -> None:
    """A worker stopped by the pool (after another one died) removes its marker, so that only
    a worker that died on its own leaves one."""
    global _crash_on
    _crash_on = crash_on
    def stop(signum, frame):
        Path(marker_dir, f"{WORKING}{os.getpid()}").unlink(missing_ok=True)
        os._exit(128 + signum)
    signal.signal(signal.SIGTERM, stop)


def _process(args: tuple[str, str, dict, str]) -> tuple[str, float, str | None]:
    """Worker: load, check and featurise one utterance. Returns (id, seconds, problem)."""
    utt_id, wav, pdict, out = args
    out_path = Path(out)
    marker = out_path.parent / f"{WORKING}{os.getpid()}"
    marker.write_text(utt_id, encoding="utf-8")
    if utt_id == _crash_on:
        os.kill(os.getpid(), signal.SIGSEGV)
    try:
        return _featurise(utt_id, Path(wav), FeatureParams.from_dict(pdict), out_path)
    finally:
        marker.unlink(missing_ok=True)


def _featurise(utt_id: str, wav: Path, p: FeatureParams, out_path: Path) -> tuple[str, float, str | None]:
    try:
        y = load_audio(wav, p.sample_rate, max_seconds=MAX_SECONDS)
    except MttsError as e:
        return utt_id, 0.0, str(e)
    dur = len(y) / p.sample_rate
    problem = check_audio(wav, y, p.sample_rate)
    if problem:
        return utt_id, dur, problem
    y = trim_silence(y, p)
    dur = len(y) / p.sample_rate
    if not complete(out_path):
        try:
            feats = extract(y, p)
        except Exception as e:   # librosa's own errors on audio it cannot analyse
            return utt_id, dur, f"{wav}: unreadable audio (feature extraction failed: {type(e).__name__})"
        with atomic_path(out_path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **feats)
    return utt_id, dur, None


def extract_all(jobs: list[tuple[str, str, dict, str]], feat_dir: Path, nj: int) -> list[tuple[str, float, str | None]]:
    """Run `_process` over the jobs in `nj` worker processes; results in job order. A worker
    that dies (a signal, the OOM killer) ends it with one error naming its utterance."""
    feat_dir.mkdir(parents=True, exist_ok=True)
    for old in feat_dir.glob(f"{WORKING}*"):
        old.unlink(missing_ok=True)
    ctx = multiprocessing.get_context("forkserver")
    # imported once by the server, not per worker: librosa loads its parts lazily, at first use
    ctx.set_forkserver_preload(["mtts.data.prepare", "librosa.core.spectrum", "librosa.core.pitch",
                                "librosa.feature", "librosa.sequence"])
    results: list = [None] * len(jobs)
    broken = False
    pool = ProcessPoolExecutor(max(1, nj), mp_context=ctx, initializer=_worker_init,
                               initargs=(str(feat_dir), os.environ.get(CRASH_ENV)))
    codes: dict[int, int | None] = {}
    with progress() as prog:
        task = prog.add_task("features", total=len(jobs))
        futures = [pool.submit(_process, job) for job in jobs]
        try:
            for k, fut in enumerate(futures):
                results[k] = fut.result()
                prog.advance(task)
        except BrokenProcessPool:
            broken = True
            # exit codes of the workers (-N: killed by signal N), before shutdown forgets them
            codes = {pid: p.exitcode for pid, p in (getattr(pool, "_processes", None) or {}).items()}
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    if broken:
        for tmp in feat_dir.glob(".*.tmp"):   # of the workers stopped mid-write
            tmp.unlink(missing_ok=True)
        raise MttsError(_crash_message(feat_dir, jobs, codes))
    return results


def _crash_message(feat_dir: Path, jobs: list, codes: dict[int, int | None]) -> str:
    on = []
    for marker in sorted(feat_dir.glob(f"{WORKING}*")):
        pid = int(marker.name[len(WORKING):]) if marker.name[len(WORKING):].isdigit() else 0
        code = codes.get(pid)
        why = f" (signal {-code})" if code is not None and code < 0 else ""
        try:
            on.append((marker.read_text(encoding="utf-8"), why))
        except OSError:
            pass
        marker.unlink(missing_ok=True)
    kept = sum(complete(Path(job[3])) for job in jobs)
    if on:
        utt, why = on[0]
        wav = next((job[1] for job in jobs if job[0] == utt), "?")
        what = f"worker died{why} while on utterance {utt} ({wav})"
    else:
        sig = next((-c for c in codes.values() if c is not None and c < 0 and c != -signal.SIGTERM), None)
        what = f"a worker died{f' (signal {sig})' if sig else ''}"
    return (f"{what}; {kept} finished utterance(s) kept in {feat_dir}, rerun to continue "
            "(drop the utterance from metadata.csv if it fails again)")


KINDS = ("does not exist", "0 bytes", "unreadable", "too short", "too long", "silent", "fields",
         "duplicate id", "empty text", "contains spaces", "speaker field")


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
    utts, problems = read_ljspeech(corpus)   # read (and refused) before anything is written
    with DirLock(dump_dir, "prepare", "wait for it to finish or choose another --dump-dir"):
        return _prepare(corpus, utts, problems, data_dir, dump_dir, nj, n_dev, n_test, skip_bad,
                        params or FeatureParams())


def _prepare(corpus: Path, utts: list, problems: list[str], data_dir: Path, dump_dir: Path, nj: int,
             n_dev: int, n_test: int, skip_bad: bool, params: FeatureParams) -> dict:
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
    for utt_id, dur, problem in extract_all(jobs, feat_dir, nj):
        if problem:
            problems.append(problem)
        else:
            durs[utt_id] = dur

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
    spk2id = speaker_ids([u.speaker for u in good])   # one numbering for every split
    for name, ids in split.items():
        d = data_dir / name
        write_datadir(d, {i: str(by_id[i].wav.resolve()) for i in ids},
                      {i: by_id[i].text for i in ids}, {i: by_id[i].speaker for i in ids},
                      {i: durs[i] for i in ids}, spk2id)
        write_table(d / "feats.scp", {i: str((feat_dir / f"{i}.npz").resolve()) for i in ids})
        validate_datadir(d)
    if spk2id is not None:   # a speaker with nothing in train would keep an untrained vector
        idle = sorted(set(spk2id) - {by_id[i].speaker for i in split["train"]})
        if idle:
            console.print(f"[yellow]warning: speaker(s) {', '.join(idle)} have no training utterance "
                          "(all went to dev/test): give them more utterances", highlight=False, soft_wrap=True)
    stats = compute_stats([feat_dir / f"{i}.npz" for i in split["train"]])
    write_json(dump_dir / "stats.json", stats)
    summary = {k: len(v) for k, v in split.items()}
    summary["hours"] = round(sum(durs.values()) / 3600, 3)
    summary["dropped"] = len(problems)
    if spk2id is not None:
        summary["speakers"] = len(spk2id)
    return summary
