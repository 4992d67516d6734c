"""`mtts ablate`: plan parsing, verdict arithmetic, and a real two-seed run through the CLI."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from mtts.ablate import aggregate, load_plan, merge, verdict
from mtts.cli import app
from mtts.errors import MttsError

from conftest import TINY

runner = CliRunner()


def test_merge_is_deep_but_replaces_the_task_set():
    base = {"train": {"lr": 1.0, "seed": 1}, "tasks": {"mel": {}, "pitch": {}}}
    out = merge(base, {"train": {"lr": 2.0}, "tasks": {"mel": {"weight": 3}}})
    assert out == {"train": {"lr": 2.0, "seed": 1}, "tasks": {"mel": {"weight": 3}}}
    assert base["train"]["lr"] == 1.0   # inputs untouched


def test_verdict_needs_a_difference_beyond_the_spread():
    runs = [{"variant": v, "seed": s, "metrics": {"mel_l1": x}}
            for v, xs in (("a", (1.0, 1.1)), ("b", (0.5, 0.6)), ("c", (1.0, 1.2)), ("d", (2.0,)))
            for s, x in enumerate(xs)]
    agg = aggregate(runs)
    assert agg["a"]["mel_l1"][0] == pytest.approx(1.05) and agg["a"]["mel_l1"][2] == 2
    assert verdict(agg, "b", "a", "mel_l1")[0] == "better"
    assert verdict(agg, "a", "b", "mel_l1")[0] == "worse"
    assert verdict(agg, "c", "a", "mel_l1")[0] == "no clear difference"
    assert verdict(agg, "d", "a", "mel_l1")[0] == "one seed: no verdict"
    assert verdict(agg, "b", "a", "missing") is None


@pytest.mark.parametrize("text, match", [
    ("variants: {}", "must map names"),
    ("foo: 1", "expected the keys"),
    ("variants: {a: {}, b: {compare_to: zz}}", "unknown variant 'zz'"),
    ("variants: {'a b': {}}", "variant name"),
    ("variants: [", "not valid YAML"),
])
def test_bad_plans_are_one_line_errors(tmp_path, text, match):
    (tmp_path / "p.yaml").write_text(text)
    with pytest.raises(MttsError, match=match):
        load_plan(tmp_path / "p.yaml")


PLAN = {
    "base": {"model": {"d_model": 32}},
    "variants": {
        "single": {"tasks": {"alignment": {}, "duration": {}, "mel": {}}},
        "pitch": {"tasks": {"alignment": {}, "duration": {}, "pitch": {"weight": 0.1}, "mel": {}}},
        "pitch_uw": {"tasks": {"alignment": {}, "duration": {}, "pitch": {"weight": 0.1}, "mel": {}},
                     "mtl": {"method": "uncertainty"}, "compare_to": "pitch"},
    },
}


def test_ablate_runs_every_variant_and_seed_and_writes_the_report(espeak_corpus, tmp_path):
    work = tmp_path
    for args in (["prepare", espeak_corpus, "--data-dir", work / "data", "--dump-dir", work / "dump"],
                 ["tokenize", "--data-dir", work / "data", "--dump-dir", work / "dump"]):
        res = runner.invoke(app, [str(a) for a in args])
        assert res.exit_code == 0, res.output
    (work / "base.yaml").write_text(yaml.safe_dump(TINY))
    (work / "plan.yaml").write_text(yaml.safe_dump(PLAN, sort_keys=False))
    args = ["ablate", "-p", work / "plan.yaml", "-c", work / "base.yaml", "--data-dir", work / "data",
            "--dump-dir", work / "dump", "--exp-dir", work / "abl", "--steps", 8, "--seeds", 2,
            "--report", work / "docs" / "ablation.md"]
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    results = json.loads((work / "abl" / "results.json").read_text())
    assert [(r["variant"], r["seed"]) for r in results["runs"]] == [
        (v, s) for v in PLAN["variants"] for s in (1234, 1235)]
    assert all(r["step"] == 8 for r in results["runs"])
    # each run is a normal training run with the variant's tasks and the ablation's step count
    cfg = yaml.safe_load((work / "abl" / "pitch_uw" / "seed1235" / "config.yaml").read_text())
    assert cfg["mtl"]["method"] == "uncertainty" and set(cfg["tasks"]) == {"alignment", "duration", "pitch", "mel"}
    assert cfg["train"]["max_steps"] == 8 and cfg["train"]["seed"] == 1235 and cfg["model"]["d_model"] == 32
    # seeds differ, so the spread is real
    a, b = (r["metrics"]["mel_l1"] for r in results["runs"][:2])
    assert a != b and results["aggregate"]["single"]["mel_l1"]["std"] > 0
    report = (work / "abl" / "report.md").read_text()
    assert "| single |" in report and " ± " in report and "`pitch_uw` against `pitch`" in report
    assert "Did not help:" in report and "--steps 8" in report
    for p in ("dev_curves", "train_dev_gap", "weights", "seconds_per_step"):
        assert (work / "abl" / "plots" / f"{p}.png").stat().st_size > 1000
        assert (work / "docs" / "ablation_plots" / f"{p}.png").is_file()
    assert "](ablation_plots/dev_curves.png)" in (work / "docs" / "ablation.md").read_text()
    # a rerun trains nothing new
    stamp = (work / "abl" / "single" / "seed1234" / "result.json").stat().st_mtime_ns
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0 and "ablation single" not in res.output
    assert (work / "abl" / "single" / "seed1234" / "result.json").stat().st_mtime_ns == stamp
    # other step counts into the same dir, and unknown variants, are refused in one line
    res = runner.invoke(app, [str(a) for a in args[:-4]] + ["--steps", "9"])
    assert res.exit_code == 1 and "ran 8 steps, not 9" in res.output
    res = runner.invoke(app, [str(a) for a in args] + ["--only", "nope"])
    assert res.exit_code == 1 and "unknown variant(s) nope" in res.output
    # intelligibility of synthesised dev sentences joins the table when asked for
    pytest.importorskip("pocketsphinx")
    res = runner.invoke(app, [str(a) for a in args[:-2]] + ["--exp-dir", str(work / "abl_asr"), "--seeds", "1",
                                                          "--only", "single", "--asr-utts", "1"])
    assert res.exit_code == 0, res.output
    run = json.loads((work / "abl_asr" / "single" / "seed1234" / "result.json").read_text())
    assert 0.0 <= run["metrics"]["wer"] and 0.0 <= run["metrics"]["cer"]
    header = next(l for l in (work / "abl_asr" / "report.md").read_text().splitlines() if l.startswith("| variant"))
    assert "| wer |" in header and "| cer |" in header
