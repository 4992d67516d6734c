"""Stage `ablate`: the single-task baseline against multi-task variants at equal training
steps, over paired seeds and training-data sizes, judged on what a listener gets.

Reads  a plan YAML (PLAN_KEYS below; recipes/mini/conf/ablate.yaml), the base config,
       DATA and DUMP as `train` reads them
Writes EXP/<size>/<variant>/seed<k>/        a normal training run and its eval/ (dev wavs)
       RESULTS/<size>/<variant>/seed<k>.json one finished cell: per-sentence scores of free-running
                                            synthesis, teacher-forced diagnostics, s/step (a few KB)
       REPORT (Markdown) and REPORT's <stem>_plots/gain_vs_size.png, from RESULTS alone

A cell is one (size, variant, seed). Its verdict metrics come from synthesis from text alone
(predicted durations, pitch and energy; Griffin-Lim) of dev sentences, scored against the
dev recordings. The teacher-forced dev losses are kept as diagnostics only: pitch and energy
feed the decoder the true F0 and energy there, so their mel loss is told part of the answer.

The study runs in pieces: --only/--sizes/--seeds and --job K --njobs N (share K of N, e.g. an
array job's task; --job-index K-1 --jobs N is the older spelling) pick cells; a cell whose
result exists is skipped (and refused if it was made with another config, step count or data);
every invocation rebuilds the report from all results and lists what is missing. Concurrent
jobs build it one at a time (RESULTS/.report.lock), each after writing its own results, so the
last one to finish reports every cell.

A result file (SCHEMA): schema, variant, size, seed, steps; data {train_utts, train_minutes,
train_ids, score_ids: hashes of the utterance ids trained on and scored}; minutes (training);
teacher_forced_dev {mel_l1, ...}, train_loss_mel, dev_loss_mel, gap_mel, s_per_step
(diagnostics); vocoder, date, mtts, machine, plan, config_hash (config less seed and threads,
size and scoring), command; scores {utterance id: {mcd_db, log_f0_rmse_cents (null: nothing
voiced in both), vuv_error, and with ASR word_errors, words, char_errors, chars}}.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import json
import math
import os
import platform
import statistics
from dataclasses import dataclass
from pathlib import Path

import yaml

from mtts import __version__
from mtts.config import Config, read_yaml
from mtts.console import console
from mtts.data.datadir import read_table
from mtts.errors import MttsError
from mtts.evaluate import stats as S
from mtts.io import read_json, waiting_lock, write_text
from mtts.training_plots import read_log
from mtts.validate import config_from_dict, load_config

SCHEMA = "mtts-ablate-cell/1"
FULL = "full"
PLAN_KEYS = ("base", "variants", "baseline", "sizes", "seeds", "steps", "score_utts")
VARIANT_KEYS = ("compare_to", "sizes", "about")   # plan-only keys of a variant; the rest overrides the config
LABELS = {"wer": "WER", "cer": "CER", "mcd_db": "MCD", "log_f0_rmse_cents": "log-F0 RMSE"}
SCORE_KEYS = ("mcd_db", "log_f0_rmse_cents", "vuv_error", "word_errors", "words", "char_errors", "chars")
DIAGNOSTICS = ("mel_l1", "mel_l2", "duration_mae_frames", "f0_rmse_hz", "energy_mae", "g2p_per",
               "lexicon_g2p_per", "recognition_per")


@dataclass
class Variant:
    overrides: dict
    compare_to: str | None      # None: the baseline
    sizes: list[str]
    about: str = ""


@dataclass
class Plan:
    name: str
    base: dict
    variants: dict[str, Variant]
    baseline: str
    sizes: list[str]            # "<m>min" or "full"
    seeds: list[int] | int      # a list, or a count from the base config's train.seed
    steps: int
    score_utts: int

    def seed_list(self, first: int) -> list[int]:
        return list(range(first, first + self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


def merge(a: dict, b: dict) -> dict:
    """Deep merge of config overrides; a `tasks` mapping replaces the task set whole."""
    out = copy.deepcopy(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "tasks":
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def size_label(x) -> str:
    """30 or "30" -> "30min"; "full" stays."""
    if x == FULL:
        return FULL
    try:
        m = float(str(x).removesuffix("min"))
    except ValueError:
        raise MttsError(f"size {x!r} must be minutes of training audio or 'full'") from None
    if not m > 0 or not math.isfinite(m):
        raise MttsError(f"size {x!r} must be a positive number of minutes or 'full'")
    return f"{m:g}min"


def size_minutes(label: str) -> float | None:
    return None if label == FULL else float(label.removesuffix("min"))


def _positive_int(v, what: str, path: Path) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise MttsError(f"{path}: '{what}' must be a positive integer, got {v!r}")
    return v


def load_plan(path: Path) -> Plan:
    data = read_yaml(path, "ablation plan")
    if not isinstance(data, dict) or set(data) - set(PLAN_KEYS):
        extra = sorted(set(data) - set(PLAN_KEYS)) if isinstance(data, dict) else []
        raise MttsError(f"{path}: unknown key(s) {', '.join(map(str, extra)) or '(not a mapping)'}; "
                        f"expected {', '.join(PLAN_KEYS)}")
    raw = data.get("variants") or {}
    if not isinstance(raw, dict) or not raw:
        raise MttsError(f"{path}: 'variants' must map names to config overrides")
    if not isinstance(data.get("base") or {}, dict) or not all(isinstance(v or {}, dict) for v in raw.values()):
        raise MttsError(f"{path}: 'base' and every variant must be mappings of config overrides")
    sizes = [size_label(s) for s in (data.get("sizes") or [FULL])]
    if len(set(sizes)) != len(sizes):
        raise MttsError(f"{path}: 'sizes' lists a size twice")
    baseline = data.get("baseline", next(iter(raw)))
    if baseline not in raw:
        raise MttsError(f"{path}: baseline '{baseline}' is not a variant")
    variants = {}
    for name, v in raw.items():
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").replace("+", "").isalnum():
            raise MttsError(f"{path}: variant name {name!r} must be letters, digits, '_', '-' or '+'")
        v = dict(v or {})
        about = str(v.pop("about", ""))
        ref = v.pop("compare_to", None if name == baseline else baseline)
        if name == baseline and ref is not None:
            raise MttsError(f"{path}: the baseline '{name}' is compared to nothing (drop its compare_to)")
        if ref is not None and (ref not in raw or ref == name):
            raise MttsError(f"{path}: variant '{name}' compares to unknown variant '{ref}'")
        vs = [size_label(s) for s in v.pop("sizes", sizes)]
        if set(vs) - set(sizes):
            raise MttsError(f"{path}: variant '{name}' runs at {', '.join(sorted(set(vs) - set(sizes)))}, "
                            f"not among the plan's sizes ({', '.join(sizes)})")
        variants[name] = Variant(v, ref, [s for s in sizes if s in vs], about)
    for name, v in variants.items():   # a comparison needs both sides at each size
        if v.compare_to is not None:
            lonely = [s for s in v.sizes if s not in variants[v.compare_to].sizes]
            if lonely:
                raise MttsError(f"{path}: variant '{name}' runs at {', '.join(lonely)} where '{v.compare_to}', "
                                f"which it is compared to, does not")
    seeds = data.get("seeds", 3)
    if isinstance(seeds, list):
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds) \
                or len(set(seeds)) != len(seeds):
            raise MttsError(f"{path}: 'seeds' must be a count or a list of distinct integers")
    else:
        _positive_int(seeds, "seeds", path)
    return Plan(Path(path).stem, data.get("base") or {}, variants, baseline, sizes, seeds,
                _positive_int(data.get("steps", 400), "steps", path),
                _positive_int(data.get("score_utts", 50), "score_utts", path))


def variant_configs(base: Config, plan: Plan, steps: int) -> dict[str, Config]:
    """Every variant's full config, checked before any training starts."""
    out = {}
    for name, v in plan.variants.items():
        d = merge(merge(base.to_dict(), plan.base), v.overrides)
        log_every = max(1, steps // 20)
        # no listening during training (train.asr_utts): every cell is scored once, at its end
        d["train"].update(max_steps=steps, max_minutes=0.0, log_every=log_every,
                          ckpt_every=log_every * 4, keep_checkpoints=1, asr_utts=0)
        try:
            out[name] = config_from_dict(d)
        except MttsError as e:
            raise MttsError(f"variant '{name}': {e}") from None
    return out


def config_hash(cfg: Config, size: str, score_utts: int, asr: bool) -> str:
    """What decides a cell's result but its seed: the config (less seed, threads and feature loading),
    the data size and the scoring."""
    d = cfg.to_dict()
    d["train"] = {k: v for k, v in d["train"].items() if k not in ("seed", "num_threads")}
    for k in ("init_from", "freeze"):   # adaptation keys, hashed only when set: older results keep their hashes
        if not d["train"][k]:
            del d["train"][k]
    d["data"] = {k: v for k, v in d["data"].items() if k != "load"}   # where features live, not what they are
    blob = json.dumps({"config": d, "size": size, "score_utts": score_utts, "asr": asr,
                       "vocoder": "griffin-lim"}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _ids_hash(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


def train_subset(train_dir: Path, size: str) -> tuple[list[str], float]:
    """The training utterances of a data size, and their minutes (utt2dur).

    Utterances are taken in the order of a hash of their id until their durations add up
    to the size: the same for every variant and seed, a prefix of the same order for every
    size (10 min ⊂ 30 min ⊂ 60 min), and spread over the corpus rather than its first
    chapters. Only utterances that training can use (phones and features) count."""
    durs = read_table(train_dir / "utt2dur")
    usable = set(read_table(train_dir / "phones")) & set(read_table(train_dir / "feats.scp"))
    order = sorted((u for u in durs if u in usable), key=lambda u: hashlib.sha256(u.encode()).hexdigest())
    target = size_minutes(size)
    out, total = [], 0.0
    for u in order:
        if target is not None and total >= target * 60:
            break
        out.append(u)
        total += float(durs[u])
    if target is not None and total < target * 60:
        raise MttsError(f"{train_dir} holds {total / 60:.1f} min of usable training audio, less than the "
                        f"{size} the plan asks for (use 'full')")
    return sorted(out), total / 60


def features_hash(dump_dir: Path) -> str:
    """What prepare made the features with (sample rate, mels, F0 range, silence trimming):
    cells on features made otherwise are not comparable."""
    from mtts.features.audio import FeatureParams
    path = dump_dir / "feature_params.json"
    if not path.is_file():
        raise MttsError(f"{path} does not exist: run `mtts prepare` first")
    params = FeatureParams.from_dict(read_json(path)).to_dict()   # old files read with today's defaults
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def score_ids(dev_dir: Path, n: int) -> list[str]:
    """The dev sentences every cell is scored on (evaluate's first n in id order)."""
    return sorted(read_table(dev_dir / "text"))[:n]


# one finished cell


def summarize_run(run_dir: Path) -> dict:
    """Teacher-forced diagnostics of a finished run (never a verdict), from metrics.jsonl."""
    rows = read_log(run_dir / "metrics.jsonl")
    train = [r for r in rows if r["split"] == "train"]
    dev = [r for r in rows if r["split"] == "dev"]
    if not dev or not train:
        raise MttsError(f"{run_dir}: no train and dev records in metrics.jsonl (the ablation needs a dev split)")
    final = dev[-1]
    out = {"teacher_forced_dev": {k: _round(final[k]) for k in DIAGNOSTICS if k in final},
           "s_per_step": _round(statistics.median(r["s_per_step"] for r in train if "s_per_step" in r))}
    if "loss_mel" in final and "loss_mel" in train[-1]:
        # both teacher-forced on recordings: dev above train is overfitting
        out.update(train_loss_mel=_round(train[-1]["loss_mel"]), dev_loss_mel=_round(final["loss_mel"]),
                   gap_mel=_round(final["loss_mel"] - train[-1]["loss_mel"]))
    return out


def _round(x, digits: int = 5):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None   # JSON has no NaN: a score that is undefined (e.g. F0 with nothing voiced)
    return round(float(x), digits) if isinstance(x, float) else x


def cell_path(results: Path, size: str, variant: str, seed: int) -> Path:
    return results / size / variant / f"seed{seed}.json"


def dump_cell(res: dict) -> str:
    """JSON with one line per sentence: small, and diffs in git show which sentence moved."""
    head = {k: v for k, v in res.items() if k != "scores"}
    body = ",\n".join(f'    {json.dumps(u)}: {json.dumps(s, separators=(", ", ": "))}'
                      for u, s in res["scores"].items())
    text = json.dumps(head, indent=2, ensure_ascii=False)
    return text[:-2] + ',\n  "scores": {\n' + body + "\n  }\n}\n"


def run_cell(cfg: Config, size: str, variant: str, seed: int, utts: list[str], minutes: float,
             data_dir: Path, dump_dir: Path, run_dir: Path, score_utts: int, asr: bool, nj: int,
             device: str = "cpu") -> dict:
    """Train one cell (resuming a cut-short run) on `device`, synthesise and score it."""
    import torch

    from mtts.evaluate import evaluate_checkpoint
    from mtts.train import train
    resume = any((run_dir / "checkpoints").glob("step_*.pt"))
    summary = train(cfg, data_dir, dump_dir, run_dir, resume=resume, utts=utts, device=device)
    if summary["stopped_by"] != "max_steps":   # interrupted: not a result; a rerun continues it
        raise MttsError(f"{run_dir} stopped by {summary['stopped_by']} at step {summary['step']} of "
                        f"{cfg.train.max_steps}: run the same `mtts ablate` again to continue")
    groups = ("acoustic", "asr") if asr else ("acoustic",)
    ev = evaluate_checkpoint(Path(summary["checkpoint"]), data_dir / "dev", run_dir / "eval", groups, nj,
                             score_utts, vocoder="griffin-lim")
    scores = {u: {k: _round(s[k], {"log_f0_rmse_cents": 2, "vuv_error": 4}.get(k, 3)) for k in SCORE_KEYS if k in s}
              for u, s in ev["per_utterance"].items()}
    return {"schema": SCHEMA, "variant": variant, "size": size, "seed": seed, "steps": cfg.train.max_steps,
            "data": {"train_utts": len(utts), "train_minutes": round(minutes, 2), "train_ids": _ids_hash(utts),
                     "score_ids": _ids_hash(list(scores))},
            "minutes": summary["minutes"], **summarize_run(run_dir),
            "vocoder": ev.get("vocoder"), "date": datetime.date.today().isoformat(), "mtts": __version__,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads"
                       + (f", trained on {summary['device']}" if summary.get("device", "cpu") != "cpu" else ""),
            "scores": scores}


# the study


def plan_grid(plan: Plan, seeds: list[int]) -> list[tuple[str, str, int]]:
    """Every (size, variant, seed) cell of the plan, in a fixed order."""
    return [(size, name, seed) for size in plan.sizes for name, v in plan.variants.items() if size in v.sizes
            for seed in seeds]


def job_share(job: int | None, njobs: int, job_index: int = 0, jobs: int = 1) -> tuple[int, int]:
    """(0-based index, count) of --job K --njobs N (K in 1..N), or of the older --job-index/--jobs."""
    if job is None and njobs == 1:
        return job_index, jobs
    if (job_index, jobs) != (0, 1):
        raise MttsError("give --job K --njobs N or the older --job-index/--jobs, not both")
    if job is None:
        raise MttsError(f"--njobs {njobs} needs --job K (the share to run, 1..{njobs})")
    if njobs < 1 or not 1 <= job <= njobs:
        raise MttsError(f"--job must be in 1..{njobs} (--njobs {njobs}), got {job}")
    return job - 1, njobs


def select_cells(grid: list, sizes: list[str] | None, only: list[str] | None, seeds: list[int] | None,
                 index: int = 0, jobs: int = 1) -> list[tuple[str, str, int]]:
    """The cells an invocation runs: those of the chosen sizes, variants and seeds, then every
    jobs-th from index, so N invocations with --jobs N split them without overlap, whatever
    is already finished (the split does not depend on what exists)."""
    if jobs < 1 or not 0 <= index < jobs:
        raise MttsError(f"--job-index must be in 0..{jobs - 1} (--jobs {jobs}), got {index}")
    return [c for c in grid if (not sizes or c[0] in sizes) and (not only or c[1] in only)
            and (not seeds or c[2] in seeds)][index::jobs]


def check_result(res: dict, path: Path, cell: tuple[str, str, int], expected: str, steps: int) -> None:
    size, variant, seed = cell
    if res.get("schema") != SCHEMA or (res.get("size"), res.get("variant"), res.get("seed")) != cell:
        raise MttsError(f"{path} is not the result of cell {size}/{variant}/seed{seed}")
    if res.get("steps") != steps:
        raise MttsError(f"{path} ran {res.get('steps')} steps, not {steps}: use the plan's steps or "
                        f"another --results directory")
    if res.get("config_hash") != expected:
        raise MttsError(f"{path} was made with another config or scoring (config hash {res.get('config_hash')}, "
                        f"this plan gives {expected}): use another --results directory")


def ablate(config: Path | None, plan_path: Path, data_dir: Path, dump_dir: Path, exp_dir: Path,
           results_dir: Path | None = None, report: Path | None = None, only: list[str] | None = None,
           sizes: list[str] | None = None, seeds: list[int] | None = None, job: tuple[int, int] = (0, 1),
           steps: int | None = None, score_utts: int | None = None, asr: bool = True, nj: int = 2,
           report_only: bool = False, command: str = "mtts ablate", note: str | None = None,
           device: str = "cpu") -> dict:
    base = load_config(config)
    plan = load_plan(plan_path)
    steps = steps if steps is not None else plan.steps
    score_utts = score_utts if score_utts is not None else plan.score_utts
    if steps < 1 or score_utts < 1:
        raise MttsError(f"--steps and --score-utts must be >= 1, got {steps} and {score_utts}")
    results_dir = results_dir or exp_dir / "results"
    report = report or exp_dir / "report.md"
    configs = variant_configs(base, plan, steps)
    all_seeds = plan.seed_list(base.train.seed)
    for what, chosen, known in (("--only", only, list(plan.variants)), ("--sizes", sizes, plan.sizes),
                                ("--seeds", seeds, all_seeds)):
        unknown = [str(x) for x in chosen or [] if x not in known]
        if unknown:
            raise MttsError(f"{what} names {', '.join(unknown)}, not in the plan ({', '.join(map(str, known))})")
    hashes = {(s, n): config_hash(configs[n], s, score_utts, asr) for s in plan.sizes for n in plan.variants}
    grid = plan_grid(plan, all_seeds)
    mine = select_cells(grid, sizes, only, seeds, *job)
    if asr and mine and not report_only:   # before hours of training, not after the first cell
        try:
            import jiwer  # noqa: F401
            import pocketsphinx  # noqa: F401
        except ImportError:
            raise MttsError("WER/CER need pocketsphinx and jiwer: pip install -e '.[eval]' (or pass --no-asr, "
                            "for MCD and F0 only)") from None
    if not report_only:   # a device that is not there, before anything else
        from mtts.distributed import resolve_device
        resolve_device(device)
    found = collect(results_dir, grid, hashes, steps)   # every result of the plan, checked before any training
    todo = [] if report_only else [c for c in mine if c not in found]
    if mine and not report_only:
        console.print(f"{len(mine) - len(todo)} of the {len(mine)} cells chosen are finished; {len(todo)} to run")
    subsets: dict[str, tuple[list[str], float]] = {}
    dev_ids = _ids_hash(score_ids(data_dir / "dev", score_utts)) if todo else ""
    feats = features_hash(dump_dir) if todo else ""
    for cell, res in found.items():
        if todo and res["data"].get("features") != feats:
            raise MttsError(f"{cell_path(results_dir, *cell)} was trained on features made with other "
                            f"settings than {dump_dir / 'feature_params.json'} (e.g. silence trimming): "
                            f"use another --results directory or the dump dir it was made from")
    for size in dict.fromkeys(c[0] for c in todo):   # new cells must pair with the finished ones
        subsets[size] = train_subset(data_dir / "train", size)
        data = {"train_ids": _ids_hash(subsets[size][0]), "score_ids": dev_ids}
        for cell, res in found.items():
            if cell[0] == size and {k: res["data"].get(k) for k in data} != data:
                raise MttsError(f"{cell_path(results_dir, *cell)} was trained or scored on other utterances "
                                f"than {data_dir} gives now")
    for i, (size, name, seed) in enumerate(todo):
        console.rule(f"[bold]ablation {size} {name} seed {seed} — cell {i + 1}/{len(todo)}")
        cfg = copy.deepcopy(configs[name])
        cfg.train.seed = seed
        res = run_cell(cfg, size, name, seed, *subsets[size], data_dir, dump_dir, exp_dir / size / name / f"seed{seed}",
                       score_utts, asr, nj, device)
        if res["data"]["score_ids"] != dev_ids:
            raise MttsError(f"{data_dir / 'dev'}: scored other sentences than its first {score_utts}")
        res["data"]["features"] = feats
        res.update(plan=plan.name, config_hash=hashes[size, name], command=command)
        write_text(cell_path(results_dir, size, name, seed), dump_cell(res))
    # one report at a time: jobs of an array finishing together must not replace a fuller report
    # with one collected before the other's last cell was written
    with waiting_lock(results_dir / ".report.lock"):
        found = collect(results_dir, grid, hashes, steps)
        info = {"command": command, "date": datetime.date.today().isoformat(), "steps": steps, "seeds": all_seeds,
                "score_utts": score_utts, "asr": asr, "note": note}
        write_report(report, plan, found, grid, info)
    missing = len(grid) - len(found)
    console.print(f"report: {report} ({len(found)} of {len(grid)} cells; {missing} missing)")
    return {"trained": len(todo), "cells": len(grid), "found": len(found), "missing": missing, "report": str(report)}


def collect(results_dir: Path, grid: list, hashes: dict, steps: int) -> dict[tuple[str, str, int], dict]:
    """Every finished cell of the plan, checked to be of this plan; per size, all cells must
    have trained on the same utterances and been scored on the same sentences."""
    found = {}
    for cell in grid:
        path = cell_path(results_dir, *cell)
        if path.is_file():
            res = read_json(path)
            check_result(res, path, cell, hashes[cell[0], cell[1]], steps)
            found[cell] = res
    feats = {r["data"].get("features") for r in found.values()}
    if len(feats) > 1:
        raise MttsError(f"{results_dir}: the results were made on features prepared with different settings "
                        f"({', '.join(sorted(map(str, feats)))}); they cannot be compared")
    for size in {c[0] for c in found}:
        for key in ("train_ids", "score_ids"):
            seen = {r["data"][key] for c, r in found.items() if c[0] == size}
            if len(seen) > 1:
                raise MttsError(f"{results_dir / size}: the results were made on different utterances "
                                f"({key}: {', '.join(sorted(seen))}); they cannot be paired")
    return found


# statistics and report


def _runs(found: dict, size: str, name: str, seeds: list[int]) -> list[dict]:
    return [found[size, name, s]["scores"] for s in seeds]


def _seeds(found: dict, size: str, name: str) -> list[int]:
    return sorted(s for (z, n, s) in found if z == size and n == name)


def analyse(plan: Plan, found: dict) -> dict:
    """Per size: each variant's metrics with intervals, and each comparison's paired
    differences with Holm-adjusted p and verdicts (one Holm family for the whole report);
    gains over the baseline at every size for the plot."""
    out: dict = {"sizes": {}, "gains": {}}
    tests = []
    for size in plan.sizes:
        block = {"variants": {}, "comparisons": []}
        for name in plan.variants:
            seeds = _seeds(found, size, name)
            if not seeds:
                continue
            runs = _runs(found, size, name, seeds)
            block["variants"][name] = {"seeds": len(seeds), "metrics": {}}
            for m in S.METRICS:
                sents = S.usable_sentences(runs, m)
                if sents:
                    block["variants"][name]["metrics"][m] = S.interval(S.cells(runs, sents, m))
        for name, v in plan.variants.items():
            if v.compare_to is None or name not in block["variants"] or v.compare_to not in block["variants"]:
                continue
            comp = {"variant": name, "ref": v.compare_to, "metrics": {}}
            comp["metrics"] = _compare(found, size, v.compare_to, name)
            tests += [r for r in comp["metrics"].values() if r["seeds"] >= S.MIN_SEEDS and math.isfinite(r["p"])]
            block["comparisons"].append(comp)
        out["sizes"][size] = block
    for row, adj in zip(tests, S.holm([t["p"] for t in tests])):
        row["p_holm"] = adj
    for size, block in out["sizes"].items():
        for comp in block["comparisons"]:
            for row in comp["metrics"].values():
                row["verdict"] = S.verdict(row["diff"], row.get("p_holm"), row["seeds"])
    out["family"] = len(tests)
    for name in plan.variants:   # gain over the baseline against data size (descriptive: no verdict)
        if name == plan.baseline:
            continue
        pts = {size: _compare(found, size, plan.baseline, name) for size in plan.sizes
               if name in out["sizes"][size]["variants"] and plan.baseline in out["sizes"][size]["variants"]}
        pts = {s: d for s, d in pts.items() if d and next(iter(d.values()))["seeds"] >= S.MIN_SEEDS}
        if len(pts) >= 2:
            out["gains"][name] = pts
    return out


def _compare(found: dict, size: str, ref: str, name: str) -> dict:
    seeds = sorted(set(_seeds(found, size, ref)) & set(_seeds(found, size, name)))   # paired by seed
    if not seeds:
        return {}
    ra, rb = _runs(found, size, ref, seeds), _runs(found, size, name, seeds)
    rows = {}
    for m in S.METRICS:
        sents = S.usable_sentences(ra + rb, m)
        if sents:
            rows[m] = S.difference(S.cells(ra, sents, m), S.cells(rb, sents, m))
    return rows


def _value(m: str, v: float) -> str:
    if m in ("wer", "cer"):
        return f"{100 * v:.1f} %"
    return f"{v:.2f} dB" if m == "mcd_db" else f"{v:.0f} cents"


def _diff(m: str, v: float) -> str:
    if m in ("wer", "cer"):
        return f"{100 * v:+.1f} points"
    return f"{v:+.2f} dB" if m == "mcd_db" else f"{v:+.1f} cents"


def _num(m: str, v: float, sign: str = "+") -> str:
    """A bare number in the metric's unit (WER/CER in points); a difference (sign "+") of
    cents gets a decimal more than a value."""
    if m in ("wer", "cer"):
        return f"{100 * v:{sign}.1f}"
    return f"{v:{sign}.2f}" if m == "mcd_db" else (f"{v:{sign}.1f}" if sign else f"{v:.0f}")


def _p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _x(size: str, found: dict) -> float:
    """Minutes of a size on the plot's axis: the full set's from its results."""
    m = size_minutes(size)
    if m is not None:
        return m
    mins = [r["data"]["train_minutes"] for (z, _, _), r in found.items() if z == FULL]
    return statistics.fmean(mins) if mins else float("nan")


def gain_plot(path: Path, plan: Plan, stats: dict, found: dict) -> bool:
    """Each variant's paired difference from the baseline against training minutes, with
    its 95 % interval, one panel per metric. False when nothing reaches two sizes."""
    if not stats["gains"]:
        return False
    from mtts.evaluate.plots import plt, save_figure
    metrics = [m for m in S.METRICS if any(m in d for pts in stats["gains"].values() for d in pts.values())]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(7, 2.4 * len(metrics)), squeeze=False,
                             constrained_layout=True)
    names = list(stats["gains"])
    for ax, m in zip(axes[:, 0], metrics):
        for i, name in enumerate(names):
            pts = sorted((_x(s, found), d[m]) for s, d in stats["gains"][name].items() if m in d)
            if not pts:
                continue
            xs = [x * (1 + 0.03 * (i - (len(names) - 1) / 2)) for x, _ in pts]   # side by side, not on top
            scale = 100.0 if m in ("wer", "cer") else 1.0
            ys = [scale * r["diff"] for _, r in pts]
            err = [[scale * (r["diff"] - r["low"]) for _, r in pts], [scale * (r["high"] - r["diff"]) for _, r in pts]]
            ax.errorbar(xs, ys, yerr=err, marker="o", ms=4, capsize=3, label=name, color=plt.cm.tab10(i % 10))
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xscale("log")
        unit = {"wer": "points", "cer": "points", "mcd_db": "dB", "log_f0_rmse_cents": "cents"}[m]
        ax.set_ylabel(f"Δ {LABELS[m]} ({unit})")
    ticks = sorted({_x(s, found) for pts in stats["gains"].values() for s in pts})
    axes[-1, 0].set_xticks(ticks, [f"{t:.0f}" for t in ticks])
    axes[-1, 0].set_xlabel(f"training audio (minutes); below 0: better than {plan.baseline}")
    axes[0, 0].legend(fontsize="small")
    save_figure(fig, path)
    return True


METHOD = """\
## Method

Every cell of the study is one training run: a variant (a config), a training-data size and a
seed, trained for the same number of steps as every other cell. After training, the model
speaks the first {score_utts} dev sentences, never trained on, **from text alone**: predicted
durations, pitch and energy, nothing taken from the recordings, then Griffin-Lim (32
iterations, phases seeded by the sentence, the same for every variant). Each sentence is scored
against its dev recording: MCD with DTW (dB), log-F0 RMSE on frames voiced in both (cents;
undefined, and left out, where no frame is), and pocketsphinx word and character errors
(`mtts/evaluate/metrics.py`). WER and CER are corpus rates: errors summed over reference
words (characters) summed. Lower is better for all four.

Seeds are paired: every variant runs the same seeds, so seed k of a variant is compared with
seed k of the variant it is judged against, on the same sentences. For each comparison and
metric (`mtts/evaluate/stats.py`):

- **Difference and interval**: the variant minus its reference over all (seed, sentence) cells,
  with a 95 % percentile bootstrap interval. Each of 10,000 resamples draws the seeds and the
  sentences with replacement, independently, and takes every (drawn seed, drawn sentence)
  cell, the same cells for both variants (corpus rates are recomputed from the resampled
  error and word counts).
- **p-value**: the larger of the bootstrap's two-sided p (twice the smaller share of resampled
  differences on either side of 0) and a paired t-test of the per-seed differences. With a
  handful of seeds, resampling them cannot reach beyond the seeds seen: where a seed moves a
  whole model as much as the sentences scatter, the bootstrap alone calls about one in five
  differences that is not there (22 % at the 5 % level in a simulation with 3 seeds and 50
  sentences; `tests/test_stats.py` checks it); the t-test holds its level there, and the
  bootstrap covers the choice of sentences.
- **Holm's correction** over every comparison × metric of this report that has enough seeds
  (the family: {family} tests), so the chance of any false verdict in the report stays below 5 %.
- **Verdict**: *better* or *worse* where the Holm-adjusted p is below 0.05, otherwise
  *inconclusive*: no evidence either way, which is not the same as "did not help". A
  comparison with fewer than {min_seeds} paired seeds gets no verdict (*too few seeds*).
  Intervals are not adjusted, so one can leave out 0 while the verdict is inconclusive.

Training-data sizes are nested subsets of the train split, taken in a fixed hash order of
utterance ids until their recorded durations add up to the size: the same for every variant
and seed, and 10 min ⊂ 30 min ⊂ 60 min. Dev sentences are the same at every size.

The teacher-forced dev losses of training are listed as **diagnostics only**: the decoder is
fed the true F0 and energy there when pitch and energy are tasks, so their mel loss is told
part of the answer. An earlier version of this report judged the variants on that loss, with
two seeds and a rule that was not a test ("the means differ by more than both standard
deviations"); its results are withdrawn.
"""


def render_report(plan: Plan, found: dict, grid: list, info: dict, stats: dict, plot: Path | None,
                  base_dir: Path) -> str:
    machines = sorted({r["machine"] for r in found.values() if r.get("machine")})
    dates = sorted({r["date"] for r in found.values() if r.get("date")})
    lines = ["# Ablation: single-task baseline against multi-task variants", "",
             f"Command: `{info['command']}`", "",
             f"Plan `{plan.name}`: {info['steps']} training steps per cell, seeds "
             f"{', '.join(map(str, info['seeds']))}, sizes {', '.join(plan.sizes)}, baseline `{plan.baseline}`; "
             f"scored on {info['score_utts']} dev sentences"
             + ("" if info["asr"] else " without ASR (no WER/CER)") + f". {len(found)} of {len(grid)} cells "
             f"finished" + (f" ({'; '.join(dates + machines)})" if dates or machines else "") + ".", "",
             *([info["note"], ""] if info.get("note") else []),
             METHOD.format(score_utts=info["score_utts"], family=stats["family"], min_seeds=S.MIN_SEEDS)]
    metrics = list(S.METRICS)
    if not found:
        lines += ["## Results", "", "No cell has finished yet: there are no results to report.", ""]
    for size, block in stats["sizes"].items():
        if not block["variants"]:
            continue
        lines += [f"## {size}" + (" of training audio" if size != FULL else " (the whole train split)"), "",
                  "Free-running synthesis of the dev sentences: value over all seeds and sentences "
                  "(95 % interval over both).", "",
                  "| variant | seeds | " + " | ".join(LABELS[m] for m in metrics) + " |",
                  "|---|---|" + "---|" * len(metrics)]
        for name, v in block["variants"].items():
            cells = [(f"{_value(m, r['value'])} ({_num(m, r['low'], '')}–{_num(m, r['high'], '')})"
                      if (r := v["metrics"].get(m)) else "–") for m in metrics]
            lines.append(f"| {name} | {v['seeds']} | " + " | ".join(cells) + " |")
        if block["comparisons"]:
            lines += ["", "Verdicts (difference: variant minus reference; below 0 is better; p: bootstrap and "
                      "seed t-test, the larger Holm-adjusted):", "",
                      "| comparison | metric | difference (95 % CI) | per seed | p bootstrap | p seeds | Holm p "
                      "| verdict |", "|---|---|---|---|---|---|---|---|"]
            for comp in block["comparisons"]:
                for m, r in comp["metrics"].items():
                    lines.append(
                        f"| `{comp['variant']}` vs `{comp['ref']}` | {LABELS[m]} | {_diff(m, r['diff'])} "
                        f"({_num(m, r['low'])} to {_num(m, r['high'])}) | "
                        f"{', '.join(_num(m, x) for x in r['per_seed'])} | {_p(r['p_bootstrap'])} | "
                        f"{_p(r['p_seeds'])} | {_p(r.get('p_holm'))} | **{r['verdict']}** |")
        lines += ["", "Diagnostics, teacher-forced on the dev recordings (not verdicts): final dev mel L1; the "
                  "train-vs-dev gap of the mel loss (dev minus train at the end: above 0 is overfitting); "
                  "median seconds per training step and training minutes (comparable between cells run on "
                  "the same machine only). Means over seeds.", "",
                  "| variant | dev mel L1 | train mel loss | dev mel loss | gap | s / step | minutes |",
                  "|---|---|---|---|---|---|---|"]
        for name in block["variants"]:
            rs = [found[size, name, s] for s in _seeds(found, size, name)]

            def mean(get):
                vals = [x for r in rs if (x := get(r)) is not None]
                return f"{statistics.fmean(vals):.3f}" if vals else "–"
            lines.append(f"| {name} | {mean(lambda r: r['teacher_forced_dev'].get('mel_l1'))} | "
                         f"{mean(lambda r: r.get('train_loss_mel'))} | {mean(lambda r: r.get('dev_loss_mel'))} | "
                         f"{mean(lambda r: r.get('gap_mel'))} | {mean(lambda r: r.get('s_per_step'))} | "
                         f"{mean(lambda r: r.get('minutes'))} |")
        lines.append("")
    if plot is not None:
        lines += ["## Gain over the baseline against training-data size", "",
                  f"Each variant run at two sizes or more minus `{plan.baseline}`, paired by seed, with 95 % "
                  f"intervals (at least {S.MIN_SEEDS} seeds per point; descriptive, no verdict):", "",
                  f"![gain_vs_size]({os.path.relpath(plot, base_dir)})", ""]
    lines += _summary(stats, plan)
    lines += _missing(plan, found, grid)
    def flow(d: dict) -> str:
        return yaml.safe_dump(d, default_flow_style=True, width=10**6).strip()
    lines += ["## Variants", "", f"Shared overrides: `{flow(plan.base)}`", ""]
    for name, v in plan.variants.items():
        against = f"judged against `{v.compare_to}`" if v.compare_to else "the baseline"
        about = f" {v.about}" if v.about else ""
        lines.append(f"- `{name}` ({against}; {', '.join(v.sizes)}):{about} `{flow(v.overrides)}`")
    return "\n".join(lines) + "\n"


def _summary(stats: dict, plan: Plan) -> list[str]:
    """Every comparison under one heading, from its verdicts over the metrics."""
    groups: dict[str, list[str]] = {"helped": [], "hurt": [], "mixed": [], "inconclusive": [], "too few seeds": []}
    for size, block in stats["sizes"].items():
        for comp in block["comparisons"]:
            v = {m: r["verdict"] for m, r in comp["metrics"].items()}
            better = [LABELS[m] for m, x in v.items() if x == "better"]
            worse = [LABELS[m] for m, x in v.items() if x == "worse"]
            what = f"`{comp['variant']}` vs `{comp['ref']}` at {size}"
            if better and worse:
                groups["mixed"].append(f"{what}: better {', '.join(better)}; worse {', '.join(worse)}")
            elif better:
                groups["helped"].append(f"{what}: {', '.join(better)}")
            elif worse:
                groups["hurt"].append(f"{what}: {', '.join(worse)}")
            elif all(x == "too few seeds" for x in v.values()):
                groups["too few seeds"].append(what)
            else:
                groups["inconclusive"].append(what)
    lines = ["## Where MTL helped, hurt or was inconclusive", "",
             "From the verdicts above (each comparison against its reference; the metrics named are those "
             "with a verdict).", ""]
    for title, items in groups.items():
        lines.append(f"- **{title}**: " + ("; ".join(items) if items else "none"))
    return lines + [""]


def _missing(plan: Plan, found: dict, grid: list) -> list[str]:
    todo: dict[tuple[str, str], list[int]] = {}
    for cell in grid:
        if cell not in found:
            todo.setdefault(cell[:2], []).append(cell[2])
    if not todo:
        return ["## Missing cells", "", "None: every cell of the plan has a result.", ""]
    lines = ["## Missing cells", "", f"{sum(map(len, todo.values()))} of {len(grid)} cells have no result yet "
             "(run them with `--sizes`, `--only`, `--seeds` or `--job`/`--njobs`):", "",
             "| size | variant | seeds missing |", "|---|---|---|"]
    for (size, name), seeds in todo.items():
        lines.append(f"| {size} | {name} | {', '.join(map(str, seeds))} |")
    return lines + [""]


def write_report(report: Path, plan: Plan, found: dict, grid: list, info: dict) -> None:
    stats = analyse(plan, found)
    plot = report.parent / f"{report.stem}_plots" / "gain_vs_size.png"
    if not gain_plot(plot, plan, stats, found):
        plot.unlink(missing_ok=True)   # an old plot of other results must not stay beside this report
        plot = None
    write_text(report, render_report(plan, found, grid, info, stats, plot, report.parent))
