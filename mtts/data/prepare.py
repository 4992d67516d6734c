"""Stage `prepare`: LJSpeech-layout corpus -> data dirs + features + train stats.

Reads  CORPUS/metadata.csv, CORPUS/wavs/*.wav
Writes DATA/{train,dev,test}/{wav.scp,text,utt2spk,spk2utt,utt2dur,feats.scp}, and spk2id when
       metadata.csv names several speakers (its 4th column)
       DUMP/feats/<utt>.npz (mel, pitch, energy), DUMP/feature_params.json, DUMP/stats.json
As shard K of N (--job K --njobs N): DUMP/feats/<utt>.npz of its utterances only and
       DUMP/shards/prepare.K-of-N/sums.npz (their durations, problems and statistics sums);
       --merge --njobs N then writes the rest, the same bytes a single run writes.

DUMP is locked (DUMP/.lock) while it runs: exclusively by a whole run or a merge, shared by the
shards, which run side by side. Each feature file is written atomically and kept, so a rerun
after a kill or a crashed worker extracts only what is missing. Workers start by forkserver,
not fork: a fork of a process whose libraries hold threads (OpenMP, numba) can deadlock or
crash; a worker that dies all the same is named with the utterance it was on.

Statistics are per-utterance float64 sums (`utt_sums`), reduced in the train split's id order
by `finish_stats`: a single run and a merge of shards reduce the same numbers in the same order,
so their stats.json are identical.
"""

from __future__ import annotations

import json
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
from mtts.data.shards import check_job, check_settings, digest, missing_shards, shard_name, shard_of
from mtts.errors import MttsError
from mtts.features.audio import MAX_SECONDS, FeatureParams, check_audio, extract, load_audio, trim_silence
from mtts.io import DirLock, atomic_path, child_path, create_json, read_json, write_json

FEATURE_KEYS = ("mel", "pitch", "energy")
WORKING = ".working."   # + worker pid: the utterance a worker is on, removed when it is done
HINT = "wait for it to finish or choose another --dump-dir"
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


Result = tuple[str, float, "str | None", "dict | None"]   # id, seconds, problem, utt_sums


def _process(args: tuple[str, str, dict, str, str]) -> Result:
    """Worker: load, check and featurise one utterance. Returns (id, seconds, problem, sums)."""
    utt_id, wav, pdict, out, marker_dir = args
    out_path = Path(out)
    marker = Path(marker_dir) / f"{WORKING}{os.getpid()}"
    marker.write_text(utt_id, encoding="utf-8")
    if utt_id == _crash_on:
        os.kill(os.getpid(), signal.SIGSEGV)
    try:
        return _featurise(utt_id, Path(wav), FeatureParams.from_dict(pdict), out_path)
    finally:
        marker.unlink(missing_ok=True)


def _featurise(utt_id: str, wav: Path, p: FeatureParams, out_path: Path) -> Result:
    try:
        y = load_audio(wav, p.sample_rate, max_seconds=MAX_SECONDS)
    except MttsError as e:
        return utt_id, 0.0, str(e), None
    dur = len(y) / p.sample_rate
    problem = check_audio(wav, y, p.sample_rate)
    if problem:
        return utt_id, dur, problem, None
    y = trim_silence(y, p)
    dur = len(y) / p.sample_rate
    if complete(out_path):
        with np.load(out_path) as z:
            feats = {k: z[k] for k in FEATURE_KEYS}
    else:
        try:
            feats = extract(y, p)
        except Exception as e:   # librosa's own errors on audio it cannot analyse
            return utt_id, dur, f"{wav}: unreadable audio (feature extraction failed: {type(e).__name__})", None
        with atomic_path(out_path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **feats)
    return utt_id, dur, None, utt_sums(feats)


def own_temp_files(feat_dir: Path, names: set[str]) -> list[Path]:
    """Temporary files (atomic_path's `.<name>.<random>.tmp`) of these feature files only: a
    shard must not delete the files another shard is writing."""
    return [t for t in feat_dir.glob(".*.tmp") if t.name[1:].rsplit(".", 2)[0] in names]


def extract_all(jobs: list[tuple[str, str, dict, str, str]], feat_dir: Path, nj: int,
                marker_dir: Path) -> list[Result]:
    """Run `_process` over the jobs in `nj` worker processes; results in job order. A worker
    that dies (a signal, the OOM killer) ends it with one error naming its utterance. Workers
    mark the utterance they are on in `marker_dir`, which this run alone uses."""
    feat_dir.mkdir(parents=True, exist_ok=True)
    marker_dir.mkdir(parents=True, exist_ok=True)
    for old in marker_dir.glob(f"{WORKING}*"):
        old.unlink(missing_ok=True)
    ctx = multiprocessing.get_context("forkserver")
    # imported once by the server, not per worker: librosa loads its parts lazily, at first use
    ctx.set_forkserver_preload(["mtts.data.prepare", "librosa.core.spectrum", "librosa.core.pitch",
                                "librosa.feature", "librosa.sequence"])
    results: list = [None] * len(jobs)
    broken = False
    pool = ProcessPoolExecutor(max(1, nj), mp_context=ctx, initializer=_worker_init,
                               initargs=(str(marker_dir), os.environ.get(CRASH_ENV)))
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
        for tmp in own_temp_files(feat_dir, {Path(job[3]).name for job in jobs}):   # stopped mid-write
            tmp.unlink(missing_ok=True)
        raise MttsError(_crash_message(feat_dir, marker_dir, jobs, codes))
    return results


def _crash_message(feat_dir: Path, marker_dir: Path, jobs: list, codes: dict[int, int | None]) -> str:
    on = []
    for marker in sorted(marker_dir.glob(f"{WORKING}*")):
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


# statistics: per-utterance sums, reduced in one place

SCALARS = ("frames", "f0_n", "f0_sum", "f0_sq", "en_sum", "en_sq")


def utt_sums(feats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One utterance's contribution to the train-set statistics, in float64: per mel bin its
    sum, sum of squares and standard deviation within the utterance; counts and sums of voiced
    F0 and of energy (`scalars`, in SCALARS order)."""
    mel = feats["mel"].astype(np.float64)
    f0 = feats["pitch"].astype(np.float64)
    f0 = f0[f0 > 0]
    en = feats["energy"].astype(np.float64)
    return {"mel_sum": mel.sum(0), "mel_sq": (mel ** 2).sum(0), "mel_std": mel.std(0),
            "scalars": np.array([mel.shape[0], f0.size, f0.sum(), (f0 ** 2).sum(), en.sum(), (en ** 2).sum()])}


def finish_stats(sums: list[dict[str, np.ndarray]]) -> dict[str, object]:
    """Mean/std of mel bins, voiced F0 and energy over the training set, and each mel bin's
    global variance: its standard deviation within an utterance, averaged over utterances
    (the target of the synthesis postfilter, `mtts.synthesize.gv_postfilter`). `sums` are
    `utt_sums` in a fixed order (the train ids, sorted), so any path to them gives the same bits."""
    if not sums:
        raise MttsError("no training utterances to compute statistics from")
    stacked = {k: np.stack([s[k] for s in sums]) for k in sums[0]}   # (n_utts, n_mels) and (n_utts, 6)
    mel_sum, mel_sq = stacked["mel_sum"].sum(0), stacked["mel_sq"].sum(0)
    frames, f0_n, f0_sum, f0_sq, en_sum, en_sq = stacked["scalars"].sum(0).tolist()
    if f0_n < 2:
        raise MttsError("no voiced frames in the training set: is the audio speech?")
    mean = mel_sum / frames
    std = np.sqrt(np.maximum(mel_sq / frames - mean ** 2, 1e-8))
    f0_mean, en_mean = f0_sum / f0_n, en_sum / frames
    return {"mel_mean": mean.tolist(), "mel_std": std.tolist(),
            "mel_gv": (stacked["mel_std"].mean(0) / std).tolist(),   # in normalised units
            "pitch_mean": f0_mean, "pitch_std": float(np.sqrt(max(f0_sq / f0_n - f0_mean ** 2, 0.0)) + 1e-3),
            "energy_mean": en_mean, "energy_std": float(np.sqrt(max(en_sq / frames - en_mean ** 2, 0.0)) + 1e-3),
            "frames": int(frames)}


def compute_stats(paths: list[Path]) -> dict[str, object]:
    """`finish_stats` of feature files, in the order given."""
    sums = []
    for path in paths:
        with np.load(path) as z:
            sums.append(utt_sums({k: z[k] for k in FEATURE_KEYS}))
    return finish_stats(sums)


# the stage: one process, a shard, or the merge of shards

def prepare(corpus: Path, data_dir: Path, dump_dir: Path, nj: int = 2, n_dev: int = 0,
            n_test: int = 0, skip_bad: bool = False, params: FeatureParams | None = None,
            job: int | None = None, njobs: int = 1, merge: bool = False) -> dict:
    """The whole stage in one process; with `job`, shard `job` of `njobs` (features and sums of
    its utterances, nothing else); with `merge`, data dirs and stats from the `njobs` shards."""
    check_job(job, njobs, merge)
    params = params or FeatureParams()
    utts, problems = read_ljspeech(corpus)   # read (and refused) before anything is written
    # the corpus is known by its metadata.csv, not its path: cluster nodes may mount it apart
    settings = {**params.to_dict(), "njobs": njobs,
                "metadata.csv": digest((corpus / "metadata.csv").read_bytes().decode("utf-8-sig"))}
    if job is not None:
        # shared: the other shards run beside this one; a whole run or a merge waits for them all
        with DirLock(dump_dir, "prepare", HINT, shared=True):
            return _shard(utts, dump_dir, nj, params, job, njobs, settings)
    with DirLock(dump_dir, "prepare", HINT):
        check_params(dump_dir, params)
        if merge:
            results = _read_shards(utts, dump_dir, njobs, settings, corpus)
            write_json(dump_dir / "feature_params.json", params.to_dict())
        else:
            write_json(dump_dir / "feature_params.json", params.to_dict())
            feat_dir = dump_dir / "feats"
            for stale in feat_dir.glob(".*.tmp"):  # left by a killed run; finished files are kept
                stale.unlink(missing_ok=True)
            results = extract_all(_jobs(utts, feat_dir, params, feat_dir), feat_dir, nj, feat_dir)
        return _finish(corpus, utts, problems, results, data_dir, dump_dir, n_dev, n_test, skip_bad)


def check_params(dump_dir: Path, params: FeatureParams) -> None:
    """Refuse a dump dir whose features were made with other parameters. Read through
    FeatureParams: a file from before a parameter existed holds its default."""
    pfile = dump_dir / "feature_params.json"
    if pfile.is_file() and FeatureParams.from_dict(read_json(pfile)) != params:
        raise MttsError(f"{dump_dir} holds features made with other parameters; "
                        "remove it or choose another --dump-dir")


def _jobs(utts: list, feat_dir: Path, params: FeatureParams, marker_dir: Path) -> list:
    return [(u.utt_id, str(u.wav), params.to_dict(), str(child_path(feat_dir, f"{u.utt_id}.npz")), str(marker_dir))
            for u in utts]


def _shard(utts: list, dump_dir: Path, nj: int, params: FeatureParams, job: int, njobs: int,
           settings: dict) -> dict:
    feat_dir = dump_dir / "feats"
    shard_dir = dump_dir / "shards" / shard_name("prepare", job, njobs)
    mine = [u for u in utts if shard_of(u.utt_id, njobs) == job]
    # the same shard started twice would race on its own files
    with DirLock(shard_dir, f"prepare --job {job} --njobs {njobs}", "wait for it to finish"):
        _claim_params(dump_dir, params)
        for stale in own_temp_files(feat_dir, {f"{u.utt_id}.npz" for u in mine}):
            stale.unlink(missing_ok=True)
        results = extract_all(_jobs(mine, feat_dir, params, shard_dir), feat_dir, nj, shard_dir)
        n_mels = params.n_mels
        good = [r for r in results if r[3] is not None]
        arrays = {k: np.stack([r[3][k] for r in good]) if good else np.zeros((0, n_mels))
                  for k in ("mel_sum", "mel_sq", "mel_std")}
        arrays["scalars"] = np.stack([r[3]["scalars"] for r in good]) if good else np.zeros((0, len(SCALARS)))
        meta = {"settings": settings, "ids": [r[0] for r in results], "durs": [r[1] for r in results],
                "problems": {r[0]: r[2] for r in results if r[2]}, "good": [r[0] for r in good]}
        with atomic_path(shard_dir / "sums.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
    return {"job": job, "njobs": njobs, "utterances": len(mine), "problems": len(meta["problems"]),
            "shard": str(shard_dir / "sums.npz")}


def _claim_params(dump_dir: Path, params: FeatureParams) -> None:
    """Write feature_params.json unless there is one (then it must agree), without racing the
    other shards: the first to create it wins, the others compare."""
    if not create_json(dump_dir / "feature_params.json", params.to_dict()):
        check_params(dump_dir, params)


def _read_shards(utts: list, dump_dir: Path, njobs: int, settings: dict, corpus: Path) -> list[Result]:
    """The shards' results in corpus order, as a single run's `extract_all` returns them."""
    paths = [dump_dir / "shards" / shard_name("prepare", k, njobs) / "sums.npz" for k in range(1, njobs + 1)]
    missing_shards(paths, f"mtts prepare {corpus}", njobs)
    by_id: dict[str, Result] = {}
    for k, path in enumerate(paths, 1):
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                arrays = {key: z[key] for key in ("mel_sum", "mel_sq", "mel_std", "scalars")}
        except (OSError, ValueError, KeyError) as e:
            raise MttsError(f"{path} is unreadable ({type(e).__name__}): rerun shard {k}") from None
        check_settings(path, meta["settings"], settings)
        expected = [u.utt_id for u in utts if shard_of(u.utt_id, njobs) == k]
        if meta["ids"] != expected:
            raise MttsError(f"{path} holds other utterances than shard {k} of {njobs} of this corpus: rerun it")
        row = {u: i for i, u in enumerate(meta["good"])}
        for utt, dur in zip(meta["ids"], meta["durs"]):
            sums = {key: a[row[utt]] for key, a in arrays.items()} if utt in row else None
            by_id[utt] = (utt, dur, meta["problems"].get(utt), sums)
    return [by_id[u.utt_id] for u in utts]


def _finish(corpus: Path, utts: list, problems: list[str], results: list[Result], data_dir: Path,
            dump_dir: Path, n_dev: int, n_test: int, skip_bad: bool) -> dict:
    """Split, data dirs and stats from every utterance's result: shared by a single run and the
    merge, so that both write the same files."""
    feat_dir = dump_dir / "feats"
    durs: dict[str, float] = {}
    sums: dict[str, dict] = {}
    for utt_id, dur, problem, s in results:
        if problem:
            problems.append(problem)
        else:
            durs[utt_id], sums[utt_id] = dur, s

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
    stats = finish_stats([sums[i] for i in split["train"]])   # before any file: it may refuse
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
    write_json(dump_dir / "stats.json", stats)
    summary = {k: len(v) for k, v in split.items()}
    summary["hours"] = round(sum(durs.values()) / 3600, 3)
    summary["dropped"] = len(problems)
    if spk2id is not None:
        summary["speakers"] = len(spk2id)
    return summary
