"""Adapting a trained model (mtts/adapt.py): `mtts train --init-from MODEL` copies the weights
that fit, maps the speaker table by name, freezes train.freeze's modules, refuses a model of
other tokens or features, and a resumed adaptation continues itself.

A tiny two-voice model (alice, bob) is trained a few steps; the new corpus is the same
recordings with bob renamed carol, so the token table matches and carol is a new speaker."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from mtts import adapt, checkpoint
from mtts.cli import app
from mtts.data.datadir import read_spk2id
from mtts.errors import MttsError
from mtts.model import MultiTaskModel
from mtts.validate import config_from_dict

from conftest import TINY, make_model_package, mtts

runner = CliRunner()



def fails(*args) -> str:
    """Exit 1 with a one-line `error:` and no traceback; the error line, whitespace joined."""
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, SystemExit) and "Traceback" not in res.output, res.output
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("error:"), res.output
    return " ".join(res.output.split())


def config(path: Path, **train) -> Path:
    path.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], **train}}))
    return path


@pytest.fixture(scope="module")
def work(two_voice_corpus, tmp_path_factory) -> Path:
    """data/ dump/ of the two voices, a 6-step source run exp/ and its package best.safetensors,
    and data_new/: the same recordings with bob renamed carol."""
    w = tmp_path_factory.mktemp("adapt")
    mtts("prepare", two_voice_corpus, "--data-dir", w / "data", "--dump-dir", w / "dump", "--nj", 2,
         "--n-dev", 2, "--n-test", 2)
    mtts("tokenize", "--data-dir", w / "data", "--dump-dir", w / "dump")
    mtts("train", "-c", config(w / "src.yaml", max_steps=6, ckpt_every=6), "--data-dir", w / "data",
         "--dump-dir", w / "dump", "--exp-dir", w / "exp")
    checkpoint.Package.load(checkpoint.resolve(w / "exp", "")).save(w / "best.safetensors")
    shutil.copytree(w / "data", w / "data_new")
    for split in ("train", "dev", "test"):
        for name in ("utt2spk", "spk2id", "spk2utt"):
            f = w / "data_new" / split / name
            if f.is_file():
                f.write_text(f.read_text().replace(" bob", " carol").replace("bob ", "carol "))
    assert read_spk2id(w / "data_new" / "train") == {"alice": 0, "carol": 1}
    # the new voice's own statistics, which an adaptation does not use: it keeps its source's
    shutil.copytree(w / "dump", w / "dump_new")
    stats = json.loads((w / "dump" / "stats.json").read_text())
    (w / "dump_new" / "stats.json").write_text(json.dumps({**stats, "mel_mean": [m + 1.0 for m in stats["mel_mean"]],
                                                           "pitch_mean": stats["pitch_mean"] * 1.5}))
    return w


def adapt_run(work: Path, exp: Path, *extra, dump: str = "dump_new", **train) -> list:
    return ["train", "-c", config(exp.parent / f"{exp.name}.yaml", **train), "--data-dir", work / "data_new",
            "--dump-dir", work / dump, "--exp-dir", exp, *extra]


def test_weights_are_copied_and_the_speaker_table_mapped_by_name(work, tmp_path):
    """Before the first step (max_steps 0 saves the initial state) every tensor equals the
    source's; alice keeps her row, carol, new, starts at the mean of alice's and bob's."""
    src = checkpoint.Package.load(work / "best.safetensors")
    exp = tmp_path / "exp"
    out = mtts(*adapt_run(work, exp, "--init-from", work / "best.safetensors", max_steps=0))
    assert "initialised from" in out
    ck = checkpoint.load(checkpoint.resolve(exp, ""))
    assert ck["step"] == 0 and ck["speakers"] == {"alice": 0, "carol": 1}
    assert ck["stats"] == src.stats != json.loads((work / "dump_new" / "stats.json").read_text())
    table = src.weights["speaker_embed.weight"]
    for name, value in src.weights.items():
        if name != "speaker_embed.weight":
            assert torch.equal(ck["model"][name], value), name
    new = ck["model"]["speaker_embed.weight"]
    assert torch.equal(new[0], table[src.speakers["alice"]])
    assert torch.allclose(new[1], table.mean(dim=0))
    assert not torch.allclose(new[1], table[src.speakers["bob"]])
    init = json.loads((exp / "init.json").read_text())
    assert init["speakers"] == {"alice": "copied", "carol": "mean of the source's speakers"}
    assert init["initialised"] == [] and init["copied"] == len(src.weights) - 1
    assert yaml.safe_load((exp / "config.yaml").read_text())["train"]["init_from"] == str(work / "best.safetensors")


def test_frozen_modules_do_not_change_the_rest_trains_and_resume_continues(work, tmp_path):
    exp = tmp_path / "exp"
    src = checkpoint.load(checkpoint.resolve(work / "exp", ""))   # a training checkpoint as the source
    freeze = ["encoder", "tasks.duration"]
    mtts(*adapt_run(work, exp, "--init-from", work / "exp", max_steps=3, ckpt_every=3, freeze=freeze))
    ck = checkpoint.load(checkpoint.resolve(exp, ""))
    assert ck["step"] == 3
    frozen = [k for k in src["model"] if k.startswith(("encoder.", "tasks.duration."))]
    assert frozen
    for k in frozen:
        assert torch.equal(ck["model"][k], src["model"][k]), k
    trained = [k for k in src["model"] if k.startswith("tasks.mel.")]
    assert any(not torch.equal(ck["model"][k], src["model"][k]) for k in trained)
    assert json.loads((exp / "init.json").read_text())["frozen"] == freeze
    # --resume continues the adaptation from its own checkpoint, keeping the record of its source
    mtts(*adapt_run(work, exp, "--resume", max_steps=5, ckpt_every=5, freeze=freeze))
    ck = checkpoint.load(checkpoint.resolve(exp, ""))
    assert ck["step"] == 5 and ck["config"]["train"]["init_from"] == str(work / "exp")
    assert ck["stats"] == src["stats"]   # from EXP/init.json: the source is not read again
    for k in frozen:
        assert torch.equal(ck["model"][k], src["model"][k]), k
    # ... and refuses another source for it
    out = fails(*adapt_run(work, exp, "--resume", "--init-from", work / "best.safetensors", max_steps=6))
    assert f"was initialised from {work / 'exp'}" in out


def test_a_model_of_other_tokens_or_features_is_refused(work, tmp_path):
    bad = tmp_path / "dump_tokens"
    shutil.copytree(work / "dump_new", bad)
    lines = (bad / "tokens.txt").read_text(encoding="utf-8").splitlines()
    (bad / "tokens.txt").write_text("\n".join([*lines, f"ʀ {len(lines)}"]) + "\n", encoding="utf-8")   # one more
    out = fails(*adapt_run(work, tmp_path / "e1", "--init-from", work / "best.safetensors", dump=str(bad)))
    assert "token table differs" in out and "ʀ" in out
    bad = tmp_path / "dump_feats"
    shutil.copytree(work / "dump_new", bad)
    params = json.loads((bad / "feature_params.json").read_text())
    (bad / "feature_params.json").write_text(json.dumps({**params, "hop_length": 200}))
    out = fails(*adapt_run(work, tmp_path / "e2", "--init-from", work / "best.safetensors", dump=str(bad)))
    assert "features differ" in out and "hop_length (256 vs 200)" in out
    assert not (tmp_path / "e1" / "checkpoints").exists() and not (tmp_path / "e2" / "config.yaml").exists()


def test_an_unknown_freeze_prefix_or_missing_model_is_refused(work, tmp_path):
    out = fails(*adapt_run(work, tmp_path / "e", "--init-from", work / "best.safetensors", freeze=["encodr"]))
    assert "train.freeze" in out and "'encodr'" in out and "encoder" in out
    out = fails(*adapt_run(work, tmp_path / "e", "--init-from", tmp_path / "nope.safetensors"))
    assert "nope.safetensors does not exist" in out


# unit checks: no corpus needed

def test_freeze_prefixes_are_whole_module_names(tiny_cfg):
    model = MultiTaskModel(tiny_cfg, 20, 80)
    n = adapt.freeze(model, ["tasks.pitch"])
    assert n == sum(p.numel() for k, p in model.named_parameters() if k.startswith("tasks.pitch."))
    assert all(p.requires_grad for k, p in model.named_parameters() if not k.startswith("tasks.pitch."))
    with pytest.raises(MttsError, match="no module 'tasks.pit'"):   # a prefix of a name is not a module
        adapt.freeze(model, ["tasks.pit"])
    with pytest.raises(MttsError, match="train.freeze' must be a list of str"):
        config_from_dict({"train": {"freeze": "encoder"}})


@pytest.mark.parametrize("method", ["gradnorm", "pcgrad"])
def test_a_frozen_encoder_is_refused_with_a_method_that_needs_its_gradients(method):
    frozen = {**TINY, "train": {**TINY["train"], "freeze": ["encoder"]}}
    cfg = config_from_dict({**frozen, "mtl": {"method": method}})
    with pytest.raises(MttsError, match=f"mtl.method '{method}' acts on the shared encoder's gradients"):
        adapt.start(cfg, None, MultiTaskModel(cfg, 20, 80), None, None)
    cfg = config_from_dict(frozen)   # static weighting: fine
    assert adapt.start(cfg, None, MultiTaskModel(cfg, 20, 80), None, None) is None


def test_a_single_speaker_source_gives_new_speakers_its_voice(tmp_path, tiny_cfg):
    pkg = checkpoint.Package.load(make_model_package(tmp_path / "one.pt"))
    model = MultiTaskModel(tiny_cfg, len(pkg.tokens), 80, n_speakers=2)
    report = adapt.init_from(model, pkg, {"x": 0, "y": 1})
    assert torch.count_nonzero(model.speaker_embed.weight) == 0
    assert set(report["speakers"]) == {"x", "y"} and report["initialised"] == []
    # the source's weights there; a single-speaker target keeps them all
    single = MultiTaskModel(tiny_cfg, len(pkg.tokens), 80)
    report = adapt.init_from(single, pkg, None)
    assert report["copied"] == len(pkg.weights) and report["not_copied"] == []
    assert all(torch.equal(single.state_dict()[k], v) for k, v in pkg.weights.items())


def test_a_model_of_another_size_is_refused(tmp_path):
    from mtts.features.audio import FeatureParams
    pkg = checkpoint.Package.load(make_model_package(tmp_path / "one.pt"))
    other = config_from_dict({**TINY, "model": {**TINY["model"], "d_model": 16}})
    with pytest.raises(MttsError, match=r"network differs .* model.d_model \(32 vs 16\)"):
        adapt.check_compatible(pkg, "one.pt", other, pkg.tokens, None, FeatureParams())
    adapt.check_compatible(pkg, "one.pt", config_from_dict(TINY), pkg.tokens, None, FeatureParams())
    with pytest.raises(MttsError, match="none of the source model's weights fit"):   # the last line of defence
        adapt.init_from(MultiTaskModel(other, len(pkg.tokens), 80),
                        checkpoint.Package(**{**pkg.__dict__, "weights": {"x": torch.zeros(1)}}), None)


def test_ablation_hashes_see_the_adaptation_keys_only_when_set():
    """Results of runs made before train.init_from/freeze existed keep their config hashes."""
    import hashlib

    from mtts.ablate import config_hash
    cfg = config_from_dict(TINY)
    d = cfg.to_dict()
    d["train"] = {k: v for k, v in d["train"].items() if k not in ("seed", "num_threads", "init_from", "freeze")}
    d["data"] = {k: v for k, v in d["data"].items() if k != "load"}
    blob = json.dumps({"config": d, "size": "5", "score_utts": 50, "asr": True, "vocoder": "griffin-lim"},
                      sort_keys=True)
    assert config_hash(cfg, "5", 50, True) == hashlib.sha256(blob.encode()).hexdigest()[:16]
    adapted = config_from_dict({**TINY, "train": {**TINY["train"], "freeze": ["encoder"]}})
    assert config_hash(adapted, "5", 50, True) != config_hash(cfg, "5", 50, True)
