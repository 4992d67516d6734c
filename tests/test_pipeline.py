"""Stages end to end through the CLI on a small espeak-ng corpus: files written,
resume exactness, select-best and synthesis from the model file alone."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from typer.testing import CliRunner

from mtts import checkpoint
from mtts.cli import app

from conftest import TINY, mtts

runner = CliRunner()



@pytest.fixture(scope="module")
def prepared(espeak_corpus, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("work")
    mtts("prepare", espeak_corpus, "--data-dir", work / "data", "--dump-dir", work / "dump", "--nj", 2)
    mtts("tokenize", "--data-dir", work / "data", "--dump-dir", work / "dump")
    (work / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    return work


def train(work: Path, exp: str, *extra: str) -> None:
    mtts("train", "-c", work / "tiny.yaml", "--data-dir", work / "data", "--dump-dir", work / "dump",
         "--exp-dir", work / exp, *extra)


@pytest.fixture(scope="module")
def full_exp(prepared) -> Path:
    """The 20-step tiny run the later tests read, trained once per module whichever test asks first."""
    train(prepared, "exp_full")
    return prepared / "exp_full"


@pytest.fixture()
def full_package(prepared, full_exp) -> Path:
    """exp_full/best.safetensors, selected from a dev evaluation unless a test already wrote one."""
    if not (full_exp / "best.safetensors").is_file():
        mtts("evaluate", "--exp-dir", full_exp, "--data-dir", prepared / "data", "--split", "dev",
             "--metrics", "tasks")
        mtts("select-best", "--exp-dir", full_exp)
    return full_exp / "best.safetensors"


def test_prepare_writes_datadirs_features_and_stats(prepared):
    data = prepared / "data"
    sizes = {s: len((data / s / "wav.scp").read_text().splitlines()) for s in ("train", "dev", "test")}
    assert sizes == {"train": 8, "dev": 2, "test": 2}
    for s in sizes:
        for f in ("text", "utt2spk", "spk2utt", "utt2dur", "feats.scp", "phones", "norm_text"):
            assert (data / s / f).is_file(), f
    stats = json.loads((prepared / "dump" / "stats.json").read_text())
    assert len(stats["mel_mean"]) == 80 and stats["pitch_mean"] > 50
    assert len(stats["mel_gv"]) == 80 and all(0 < g < 1.5 for g in stats["mel_gv"])   # the postfilter's target
    feats = dict(l.split(" ", 1) for l in (data / "train" / "feats.scp").read_text().splitlines())
    z = np.load(next(iter(feats.values())))
    assert z["mel"].shape[1] == 80 and z["pitch"].shape[0] == z["mel"].shape[0]


def test_tokenize_rerun_uses_the_cache(prepared):
    out = runner.invoke(app, ["tokenize", "--data-dir", str(prepared / "data"), "--dump-dir", str(prepared / "dump")])
    assert out.exit_code == 0
    assert json.loads(out.stdout[out.stdout.index("{"):])["espeak_calls"] == 0


def test_train_logs_checkpoints_and_resumes_exactly(prepared, full_exp):
    full = checkpoint.load(full_exp / "checkpoints" / "step_0000020.pt")
    assert full["text"] == {"normalizer": "builtin", "language": "en-us"}  # synthesis uses the same front end
    assert (full_exp / "config.yaml").is_file()
    lines = [json.loads(l) for l in (full_exp / "metrics.jsonl").read_text().splitlines()]
    assert {"loss_mel", "loss_alignment", "weight_mel", "frames_per_s", "gradnorm_mel",
            "cos_alignment_mel"} <= set(lines[0])
    assert "gradnorm_duration" not in lines[0]  # the duration head reads a detached encoding
    train_lines = [l for l in lines if l["split"] == "train"]
    assert all(l["rss_mb"] > 50 and 0 < l["s_per_step"] < 60 for l in train_lines)  # memory and speed logged
    assert all(-1.0 <= l["cos_pitch_mel"] <= 1.0 and l["gradnorm_mel"] > 0 for l in lines if l["split"] == "train")
    assert any(l["split"] == "dev" and "mel_l1" in l for l in lines)
    assert list((full_exp / "tb").iterdir())
    mtts("plot", full_exp)
    for png in ("losses.png", "weights.png"):
        assert (full_exp / "plots" / png).stat().st_size > 1000

    with pytest.raises(AssertionError, match="already holds checkpoints"):
        train(prepared, "exp_full")
    # a run killed after its step-10 checkpoint: resuming must reproduce step 20 exactly
    half_dir = prepared / "exp_half"
    shutil.copytree(full_exp, half_dir)
    (half_dir / "checkpoints" / "step_0000020.pt").unlink()
    train(prepared, "exp_half", "--resume")
    half = checkpoint.load(half_dir / "checkpoints" / "step_0000020.pt")
    for k, v in full["model"].items():
        assert torch.equal(v, half["model"][k]), k
    for a, b in zip(full["optimizer"]["state"].values(), half["optimizer"]["state"].values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"])
    steps = [json.loads(l)["step"] for l in (prepared / "exp_half" / "metrics.jsonl").read_text().splitlines()
             if json.loads(l)["split"] == "train"]
    assert steps == sorted(set(steps))  # no duplicated log lines after resume


def test_learnt_weights_step_at_their_own_rate_outside_the_gradient_clip(prepared):
    """Uncertainty's log-variances move by mtl.weight_lr in the first step (Adam's first step
    is its rate, whatever the gradient), although the model's rate is still warming up and
    a clip at 1e-12 all but stops the model: the clip is the network's, not theirs."""
    cfg = {**TINY, "mtl": {"method": "uncertainty", "weight_lr": 0.02},
           "train": {**TINY["train"], "max_steps": 1, "grad_clip": 1e-12}}
    (prepared / "clip.yaml").write_text(yaml.safe_dump(cfg))
    mtts("train", "-c", prepared / "clip.yaml", "--data-dir", prepared / "data", "--dump-dir", prepared / "dump",
         "--exp-dir", prepared / "exp_clip")
    ck = checkpoint.load(prepared / "exp_clip" / "checkpoints" / "step_0000001.pt")
    s = {k: float(v) for k, v in ck["method"].items()}
    assert len(s) == 5 and all(abs(v) == pytest.approx(0.02, rel=1e-4) for v in s.values()), s


def test_evaluate_select_and_synthesize_from_the_model_file_alone(prepared, full_exp, tmp_path):
    exp = full_exp
    mtts("evaluate", "--exp-dir", exp, "--data-dir", prepared / "data", "--split", "dev",
         "--metrics", "tasks,acoustic,speed", "--references")
    ev = exp / "eval" / "dev"
    summary = json.loads((ev / "summary.json").read_text())
    assert len(summary) == 2 and summary[0]["postfilter"] == 0.0 and summary[0]["vocoder"] == "griffin-lim"
    assert {"mel_l1", "mel_l2", "duration_mae_frames", "f0_rmse_hz", "energy_mae", "mcd_db", "log_f0_rmse_cents",
            "vuv_error", "rtf", "rtf_acoustic", "rtf_vocoder"} <= set(summary[0]["metrics"])
    refs = json.loads((ev / "references.json").read_text())
    assert refs["reference"]["mcd_db"] == pytest.approx(0.0, abs=1e-6) and refs["resynthesis"]["mcd_db"] > 0
    assert len(list((ev / "step_0000020" / "plots").glob("*.png"))) == 2 and (ev / "curves.png").is_file()
    report = (ev / "report.md").read_text()
    assert "step_0000020/plots/" in report and "Griffin-Lim of true mels" in report
    mtts("compare", exp, exp, "--split", "dev", "--out", tmp_path / "cmp")
    assert len(json.loads((tmp_path / "cmp.json").read_text())) == 2
    mtts("select-best", "--exp-dir", exp, "--metric", "mel_l1", "--average", 2)
    sel = json.loads((exp / "selection.json").read_text())
    assert sel["averaged"] == 2 and len(sel["ranking"]) == 2
    # the package works without the recipe: copy it alone somewhere else
    model = tmp_path / "voice.safetensors"
    shutil.copy(exp / "best.safetensors", model)
    mtts("synthesize", "-m", model, "-t", "Dr. Smith paid $3.50 on the 3rd.", "--out", tmp_path / "a.wav",
         "--n-iter", 4)
    y, sr = sf.read(tmp_path / "a.wav")
    assert sr == 22050 and len(y) > 0.1 * sr and abs(y).max() > 0.01
    # the postfilter (off by default) only ever widens each mel bin's variation over the sentence
    from mtts.synthesize import Synthesizer
    on, off = (Synthesizer.load(model, postfilter=pf).norm_mel("Hello there, general.") for pf in (0.5, 0.0))
    assert on.shape == off.shape and not torch.equal(on, off)
    assert (on.std(0) >= off.std(0) - 1e-5).all() and torch.allclose(on.mean(0), off.mean(0), atol=1e-4)
    (tmp_path / "list.txt").write_text("A1|Hello there.\nA2|General Kenobi.\n")
    mtts("synthesize", "-m", model, "--text-file", tmp_path / "list.txt", "--out", tmp_path / "wavs", "--n-iter", 4)
    assert sorted(p.name for p in (tmp_path / "wavs").iterdir()) == ["A1.wav", "A2.wav"]


def test_g2p_task_trains_and_speaks_from_characters(prepared, full_package, tmp_path):
    cfg = {**TINY, "tasks": {"alignment": {}, "duration": {}, "mel": {}, "g2p": {"weight": 0.5}},
           "train": {**TINY["train"], "max_steps": 10}}
    (tmp_path / "g2p.yaml").write_text(yaml.safe_dump(cfg))
    mtts("train", "-c", tmp_path / "g2p.yaml", "--data-dir", prepared / "data", "--dump-dir", prepared / "dump",
         "--exp-dir", tmp_path / "exp")
    lines = [json.loads(l) for l in (tmp_path / "exp" / "metrics.jsonl").read_text().splitlines()]
    assert "loss_g2p" in lines[0] and any("g2p_per" in l for l in lines if l["split"] == "dev")
    ckpt = tmp_path / "exp" / "checkpoints" / "step_0000010.pt"
    assert checkpoint.load(ckpt)["chars"][:2] == ["<pad>", "<unk>"]
    res = runner.invoke(app, ["synthesize", "-m", str(ckpt), "-t", "Hello there.", "--input", "chars",
                              "--out", str(tmp_path / "c.wav"), "--n-iter", "2"])
    # an untrained G2P may decode nothing; then the error says so in one line
    assert (res.exit_code == 0 and (tmp_path / "c.wav").is_file()) or \
        (res.exit_code == 1 and "no pronounceable words" in res.output), res.output
    res = runner.invoke(app, ["synthesize", "-m", str(full_package), "-t", "Hello.",
                              "--input", "chars", "--out", str(tmp_path / "d.wav")])
    assert res.exit_code == 1 and "has no g2p task" in res.output


def test_g2p_learns_from_a_lexicon_mixed_with_the_corpus(prepared, tmp_path):
    import shutil as sh
    dump = tmp_path / "dump"
    sh.copytree(prepared / "dump", dump)
    text = mtts("tokenize", "--data-dir", prepared / "data", "--dump-dir", dump, "--lexicon-words", 300)
    out = json.loads(text[text.index("{"):])
    assert out["lexicon_train"] > 250 and out["lexicon_dev"] > 400
    rows = (dump / "lexicon" / "train.tsv").read_text().splitlines()
    word, phones = rows[0].split("\t")
    assert word.isalpha() and phones and " " not in phones
    dev_words = {l.split("\t")[0] for l in (dump / "lexicon" / "dev.tsv").read_text().splitlines()}
    assert not dev_words & {l.split("\t")[0] for l in rows}
    cfg = {**TINY, "tasks": {"alignment": {}, "duration": {}, "mel": {}, "g2p": {}},
           "data": {"mix": {"corpus": 1.0, "lexicon": 1.0}, "lexicon_batch_chars": 400},
           "train": {**TINY["train"], "max_steps": 10}}
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(cfg))
    args = ["-c", tmp_path / "mix.yaml", "--data-dir", prepared / "data", "--dump-dir", dump]
    mtts("train", *args, "--exp-dir", tmp_path / "exp")
    lines = [json.loads(l) for l in (tmp_path / "exp" / "metrics.jsonl").read_text().splitlines()]
    dev = [l for l in lines if l["split"] == "dev"]
    assert dev and all("lexicon_g2p_per" in l and "mel_l1" in l for l in dev)
    ck = checkpoint.load(tmp_path / "exp" / "checkpoints" / "step_0000010.pt")
    assert set(ck["cursors"]) == {"corpus", "lexicon"} and ck["cursors"]["lexicon"][1] > 0
    # a character model reads the words between the boundary tokens, as it reads its utterances
    from mtts.data.lexicon import LexiconDataset
    from mtts.text.tokens import TokenTable
    tokens, chars = TokenTable.load(dump / "tokens.txt"), TokenTable.load(dump / "chars.txt")
    words = LexiconDataset(dump / "lexicon" / "train.tsv", tokens, chars, wrap=True)
    assert words[0]["chars"].tolist() == chars.encode_utterance(words[0]["id"])
    (tmp_path / "chars.yaml").write_text(yaml.safe_dump({**cfg, "data": {**cfg["data"], "input": "chars"},
                                                         "train": {**cfg["train"], "max_steps": 4, "log_every": 2}}))
    mtts("train", "-c", tmp_path / "chars.yaml", "--data-dir", prepared / "data", "--dump-dir", dump,
         "--exp-dir", tmp_path / "exp_chars")
    rows = [json.loads(l) for l in (tmp_path / "exp_chars" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["split"] == "dev" and 0 <= rows[-1]["lexicon_g2p_per"] and "mel_l1" in rows[-1]
    assert [r["batches_lexicon"] for r in rows if r["split"] == "train"] == [2, 2]   # one per corpus step
    # without the lexicon files the error says how to make them
    sh.rmtree(dump / "lexicon")
    res = runner.invoke(app, ["train", *map(str, args), "--exp-dir", str(tmp_path / "exp2")])
    assert res.exit_code == 1 and "--lexicon-words" in res.output


def test_neural_vocoder_trains_ships_in_the_package_and_speaks(prepared, full_exp, full_package, tmp_path):
    (tmp_path / "voc.yaml").write_text(yaml.safe_dump({"dim": 32, "intermediate": 64, "layers": 2, "batch_size": 4,
                                                       "log_every": 2, "ckpt_every": 4}))
    mtts("train-vocoder", "-c", tmp_path / "voc.yaml", "--data-dir", prepared / "data", "--dump-dir",
         prepared / "dump", "--exp-dir", tmp_path / "voc", "--max-steps", 4)
    ck = torch.load(tmp_path / "voc" / "checkpoints" / "step_0000004.pt", weights_only=True)
    assert ck["kind"] == "vocoder" and ck["step"] == 4
    lines = [json.loads(l) for l in (tmp_path / "voc" / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines if l["split"] == "train"] == [2, 4] and lines[-1]["split"] == "dev"
    # adversarial fine-tuning from that vocoder: starts from its weights, keeps the
    # discriminators in the checkpoint, resumes
    (tmp_path / "gan.yaml").write_text(yaml.safe_dump({
        "dim": 32, "intermediate": 64, "layers": 2, "batch_size": 2, "log_every": 2, "ckpt_every": 2,
        "discriminators": "mpd,mrd", "disc_channels": 4, "gan_start_step": 1, "disc_lr_scale": 3.0,
        "init": str(tmp_path / "voc"),
        "gta_model": str(full_exp)}))
    gan = ["train-vocoder", "-c", tmp_path / "gan.yaml", "--data-dir", prepared / "data", "--dump-dir",
           prepared / "dump", "--exp-dir", tmp_path / "gan"]
    mtts(*gan, "--max-steps", 2)
    mtts(*gan, "--max-steps", 4, "--resume")
    g4 = torch.load(tmp_path / "gan" / "checkpoints" / "step_0000004.pt", weights_only=True)
    assert {"disc", "disc_optimizer"} <= set(g4) and g4["step"] == 4
    # the last discriminator update ran at 3x step 3's warm-up rate (lr 1e-3 * 4 / 200)
    assert g4["disc_optimizer"]["param_groups"][0]["lr"] == pytest.approx(3 * 1e-3 * 4 / 200)
    w = "embed.weight"
    assert (g4["model"][w] - ck["model"][w]).abs().max() < 1e-2   # warm-up steps from the init
    lines = [json.loads(l) for l in (tmp_path / "gan" / "metrics.jsonl").read_text().splitlines()]
    train = [l for l in lines if l["split"] == "train"]
    assert [l["step"] for l in train] == [2, 4] and all({"d_loss", "g_adv", "g_fm"} <= set(l) for l in train)
    # teacher-forced ("GTA") input mels: the model's output, frame for frame with the recordings
    from mtts.data.dataset import Stats
    from mtts.errors import MttsError
    from mtts.features.audio import FeatureParams
    from mtts.vocoder.train import same_dump, teacher_forced_mels
    stats = json.loads((prepared / "dump" / "stats.json").read_text())
    params = FeatureParams.from_dict(json.loads((prepared / "dump" / "feature_params.json").read_text()))
    gta_mels = teacher_forced_mels(full_exp, prepared / "data" / "train", stats, params, 300)
    feats = dict(l.split(" ", 1) for l in (prepared / "data" / "train" / "feats.scp").read_text().splitlines())
    assert set(gta_mels) == set(feats)
    for uid, path in feats.items():
        true = Stats(stats).norm_mel(torch.from_numpy(np.load(path)["mel"]))
        assert gta_mels[uid].shape == true.shape and not torch.allclose(gta_mels[uid], true)
    # the postfilter's mel_gv does not normalise anything: statistics written before it still fit,
    # other normalisation does not
    assert "mel_gv" in stats
    older = {k: v for k, v in stats.items() if k != "mel_gv"}
    assert set(teacher_forced_mels(full_exp, prepared / "data" / "dev", older, params, 300))
    with pytest.raises(MttsError, match="other features or mel statistics"):
        teacher_forced_mels(full_exp, prepared / "data" / "dev", {**stats, "energy_mean": 0.0}, params)
    assert same_dump(ck["feature_params"], ck["stats"], params, older)   # init
    assert not same_dump(ck["feature_params"], ck["stats"], params, {**stats, "mel_std": [1.0] * 80})
    # the package: best checkpoint of the acoustic model + the vocoder
    best = tmp_path / "best.safetensors"
    mtts("select-best", "--exp-dir", full_exp, "--out", best, "--vocoder", tmp_path / "voc")
    pkg = checkpoint.Package.load(best)
    assert pkg.vocoder.step == 4
    assert "voc (step 4)" in json.loads((tmp_path / "selection.json").read_text())["vocoder"]
    for voc in ("auto", "neural", "griffin-lim"):
        out = mtts("synthesize", "-m", best, "-t", "Hello there.", "--out", tmp_path / f"{voc}.wav",
                   "--vocoder", voc, "--n-iter", 2)
        assert "wrote" in out
        y, sr = sf.read(tmp_path / f"{voc}.wav")
        assert sr == 22050 and len(y) > 0.1 * sr and np.isfinite(y).all()
    # without a packaged vocoder, asking for one is a one-line error
    res = runner.invoke(app, ["synthesize", "-m", str(full_package), "-t", "Hi.",
                              "--out", str(tmp_path / "x.wav"), "--vocoder", "neural"])
    assert res.exit_code == 1 and "has no neural vocoder" in res.output and not (tmp_path / "x.wav").exists()
    res = runner.invoke(app, ["synthesize", "-m", str(best), "-t", "Hi.", "--out", str(tmp_path / "x.wav"),
                              "--vocoder", "wavenet"])
    assert res.exit_code == 1 and "--vocoder must be one of" in res.output
    # a vocoder trained on other statistics does not fit the model
    ck["stats"] = {**ck["stats"], "mel_mean": [0.0] * 80}
    torch.save(ck, tmp_path / "other.pt")
    res = runner.invoke(app, ["select-best", "--exp-dir", str(full_exp), "--out",
                              str(tmp_path / "b2.safetensors"), "--vocoder", str(tmp_path / "other.pt")])
    assert res.exit_code == 1 and "other mel statistics" in res.output and not (tmp_path / "b2.safetensors").exists()


def test_export_to_onnx_matches_torch(prepared, full_exp, full_package, tmp_path):
    pytest.importorskip("onnx")
    (tmp_path / "voc.yaml").write_text(yaml.safe_dump({"dim": 32, "intermediate": 64, "layers": 2, "batch_size": 4}))
    mtts("train-vocoder", "-c", tmp_path / "voc.yaml", "--data-dir", prepared / "data", "--dump-dir",
         prepared / "dump", "--exp-dir", tmp_path / "voc", "--max-steps", 2)
    best = tmp_path / "best.safetensors"
    mtts("select-best", "--exp-dir", full_exp, "--out", best, "--vocoder", tmp_path / "voc")
    text = mtts("export", "-m", best, "--out", tmp_path / "onnx")
    rec = json.loads(text[text.index("{"):])
    assert rec["files"] == ["encoder.onnx", "decoder.onnx", "vocoder.onnx"]
    meta = json.loads((tmp_path / "onnx" / "meta.json").read_text())
    assert meta["tokens"] == checkpoint.Package.load(best).tokens.symbols
    assert rec["check"]["mel_max_abs_diff"] < 1e-3 and rec["check"]["wav_max_abs_diff"] < 1e-3
    from mtts.export import OnnxSynthesizer
    ids = OnnxSynthesizer(tmp_path / "onnx").ids("Hello there.")[0]
    assert ids[0] == 2 and ids[-1] == 3 and min(ids[1:-1]) > 3   # between the boundary tokens, as trained
    assert rec["check"]["rtf_torch"] > 0 and rec["check"]["rtf_onnx"] > 0
    # the exported graphs take other lengths than the ones they were traced with
    from mtts.export import OnnxSynthesizer
    synth = OnnxSynthesizer(tmp_path / "onnx")
    for sentence in ("Hi.", "A much longer sentence than the one the graphs were traced with, by far."):
        wav, info = synth(sentence)
        assert len(wav) > 0 and np.isfinite(wav).all() and info["rtf"] > 0
    res = runner.invoke(app, ["export", "-m", str(tmp_path / "nope.pt")])
    assert res.exit_code == 1 and "does not exist" in res.output


def test_free_running_intelligibility_is_logged_without_changing_the_run(prepared, full_exp, monkeypatch):
    """train.asr_utts: dev records gain fr_wer/fr_cer from sentences synthesised from text alone;
    the weights are those of the same run without it; select-best can pick by it."""
    pytest.importorskip("pocketsphinx")
    cfg = yaml.safe_load((prepared / "tiny.yaml").read_text())
    cfg["train"]["asr_utts"] = 2
    (prepared / "listen.yaml").write_text(yaml.safe_dump(cfg))
    mtts("train", "-c", prepared / "listen.yaml", "--data-dir", prepared / "data", "--dump-dir", prepared / "dump",
         "--exp-dir", prepared / "exp_listen")
    dev = [json.loads(l) for l in (prepared / "exp_listen" / "metrics.jsonl").read_text().splitlines()
           if '"dev"' in l]
    assert [r["step"] for r in dev] == [10, 20] and all(0 <= r["fr_cer"] <= 1 and "fr_wer" in r for r in dev)
    heard = checkpoint.load(prepared / "exp_listen" / "checkpoints" / "step_0000020.pt")["model"]
    plain = checkpoint.load(full_exp / "checkpoints" / "step_0000020.pt")["model"]
    assert all(torch.equal(heard[k], plain[k]) for k in plain)
    mtts("plot", prepared / "exp_listen")
    mtts("evaluate", "--exp-dir", prepared / "exp_listen", "--data-dir", prepared / "data", "--metrics", "tasks")
    summary = json.loads((prepared / "exp_listen" / "eval" / "dev" / "summary.json").read_text())
    assert [r["metrics"]["fr_cer"] for r in summary] == [r["fr_cer"] for r in dev]
    mtts("select-best", "--exp-dir", prepared / "exp_listen", "--metric", "fr_cer")
    assert json.loads((prepared / "exp_listen" / "selection.json").read_text())["metric"] == "fr_cer"
    # listening (Griffin-Lim draws NumPy random phases) leaves the RNGs and the model's mode as it found them
    import random

    import numpy as np

    from mtts.data.dataset import Stats
    from mtts.evaluate.listen import FreeRunning
    from mtts.text.phonemize import Phonemizer
    pkg = checkpoint.Package.load(prepared / "exp_listen" / "checkpoints" / "step_0000020.pt")
    model = pkg.build_model().train()
    listen = FreeRunning(prepared / "data" / "dev", 1, pkg.tokens, Stats(pkg.stats), pkg.feature_params,
                         pkg.text["normalizer"], pkg.chars, Phonemizer())
    before = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    assert 0 <= listen(model)["fr_cer"] and model.training
    assert random.getstate() == before[0] and (np.random.get_state()[1] == before[1]).all()
    assert torch.equal(torch.get_rng_state(), before[2])
    # what it hears is a function of the model alone: Griffin-Lim's phases are seeded by the
    # sentence, not drawn from whatever state the RNGs are in
    import mtts.evaluate.metrics as metrics
    heard_wavs = []
    monkeypatch.setattr(metrics, "transcribe", lambda wav, sr: heard_wavs.append(wav) or "")
    for seed in (0, 1):
        np.random.seed(seed)
        listen(model)
    assert len(heard_wavs) == 2 and np.array_equal(heard_wavs[0], heard_wavs[1])


def test_every_utterance_is_read_between_boundary_tokens(prepared, full_package):
    """tokenize writes <bos>/<eos>; training data and synthesis both wrap each utterance in them."""
    from mtts.data.dataset import Stats, TTSDataset
    from mtts.synthesize import Synthesizer
    from mtts.text.tokens import TokenTable
    tokens = TokenTable.load(prepared / "dump" / "tokens.txt")
    assert tokens.boundaries and tokens.symbols[2:4] == ["<bos>", "<eos>"]
    stats = Stats(json.loads((prepared / "dump" / "stats.json").read_text()))
    data = TTSDataset(prepared / "data" / "train", tokens, stats)
    assert all(it["text"][0] == 2 and it["text"][-1] == 3 and (it["text"][1:-1] > 3).all() for it in data.items)
    synth = Synthesizer.load(full_package)
    ids = synth.input_ids("hello there")
    assert ids[0] == 2 and ids[-1] == 3 and min(ids[1:-1]) > 3
    assert synth.input_ids("hello there", "phonemes") == ids      # a phoneme model reads espeak's phonemes


def test_a_character_input_model_trains_speaks_and_exports_from_characters(prepared, tmp_path):
    """data.input: chars: the encoder reads the normalised text's characters between <bos> and
    <eos>, with g2p beside the acoustic tasks; the model file says so, and synthesis, evaluation
    and the ONNX export read characters without espeak."""
    from mtts.data.datadir import read_table
    from mtts.data.dataset import Stats, TTSDataset
    from mtts.synthesize import Synthesizer
    from mtts.text.tokens import TokenTable
    chars = TokenTable.load(prepared / "dump" / "chars.txt")
    assert chars.boundaries and chars.symbols[2:4] == ["<bos>", "<eos>"]
    tokens = TokenTable.load(prepared / "dump" / "tokens.txt")
    stats = Stats(json.loads((prepared / "dump" / "stats.json").read_text()))
    data = TTSDataset(prepared / "data" / "train", tokens, stats, chars=chars, input="chars")
    norm = read_table(prepared / "data" / "train" / "norm_text")
    phones = read_table(prepared / "data" / "train" / "phones")
    for uid, it in zip(data.ids, data.items):
        assert it["text"].tolist() == chars.encode_utterance(norm[uid].lower()) and it["chars"] is it["text"]
        assert it["phones"].tolist() == tokens.encode(phones[uid])    # the G2P targets stay phonemes
    cfg = {**TINY, "data": {"input": "chars"}, "train": {**TINY["train"], "max_steps": 10},
           "tasks": {"alignment": {}, "duration": {}, "pitch": {"weight": 0.1}, "energy": {"weight": 0.1},
                     "mel": {}, "g2p": {"weight": 0.5}}}
    (tmp_path / "chars.yaml").write_text(yaml.safe_dump(cfg))
    exp = tmp_path / "exp"
    mtts("train", "-c", tmp_path / "chars.yaml", "--data-dir", prepared / "data", "--dump-dir", prepared / "dump",
         "--exp-dir", exp)
    ckpt = exp / "checkpoints" / "step_0000010.pt"
    ck = checkpoint.load(ckpt)
    assert ck["config"]["data"]["input"] == "chars" and ck["chars"] == chars.symbols
    assert ck["model"]["encoder.embed.weight"].shape[0] == len(chars)
    lines = [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]
    assert all({"loss_mel", "loss_g2p", "gradnorm_g2p"} <= set(r) for r in lines if r["split"] == "train")
    assert any(r["split"] == "dev" and "mel_l1" in r and "g2p_per" in r for r in lines)
    synth = Synthesizer.load(ckpt)
    assert synth.input_ids("hello there") == chars.encode_utterance("hello there")
    wav, _ = synth("Hello there.", n_iter=2)
    assert len(wav) > 0 and synth.phonemizer.calls == 0                # no espeak at synthesis
    mtts("synthesize", "-m", ckpt, "-t", "Hello there.", "--out", tmp_path / "c.wav", "--n-iter", 2)
    assert sf.info(str(tmp_path / "c.wav")).frames > 0
    res = runner.invoke(app, ["synthesize", "-m", str(ckpt), "-t", "Hello.", "--input", "phonemes",
                              "--out", str(tmp_path / "p.wav")])
    assert res.exit_code == 1 and "this model reads characters" in res.output
    mtts("evaluate", "--exp-dir", exp, "--data-dir", prepared / "data", "--split", "dev", "--metrics", "tasks")
    summary = json.loads((exp / "eval" / "dev" / "summary.json").read_text())
    assert summary[-1]["metrics"]["mel_l1"] > 0 and "g2p_per" in summary[-1]["metrics"]
    # the vocoder's gta_model reads characters too
    from mtts.vocoder.train import teacher_forced_mels
    mels = teacher_forced_mels(ckpt, prepared / "data" / "dev", stats.d, synth.params)
    feats = read_table(prepared / "data" / "dev" / "feats.scp")
    assert set(mels) == set(feats) and all(mels[u].shape == np.load(feats[u])["mel"].shape for u in mels)
    if importlib.util.find_spec("onnx") is None:
        return
    from mtts.export import OnnxSynthesizer
    text = mtts("export", "-m", ckpt, "--out", tmp_path / "onnx")
    rec = json.loads(text[text.index("{"):])
    assert rec["check"]["mel_max_abs_diff"] < 1e-3
    meta = json.loads((tmp_path / "onnx" / "meta.json").read_text())
    assert meta["input"] == "chars" and meta["chars"] == chars.symbols
    assert OnnxSynthesizer(tmp_path / "onnx").ids("Hello there.")[0].tolist() == synth.input_ids("hello there.")


def test_features_that_do_not_fit_in_memory_are_streamed(prepared, tmp_path):
    """data.load: stream (or auto over the memory budget) reads each utterance's features when it
    is batched: the same items, the same batches, the same training as with everything in memory."""
    from test_bad_input import fails

    from mtts.data.dataset import Stats, TTSDataset
    from mtts.text.tokens import TokenTable
    tokens = TokenTable.load(prepared / "dump" / "tokens.txt")
    stats = Stats(json.loads((prepared / "dump" / "stats.json").read_text()))
    split = prepared / "data" / "train"
    memory = TTSDataset(split, tokens, stats, load="memory")
    streamed = TTSDataset(split, tokens, stats, load="stream")
    assert not memory.streaming and streamed.streaming
    assert all("feats" not in it for it in streamed.items)          # nothing acoustic held
    assert TTSDataset(split, tokens, stats, memory_budget=0).streaming
    assert not TTSDataset(split, tokens, stats, memory_budget=10 ** 12).streaming
    assert streamed.ids == memory.ids and streamed.lengths == memory.lengths
    for i in range(len(memory)):
        a, b = memory[i], streamed[i]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a if k != "id")
    runs = {}
    for load in ("memory", "stream"):
        cfg = {**TINY, "data": {"load": load}, "train": {**TINY["train"], "max_steps": 4, "log_every": 1}}
        (tmp_path / f"{load}.yaml").write_text(yaml.safe_dump(cfg))
        mtts("train", "-c", tmp_path / f"{load}.yaml", "--data-dir", prepared / "data", "--dump-dir",
             prepared / "dump", "--exp-dir", tmp_path / load)
        rows = [json.loads(l) for l in (tmp_path / load / "metrics.jsonl").read_text().splitlines()]
        runs[load] = [{k: v for k, v in r.items() if k.startswith("loss_")} for r in rows if r["split"] == "train"]
    assert len(runs["memory"]) == 4 and "loss_mel" in runs["memory"][0] and runs["memory"] == runs["stream"]
    (tmp_path / "bad.yaml").write_text("data: {load: disk}\n")
    fails(["train", "-c", tmp_path / "bad.yaml", "--data-dir",
           prepared / "data", "--dump-dir", prepared / "dump", "--exp-dir", tmp_path / "bad"],
          "data.load", "auto, memory, stream")



def test_vocoder_training_streams_audio_that_does_not_fit_in_memory(prepared, tmp_path):
    """load: stream reads each recording when a batch takes it: the same pairs and the same
    training as with every recording in memory; auto streams over the memory budget."""
    from mtts.data.dataset import Stats
    from mtts.features.audio import FeatureParams
    from mtts.vocoder.train import load_pairs
    stats = Stats(json.loads((prepared / "dump" / "stats.json").read_text()))
    params = FeatureParams.from_dict(json.loads((prepared / "dump" / "feature_params.json").read_text()))
    split = prepared / "data" / "train"
    memory = load_pairs(split, stats, params, load="memory")
    streamed = load_pairs(split, stats, params, load="stream")
    assert streamed.read is not None and memory.read is None and streamed.frames == memory.frames
    assert load_pairs(split, stats, params, load="auto", memory_budget=0).read is not None
    assert load_pairs(split, stats, params, load="auto", memory_budget=10 ** 12).read is None
    for (m1, y1), (m2, y2) in zip(memory, streamed):
        assert torch.equal(m1, m2) and torch.equal(y1, y2) and len(y1) == m1.shape[0] * params.hop_length
    assert streamed.longer_than(10 ** 6).frames == [] and len(streamed[1:3]) == 2
    runs = {}
    for load in ("memory", "stream"):
        (tmp_path / f"{load}.yaml").write_text(yaml.safe_dump({"dim": 32, "intermediate": 64, "layers": 2,
                                                               "batch_size": 4, "log_every": 1, "load": load}))
        mtts("train-vocoder", "-c", tmp_path / f"{load}.yaml", "--data-dir", prepared / "data", "--dump-dir",
             prepared / "dump", "--exp-dir", tmp_path / load, "--max-steps", 3)
        rows = [json.loads(l) for l in (tmp_path / load / "metrics.jsonl").read_text().splitlines()]
        runs[load] = [{k: v for k, v in r.items() if k not in ("s_per_step", "elapsed_s")}
                      for r in rows if r["split"] == "train"]
    assert len(runs["memory"]) == 3 and "lr" in runs["memory"][0] and len(runs["memory"][0]) > 3
    assert runs["memory"] == runs["stream"]
