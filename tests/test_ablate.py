"""`mtts ablate`: plan parsing, nested data sizes, cells and job slices, the report built from
result files alone (known verdicts), and real runs in pieces through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from mtts.ablate import (
    cell_path,
    config_hash,
    dump_cell,
    job_share,
    load_plan,
    merge,
    plan_grid,
    select_cells,
    train_subset,
    variant_configs,
)
from mtts.cli import app
from mtts.config import Config, load_yaml_config
from mtts.errors import MttsError
from mtts.validate import config_from_dict

from conftest import TINY

runner = CliRunner()
TASKS = {"alignment": {}, "duration": {}, "mel": {}}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_merge_is_deep_but_replaces_the_task_set():
    base = {"train": {"lr": 1.0, "seed": 1}, "tasks": {"mel": {}, "pitch": {}}}
    out = merge(base, {"train": {"lr": 2.0}, "tasks": {"mel": {"weight": 3}}})
    assert out == {"train": {"lr": 2.0, "seed": 1}, "tasks": {"mel": {"weight": 3}}}
    assert base["train"]["lr"] == 1.0   # inputs untouched


@pytest.mark.parametrize("text, match", [
    ("variants: {}", "must map names"),
    ("foo: 1\nvariants: {a: {}}", "unknown key.*foo"),
    ("variants: {a: {}, b: {compare_to: zz}}", "unknown variant 'zz'"),
    ("variants: {'a b': {}}", "variant name"),
    ("variants: [", "not valid YAML"),
    ("sizes: [10]\nvariants: {a: {}, b: {sizes: [30]}}", "not among the plan's sizes"),
    ("sizes: [10, 30]\nvariants: {a: {sizes: [30]}, b: {}}", "runs at 10min where 'a'"),
    ("variants: {a: {compare_to: b}, b: {}}", "baseline 'a' is compared to nothing"),
    ("sizes: [ten]\nvariants: {a: {}}", "minutes of training audio or 'full'"),
    ("seeds: [1, 1]\nvariants: {a: {}}", "distinct integers"),
    ("steps: 0\nvariants: {a: {}}", "'steps' must be a positive integer"),
    ("variants: {a: [1]}", "must be mappings"),
])
def test_bad_plans_are_one_line_errors(tmp_path, text, match):
    (tmp_path / "p.yaml").write_text(text)
    with pytest.raises(MttsError, match=match):
        load_plan(tmp_path / "p.yaml")


def test_plan_defaults_and_the_grid(tmp_path):
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({
        "sizes": [10, 30, "full"], "seeds": 2, "baseline": "b",
        "variants": {"a": {"sizes": [30], "about": "x", "model": {"dropout": 0.1}}, "b": {},
                     "c": {"compare_to": "a", "sizes": [30]}}}))
    plan = load_plan(tmp_path / "p.yaml")
    assert plan.sizes == ["10min", "30min", "full"] and plan.steps == 400 and plan.score_utts == 50
    assert [(n, v.compare_to, v.sizes) for n, v in plan.variants.items()] == [
        ("a", "b", ["30min"]), ("b", None, ["10min", "30min", "full"]), ("c", "a", ["30min"])]
    assert plan.variants["a"].overrides == {"model": {"dropout": 0.1}} and plan.variants["a"].about == "x"
    grid = plan_grid(plan, plan.seed_list(7))
    assert grid == [("10min", "b", 7), ("10min", "b", 8), ("30min", "a", 7), ("30min", "a", 8), ("30min", "b", 7),
                    ("30min", "b", 8), ("30min", "c", 7), ("30min", "c", 8), ("full", "b", 7), ("full", "b", 8)]
    # three jobs share the grid without overlap or gap; filters come first
    parts = [select_cells(grid, None, None, None, i, 3) for i in range(3)]
    assert sorted(c for p in parts for c in p) == sorted(grid) and sum(map(len, parts)) == len(grid)
    assert select_cells(grid, ["30min"], ["a", "c"], [8]) == [("30min", "a", 8), ("30min", "c", 8)]
    with pytest.raises(MttsError, match="--job-index must be in 0..2"):
        select_cells(grid, None, None, None, 3, 3)
    # --job K --njobs N (1-based, as an array's task ids) is the older --job-index K-1 --jobs N
    assert [select_cells(grid, None, None, None, *job_share(k, 3)) for k in (1, 2, 3)] == parts
    assert job_share(None, 1, 2, 3) == (2, 3)
    for args, needle in (((4, 3), "--job must be in 1..3"), ((None, 3), "--njobs 3 needs --job K"),
                         ((1, 3, 0, 2), "not both")):
        with pytest.raises(MttsError, match=needle):
            job_share(*args)


def test_the_mini_study_plan_holds_every_variant_the_study_asks_for():
    # the shipped plan: every config valid, the tuned baseline, the three auxiliary tasks, two
    # weighting methods and the character-input pair, each judged against the variant it must beat
    root = Path(__file__).resolve().parents[1] / "recipes/mini/conf"
    plan = load_plan(root / "ablate.yaml")
    cfgs = variant_configs(load_yaml_config(root / "train.yaml", Config), plan, plan.steps)
    refs = {n: v.compare_to or plan.baseline for n, v in plan.variants.items() if n != plan.baseline}
    assert refs == {"single_nodrop": "single", "pitch_energy": "single", "recognition": "single",
                    "g2p": "single", "all_static": "single", "all_uncertainty": "all_static",
                    "all_upgrad": "all_static", "chars_single": "single", "chars_g2p": "chars_single"}
    assert plan.seeds >= 3 and plan.sizes == ["10min", "30min", "60min", "full"]
    assert cfgs["chars_g2p"].data.input == "chars" and "g2p" in cfgs["chars_g2p"].tasks
    assert cfgs["chars_single"].data.input == "chars" and "g2p" not in cfgs["chars_single"].tasks
    assert cfgs["single"].data.input != "chars" and cfgs["all_upgrad"].mtl.method == "upgrad"


def fake_train_dir(path, n=300, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"utt{i:04d}" for i in range(n)]
    path.mkdir(parents=True)
    (path / "utt2dur").write_text("".join(f"{u} {d:.3f}\n" for u, d in zip(ids, rng.uniform(1, 10, n))))
    (path / "phones").write_text("".join(f"{u} a b\n" for u in ids if u != "utt0007"))   # one not tokenized
    (path / "feats.scp").write_text("".join(f"{u} x.npz\n" for u in ids))
    return {u: float(d) for u, d in (line.split() for line in (path / "utt2dur").read_text().splitlines())}


def test_training_sizes_are_nested_and_add_up_to_their_minutes(tmp_path):
    durs = fake_train_dir(tmp_path / "train")
    subsets = {m: train_subset(tmp_path / "train", f"{m}min") for m in (2, 5, 10, 20)}
    for (a, (sa, ma)), (b, (sb, mb)) in zip(list(subsets.items()), list(subsets.items())[1:]):
        assert set(sa) < set(sb)                                   # 2 min ⊂ 5 min ⊂ 10 min ⊂ 20 min
    for m, (ids, minutes) in subsets.items():
        assert minutes == pytest.approx(sum(durs[u] for u in ids) / 60)
        assert m <= minutes < m + 10 / 60                          # at most one utterance past the size
        assert ids == sorted(ids) and "utt0007" not in ids
        assert ids != sorted(durs)[:len(ids)]                      # spread over the corpus, not its start
    full, minutes = train_subset(tmp_path / "train", "full")
    assert len(full) == 299 and minutes == pytest.approx((sum(durs.values()) - durs["utt0007"]) / 60)
    # the order belongs to the ids: another corpus holding the same utterances and more agrees on them
    fake_train_dir(tmp_path / "more", n=400)
    assert set(train_subset(tmp_path / "more", "5min")[0]) <= set(train_subset(tmp_path / "more", "20min")[0])
    with pytest.raises(MttsError, match="less than the 999min"):
        train_subset(tmp_path / "train", "999min")


# the report, from result files alone

SYN_PLAN = {"steps": 40, "seeds": 3, "sizes": [10, "full"], "score_utts": 20,
            "variants": {"base": {"tasks": TASKS}, "same": {"tasks": TASKS, "model": {"dropout": 0.0}},
                         "gain": {"tasks": TASKS, "model": {"dropout": 0.2}},
                         "later": {"tasks": TASKS, "sizes": ["full"], "compare_to": "same"}}}


def scores(rng_seed: int, shift: float) -> dict:
    """Per-sentence scores; `shift` < 0 plants a gain (lower MCD and F0 error, fewer errors)."""
    rng = np.random.default_rng(rng_seed)
    out = {}
    for u in range(20):
        words = int(rng.integers(5, 15))
        errs = int(rng.integers(1, 5))
        if shift < 0:
            errs = int(round(errs * 0.3))
        out[f"dev{u:02d}"] = {"mcd_db": round(float(rng.normal(8, 1) + shift), 3),
                              "log_f0_rmse_cents": round(float(rng.normal(300, 30) + 40 * shift), 3),
                              "vuv_error": 0.1, "word_errors": errs, "words": words,
                              "char_errors": 3 * errs, "chars": 5 * words}
    return out


def write_results(root, plan_path, cfg_path, cells):
    plan = load_plan(plan_path)
    cfgs = variant_configs(config_from_dict(yaml.safe_load(cfg_path.read_text())), plan, plan.steps)
    for (size, name, seed), sc in cells.items():
        res = {"schema": "mtts-ablate-cell/1", "variant": name, "size": size, "seed": seed, "steps": plan.steps,
               "data": {"train_utts": 10, "train_minutes": 10.2 if size == "10min" else 95.0, "train_ids": "t" + size,
                        "score_ids": "s"},
               "minutes": 1.0, "teacher_forced_dev": {"mel_l1": 0.5}, "s_per_step": 0.2, "train_loss_mel": 0.4,
               "dev_loss_mel": 0.5, "gap_mel": 0.1, "plan": plan.name,
               "config_hash": config_hash(cfgs[name], size, plan.score_utts, True), "scores": sc}
        path = cell_path(root, size, name, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump_cell(res))


def test_the_report_gives_known_verdicts_and_lists_missing_cells(tmp_path):
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(SYN_PLAN, sort_keys=False))
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    cells = {}
    for size in ("10min", "full"):
        for k, seed in enumerate((1234, 1235, 1236)):
            base = scores(100 * k + (size == "full"), 0.0)
            cells[size, "base", seed] = base
            cells[size, "same", seed] = base                                   # identical to the baseline
            if size == "10min" or seed != 1236:                                # full: two seeds only
                cells[size, "gain", seed] = scores(100 * k + (size == "full"), -1.0)
    write_results(tmp_path / "results", tmp_path / "plan.yaml", tmp_path / "base.yaml", cells)
    doc = tmp_path / "docs" / "ablation.md"
    args = ["ablate", "-p", tmp_path / "plan.yaml", "-c", tmp_path / "base.yaml", "--results", tmp_path / "results",
            "--report", doc, "--data-dir", tmp_path / "nowhere"]
    res = invoke(*args, "--report-only")
    assert res.exit_code == 0, res.output
    text = doc.read_text()
    sections = {part.split("\n")[0].split()[0]: part for part in text.split("\n## ")[1:]}

    def verdicts(size, comparison):
        return [l.split("**")[-2] for l in sections[size].splitlines() if l.startswith(f"| {comparison} |")]
    assert verdicts("10min", "`gain` vs `base`") == ["better"] * 4
    assert verdicts("10min", "`same` vs `base`") == verdicts("full", "`same` vs `base`") == ["inconclusive"] * 4
    assert verdicts("full", "`gain` vs `base`") == ["too few seeds"] * 4
    assert "family: 12 tests" in text and "Did not help" not in text
    assert "- **helped**: `gain` vs `base` at 10min: WER, CER, MCD, log-F0 RMSE" in text
    assert "`same` vs `base` at 10min; `same` vs `base` at full" in text
    assert "| full | gain | 1236 |" in text and "| full | later | 1234, 1235, 1236 |" in text
    assert "4 of 21 cells have no result yet" in text and "--report-only" in text
    assert "](ablation_plots/gain_vs_size.png)" in text
    assert (tmp_path / "docs" / "ablation_plots" / "gain_vs_size.png").stat().st_size > 1000
    # the result file is small JSON, one line per sentence
    path = cell_path(tmp_path / "results", "10min", "gain", 1234)
    assert json.loads(path.read_text())["scores"]["dev03"]["words"] > 0 and path.stat().st_size < 4000
    assert sum(l.lstrip().startswith(('"dev0', '"dev1')) for l in path.read_text().splitlines()) == 20
    # a result of another config or step count is refused, never mixed in
    assert invoke(*args, "--report-only", "--steps", "41").output.count("ran 40 steps, not 41") == 1
    res = invoke(*args, "--report-only", "--no-asr")
    assert res.exit_code == 1 and "another config or scoring" in res.output


# real runs

PLAN = {"steps": 6, "seeds": 2, "score_utts": 2, "sizes": [0.1, "full"], "base": {"model": {"d_model": 32}},
        "variants": {"single": {"tasks": TASKS},
                     "pitch": {"tasks": {**TASKS, "pitch": {"weight": 0.1}}, "sizes": ["full"]}}}


@pytest.fixture(scope="module")
def prepared(espeak_corpus, tmp_path_factory):
    work = tmp_path_factory.mktemp("ablate")
    for args in (["prepare", espeak_corpus, "--data-dir", work / "data", "--dump-dir", work / "dump"],
                 ["tokenize", "--data-dir", work / "data", "--dump-dir", work / "dump"]):
        res = invoke(*args)
        assert res.exit_code == 0, res.output
    (work / "base.yaml").write_text(yaml.safe_dump(TINY))
    return work


def test_ablate_runs_in_pieces_and_rebuilds_the_report(prepared, tmp_path):
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(PLAN, sort_keys=False))
    args = ["ablate", "-p", tmp_path / "plan.yaml", "-c", prepared / "base.yaml", "--data-dir", prepared / "data",
            "--dump-dir", prepared / "dump", "--exp-dir", tmp_path / "abl", "--results", tmp_path / "results",
            "--report", tmp_path / "docs" / "ablation.md", "--no-asr", "--nj", "1"]
    res = invoke(*args, "--job-index", 0, "--jobs", 2)
    assert res.exit_code == 0, res.output
    first = sorted(p.relative_to(tmp_path / "results").as_posix() for p in (tmp_path / "results").rglob("*.json"))
    assert first == ["0.1min/single/seed1234.json", "full/pitch/seed1234.json", "full/single/seed1234.json"]
    assert "3 of 6 cells have no result yet" in (tmp_path / "docs" / "ablation.md").read_text()
    res = invoke(*args, "--job", 2, "--njobs", 2)    # the array-job spelling of --job-index 1 --jobs 2
    assert res.exit_code == 0, res.output
    small = json.loads((tmp_path / "results" / "0.1min" / "single" / "seed1235.json").read_text())
    full = json.loads((tmp_path / "results" / "full" / "single" / "seed1235.json").read_text())
    assert small["data"]["train_utts"] < full["data"]["train_utts"] and small["data"]["train_minutes"] >= 0.1
    assert re.search(rf"; {small['data']['train_utts']}\s+train utterances", res.output)   # what training used
    assert small["steps"] == 6 and small["config_hash"] != full["config_hash"]
    assert len(full["scores"]) == 2 and all(s["mcd_db"] > 0 and "word_errors" not in s
                                            for s in full["scores"].values())
    assert full["gap_mel"] == pytest.approx(full["dev_loss_mel"] - full["train_loss_mel"], abs=1e-4)
    assert full["s_per_step"] > 0 and "mel_l1" in full["teacher_forced_dev"]
    # each cell is a normal training run with its variant, seed, step count and data size
    cfg = yaml.safe_load((tmp_path / "abl" / "full" / "pitch" / "seed1235" / "config.yaml").read_text())
    assert set(cfg["tasks"]) == {"alignment", "duration", "pitch", "mel"} and cfg["model"]["d_model"] == 32
    assert cfg["train"]["max_steps"] == 6 and cfg["train"]["seed"] == 1235
    report = (tmp_path / "docs" / "ablation.md").read_text()
    assert "None: every cell of the plan has a result." in report and "too few seeds" in report
    assert "| single | 2 |" in report and "--job 2 --njobs 2" in report
    # the same seed's scores differ between variants, the same variant's between seeds
    pitch = json.loads((tmp_path / "results" / "full" / "pitch" / "seed1235.json").read_text())
    assert pitch["scores"] != full["scores"] != small["scores"]
    # a rerun trains nothing; another step count is refused; unknown names are one-line errors
    stamp = (tmp_path / "results" / "full" / "single" / "seed1234.json").stat().st_mtime_ns
    res = invoke(*args)
    assert res.exit_code == 0 and "ablation " not in res.output
    assert (tmp_path / "results" / "full" / "single" / "seed1234.json").stat().st_mtime_ns == stamp
    res = invoke(*args, "--steps", 7)
    assert res.exit_code == 1 and "ran 6 steps, not 7" in res.output
    res = invoke(*args, "--only", "nope")
    assert res.exit_code == 1 and "--only names nope" in res.output
    res = invoke(*args, "--seeds", "99")
    assert res.exit_code == 1 and "--seeds names 99" in res.output
    res = invoke(*args, "--only", "single", "--sizes", "full", "--device", "gpu")
    assert res.exit_code == 1 and "--device must be one of" in res.output
    if not torch.cuda.is_available():   # refused before any cell, not after the first
        res = invoke(*args, "--device", "cuda")
        assert res.exit_code == 1 and "sees no CUDA GPU" in res.output
    # results of other utterances are refused
    path = tmp_path / "results" / "full" / "pitch" / "seed1235.json"
    path.write_text(path.read_text().replace(pitch["data"]["train_ids"], "0" * 16))
    res = invoke(*args)
    assert res.exit_code == 1 and "different utterances" in res.output and "cannot be paired" in res.output
    path.write_text(path.read_text().replace("0" * 16, pitch["data"]["train_ids"]))
    # ... and so are finished cells of other utterances than the data gives now, before a new cell is trained
    saved = {p: p.read_text() for p in (tmp_path / "results" / "full").rglob("*.json")}
    for p, text in saved.items():
        p.write_text(text.replace(pitch["data"]["train_ids"], "0" * 16))
    (tmp_path / "results" / "full" / "single" / "seed1234.json").unlink()
    res = invoke(*args)
    assert res.exit_code == 1 and "other utterances than" in res.output and "ablation full" not in res.output
    for p, text in saved.items():
        p.write_text(text)
    # ... and so are results on features prepared otherwise (e.g. untrimmed): mixed, or against the dump dir
    assert pitch["data"]["features"] == full["data"]["features"] and len(pitch["data"]["features"]) == 16
    path.write_text(path.read_text().replace(pitch["data"]["features"], "0" * 16))
    res = invoke(*args, "--report-only")
    assert res.exit_code == 1 and "features prepared with different settings" in res.output
    saved = {p: p.read_text() for p in (tmp_path / "results").rglob("*.json")}
    for p, text in saved.items():
        p.write_text(text.replace(pitch["data"]["features"], "0" * 16))
    (tmp_path / "results" / "full" / "single" / "seed1234.json").unlink()
    res = invoke(*args)
    assert res.exit_code == 1 and "features made with other settings" in res.output
    assert "ablation full" not in res.output
    for p, text in saved.items():
        p.write_text(text.replace("0" * 16, pitch["data"]["features"]))
    # scoring again gives the stored scores: Griffin-Lim's phases are seeded by the sentence
    from mtts.evaluate import evaluate_checkpoint
    ck = next((tmp_path / "abl" / "full" / "single" / "seed1235" / "checkpoints").glob("step_*.pt"))
    for k in (1, 2):
        again = evaluate_checkpoint(ck, prepared / "data" / "dev", tmp_path / f"eval{k}", ("acoustic",), 1, 2,
                                    vocoder="griffin-lim")["per_utterance"]
        assert {u: round(v["mcd_db"], 3) for u, v in again.items()} == {
            u: v["mcd_db"] for u, v in full["scores"].items()}
    # the report needs the results only
    (tmp_path / "docs" / "ablation.md").unlink()
    res = invoke(*[a for a in args if a not in (prepared / "data", prepared / "dump")], "--report-only")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "docs" / "ablation.md").read_text().count("| single |") == 4   # two sizes × two tables


def test_ablate_scores_intelligibility(prepared, tmp_path):
    pytest.importorskip("pocketsphinx", reason="WER/CER need pocketsphinx: pip install -e '.[eval]'")
    plan = {**PLAN, "seeds": 1, "steps": 4, "score_utts": 1, "sizes": ["full"]}
    plan["variants"] = {"single": PLAN["variants"]["single"]}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    res = invoke("ablate", "-p", tmp_path / "plan.yaml", "-c", prepared / "base.yaml", "--data-dir",
                 prepared / "data", "--dump-dir", prepared / "dump", "--exp-dir", tmp_path / "abl", "--nj", "1")
    assert res.exit_code == 0, res.output
    cell = json.loads((tmp_path / "abl" / "results" / "full" / "single" / "seed1234.json").read_text())
    (s,) = cell["scores"].values()
    assert s["words"] > 0 and 0 <= s["word_errors"] and s["chars"] > s["words"]
    row = next(l for l in (tmp_path / "abl" / "report.md").read_text().splitlines() if l.startswith("| single |"))
    assert row.count(" %") == 2                     # WER and CER
