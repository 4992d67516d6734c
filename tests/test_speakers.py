"""Multi-speaker models: the speaker column and data-dir files, the speaker table and where it
is used, the speaker tasks (gradient reversal included), the speaker map in model files and
ONNX exports, and every stage on a two-voice espeak-ng corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from typer.testing import CliRunner

from mtts import checkpoint
from mtts.cli import app
from mtts.data.corpora import read_ljspeech
from mtts.data.datadir import read_spk2id, validate_datadir, write_datadir, write_table
from mtts.errors import MttsError
from mtts.model import MultiTaskModel
from mtts.mtl import METHODS
from mtts.tasks.speaker import reverse_gradient
from mtts.train import build_method
from mtts.validate import config_from_dict

from conftest import TINY, VOICES, make_model_package, mtts, random_batch, requires_espeak

runner = CliRunner()
SPEAKER_TASKS = {"alignment": {}, "duration": {}, "pitch": {}, "energy": {}, "mel": {},
                 "speaker": {"weight": 0.1}, "speaker_adversarial": {"weight": 0.1, "scale": 1.0}}


def speaker_batch(seed: int = 0) -> dict:
    return {**random_batch(seed=seed), "speaker": torch.tensor([0, 1, 1])}


def build(tasks: dict | None = None, n_speakers: int = 2, method: str = "static") -> MultiTaskModel:
    torch.manual_seed(0)
    cfg = config_from_dict({**TINY, "tasks": tasks or SPEAKER_TASKS, "mtl": {"method": method}})
    return MultiTaskModel(cfg, 20, 80, (200.0, 30.0), n_speakers=n_speakers)


# the corpus and data dirs

def write_meta(root: Path, lines: list[str]) -> Path:
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_metadata_speaker_column_is_read_and_checked(tmp_path):
    utts, problems = read_ljspeech(write_meta(tmp_path, ["a_1|Hi.|Hi.|alice", "b_1|Yo.|Yo.|bob"]))
    assert [(u.utt_id, u.speaker) for u in utts] == [("a_1", "alice"), ("b_1", "bob")] and not problems
    # three fields: the single speaker as before
    utts, _ = read_ljspeech(write_meta(tmp_path, ["a_1|Hi.|Hi."]))
    assert utts[0].speaker == "spk1"
    # a speaker column on some lines only is a slip that names the line
    _, problems = read_ljspeech(write_meta(tmp_path, ["a_1|Hi.|Hi.|alice", "b_1|Yo.|Yo."]))
    assert problems and "metadata.csv:2: no speaker field" in problems[0]
    _, problems = read_ljspeech(write_meta(tmp_path, ["a_1|Hi.|Hi.| "]))
    assert "metadata.csv:1: 'a_1' has an empty speaker field" in problems[0]
    # a speaker name becomes part of paths: the same check as utterance ids
    with pytest.raises(MttsError, match=r"metadata.csv:2: speaker: id '\.\./x' is not allowed"):
        read_ljspeech(write_meta(tmp_path, ["a_1|Hi.|Hi.|alice", "b_1|Yo.|Yo.|../x"]))


def datadir(path: Path, spk: dict[str, str], spk2id: dict[str, int] | None) -> Path:
    ids = sorted(spk)
    write_datadir(path, {i: f"/w/{i}.wav" for i in ids}, {i: "hi" for i in ids}, spk, {i: 1.0 for i in ids}, spk2id)
    write_table(path / "feats.scp", {i: f"/f/{i}.npz" for i in ids})
    return path


def test_spk2id_is_written_for_several_speakers_and_validated(tmp_path):
    d = datadir(tmp_path / "multi", {"a_1": "alice", "b_1": "bob"}, {"alice": 0, "bob": 1})
    assert validate_datadir(d) == ["a_1", "b_1"]
    assert read_spk2id(d) == {"alice": 0, "bob": 1}
    assert (d / "spk2utt").read_text() == "alice a_1\nbob b_1\n"
    single = datadir(tmp_path / "single", {"a_1": "spk1"}, None)
    assert not (single / "spk2id").exists() and read_spk2id(single) is None
    # a speaker of utt2spk without an index, and indices that are not 0..n-1
    (d / "spk2id").write_text("alice 0\n")
    with pytest.raises(MttsError, match=r"spk2id: has no index for speaker\(s\) bob"):
        validate_datadir(d)
    (d / "spk2id").write_text("alice 0\nbob 2\n")
    with pytest.raises(MttsError, match=r"spk2id: indices must be 0..1"):
        validate_datadir(d)
    (d / "spk2id").write_text("alice 0\nbob x\n")
    with pytest.raises(MttsError, match=r"spk2id:2: speaker 'bob' has index 'x'"):
        validate_datadir(d)


def test_prepare_warns_of_a_speaker_with_no_training_utterance(tmp_path):
    from mtts.data.corpora import split_ids

    from conftest import write_wav
    base = [f"a_{k}" for k in range(6)]
    # a speaker with one utterance that the hash split sends to dev or test
    lonely = next(f"b_{k}" for k in range(100) if f"b_{k}" not in split_ids(base + [f"b_{k}"], 1, 1)["train"])
    lines = [f"{u}|Hello there.|Hello there.|{u[0]}" for u in base + [lonely]]
    root = write_meta(tmp_path / "corpus", lines)
    for k, u in enumerate(base + [lonely]):
        write_wav(root / "wavs" / f"{u}.wav", 1.0, freq=150.0 + 20 * k)
    out = mtts("prepare", root, "--data-dir", tmp_path / "data", "--dump-dir", tmp_path / "dump", "--nj", 1,
               "--n-dev", 1, "--n-test", 1)
    assert "speaker(s) b have no training utterance" in " ".join(out.split())
    assert json.loads(out[out.index("{"):])["speakers"] == 2


# the model

def test_single_speaker_model_has_no_speaker_table_and_keeps_its_weights(tiny_cfg):
    torch.manual_seed(0)
    one = MultiTaskModel(tiny_cfg, 20, 80, (200.0, 30.0))
    also_one = MultiTaskModel(tiny_cfg, 20, 80, (200.0, 30.0), n_speakers=1)
    two = MultiTaskModel(tiny_cfg, 20, 80, (200.0, 30.0), n_speakers=2)
    assert one.speaker_embed is None and also_one.speaker_embed is None
    assert not any(k.startswith("speaker") for k in one.state_dict())
    # the speaker table is the only difference, and it moves no other component's initial weights
    extra = set(two.state_dict()) - set(one.state_dict())
    assert extra == {"speaker_embed.weight"}
    assert all(torch.equal(v, two.state_dict()[k]) for k, v in one.state_dict().items())


def test_speaker_reaches_decoder_and_every_variance_predictor_but_not_h(tiny_cfg):
    model = build(tiny_cfg.tasks).eval()
    text = random_batch()["text"][:1]
    a = model.infer(text, speaker=torch.tensor([0]))
    b = model.infer(text, speaker=torch.tensor([1]))
    for task in ("duration", "pitch", "energy"):    # each predictor hears the speaker
        key = "log_dur" if task == "duration" else "pred"
        assert not torch.allclose(a["preds"][task][key], b["preds"][task][key]), task
    ctx_a, _ = model.infer_text(text, torch.tensor([text.shape[1]]), torch.tensor([0]))
    ctx_b, _ = model.infer_text(text, torch.tensor([text.shape[1]]), torch.tensor([1]))
    assert torch.equal(ctx_a.h, ctx_b.h)             # the shared text encoding carries no speaker
    assert not torch.allclose(ctx_a.h_dec, ctx_b.h_dec)   # the decoder's input does
    # training batches of a multi-speaker model must say whose they are
    with pytest.raises(MttsError, match="speaker indices"):
        model(random_batch())


def test_speaker_tasks_train_and_need_several_speakers():
    model = build()
    out = model(speaker_batch())
    assert {"speaker", "speaker_adversarial"} <= set(out["losses"])
    sum(out["losses"].values()).backward()
    assert model.speaker_embed.weight.grad.abs().sum() > 0
    metrics = model.metrics(out, speaker_batch())
    assert 0 <= metrics["speaker_acc"] <= 1 and 0 <= metrics["speaker_adv_acc"] <= 1
    with pytest.raises(MttsError, match="task 'speaker' needs a multi-speaker corpus"):
        build({k: v for k, v in SPEAKER_TASKS.items() if k != "speaker_adversarial"}, n_speakers=0)
    with pytest.raises(MttsError, match="tasks.speaker_adversarial.scale"):
        build({**SPEAKER_TASKS, "speaker_adversarial": {"scale": -1.0}})
    with pytest.raises(MttsError, match="tasks.speaker.source"):
        build({**SPEAKER_TASKS, "speaker": {"source": "wav"}})


def test_speaker_classifier_from_the_decoder_states_too():
    model = build({**SPEAKER_TASKS, "speaker": {"source": "decoder"}})
    assert "speaker" in model(speaker_batch())["losses"]


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_adversarial_gradient_at_the_encoder_is_the_classifiers_reversed(scale):
    """The gradient the adversarial loss sends into h is -scale times that of the same
    classifier without the reversal layer; the classifier's own gradient is not reversed."""
    model = build({**SPEAKER_TASKS, "speaker_adversarial": {"scale": scale}})
    batch = speaker_batch()
    out = model(batch)
    h, task = out["shared"]["h"], model.tasks["speaker_adversarial"]
    g_adv = torch.autograd.grad(out["losses"]["speaker_adversarial"], h, retain_graph=True)[0]
    plain = torch.nn.functional.cross_entropy(task.head(h, out["ctx"].text_mask), batch["speaker"])
    g_plain = torch.autograd.grad(plain, h, retain_graph=True)[0]
    assert g_plain.abs().sum() > 0
    torch.testing.assert_close(g_adv, -scale * g_plain)
    head = list(task.head.parameters())
    torch.testing.assert_close(torch.autograd.grad(out["losses"]["speaker_adversarial"], head, retain_graph=True),
                               torch.autograd.grad(plain, head))
    x = torch.randn(3, requires_grad=True)
    reverse_gradient(x, scale).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -scale))


def test_speaker_tasks_reach_the_encoder_through_h():
    """Both are tasks at h for the weighting methods (GradNorm balances them there, Jacobian
    methods make them rows): the classifier through the decoder, the adversary through h."""
    assert build().encoder_tasks()["h"] == ["alignment", "pitch", "energy", "mel", "speaker", "speaker_adversarial"]


@pytest.mark.parametrize("name", ["static", "gradnorm", "upgrad"])
def test_weighting_methods_step_with_the_speaker_tasks(name):
    model = build(method=name)
    cfg = config_from_dict({**TINY, "tasks": SPEAKER_TASKS, "mtl": {"method": name}})
    method = build_method(cfg, model)
    out = model(speaker_batch())
    weights = method.backward(out["losses"], out["shared"])
    assert {"speaker", "speaker_adversarial"} <= set(weights)
    assert all(np.isfinite(w) for w in weights.values())
    assert model.encoder.embed.weight.grad.abs().sum() > 0
    assert model.tasks["speaker_adversarial"].head.net[0].weight.grad.abs().sum() > 0
    assert name in METHODS


# model files

def test_package_keeps_the_speaker_map_and_names_the_known_speakers(tmp_path):
    cfg = config_from_dict({**TINY, "tasks": SPEAKER_TASKS})
    from mtts.features.audio import FeatureParams
    from mtts.text.tokens import BASE_SYMBOLS, TokenTable
    stats = {"mel_mean": [-4.0] * 80, "mel_std": [2.0] * 80, "pitch_mean": 200.0, "pitch_std": 30.0,
             "energy_mean": -3.0, "energy_std": 1.0}
    tokens = TokenTable.build([], BASE_SYMBOLS)
    model = MultiTaskModel(cfg, len(tokens), 80, (200.0, 30.0), n_speakers=2)
    pkg = checkpoint.Package(cfg, tokens, FeatureParams(), stats, model.state_dict(), speakers={"alice": 0, "bob": 1})
    pkg.save(tmp_path / "m.safetensors")
    back = checkpoint.Package.load(tmp_path / "m.safetensors")
    assert back.speakers == {"alice": 0, "bob": 1} and back.build_model().n_speakers == 2
    assert checkpoint.speaker_index(back.speakers, "bob") == 1 and checkpoint.speaker_index(back.speakers, None) is None
    with pytest.raises(MttsError, match="unknown speaker 'carol': this model knows alice, bob"):
        checkpoint.speaker_index(back.speakers, "carol")
    with pytest.raises(MttsError, match="single speaker; leave out --speaker"):
        checkpoint.speaker_index(None, "alice")
    with pytest.raises(MttsError, match="speaker indices are not 0..1"):
        checkpoint.check_speakers({"alice": 0, "bob": 5}, "m.pt")


def test_old_and_single_speaker_model_files_speak_as_before_and_refuse_a_speaker(tmp_path):
    from mtts.synthesize import Synthesizer
    old = make_model_package(tmp_path / "old.pt", frames_per_token=2)   # no "speakers" entry at all
    assert "speakers" not in torch.load(old, weights_only=True)
    pkg = checkpoint.Package.load(old)
    assert pkg.speakers is None and pkg.build_model().speaker_embed is None
    out = runner.invoke(app, ["synthesize", "-m", str(old), "--text", "Hi.", "--speaker", "alice",
                              "--out", str(tmp_path / "x.wav")])
    assert out.exit_code == 1 and "this model has a single speaker; leave out --speaker" in out.output
    assert Synthesizer.load(old).speakers is None


@requires_espeak
def test_serve_lists_the_speakers_and_speaks_in_each(tmp_path):
    httpx = pytest.importorskip("httpx", reason="the serve extra is not installed")
    pytest.importorskip("uvicorn", reason="the serve extra is not installed")
    from test_serve import running

    from mtts.serve import Limits, create_app, load_synthesizers
    model = make_model_package(tmp_path / "m.pt", frames_per_token=2, speakers={"alice": 0, "bob": 1})
    with running(create_app(load_synthesizers(model), Limits(timeout_s=600), n_iter=2)) as url, \
            httpx.Client(base_url=url, timeout=600) as client:
        assert [v["id"] for v in client.get("/api/voices").json()["voices"]] == ["alice", "bob"]
        wavs = {}
        for spk in ("alice", "bob"):
            res = client.post("/api/tts", json={"text": "The birch canoe slid.", "speaker": spk})
            assert res.status_code == 200, res.text
            wavs[spk] = res.content
        assert wavs["alice"] != wavs["bob"]
        res = client.post("/api/tts", json={"text": "Hi.", "speaker": "carol"})
        assert res.status_code == 422 and res.json() == {
            "error": "speaker 'carol' is not one of this model's voices (alice, bob)", "parameter": "speaker"}


# every stage on two voices (about a minute: marked slow)


@pytest.fixture(scope="module")
def multi(two_voice_corpus, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("multi")
    mtts("prepare", two_voice_corpus, "--data-dir", work / "data", "--dump-dir", work / "dump", "--nj", 2,
         "--n-dev", 2, "--n-test", 2)
    mtts("tokenize", "--data-dir", work / "data", "--dump-dir", work / "dump")
    cfg = {**TINY, "tasks": SPEAKER_TASKS, "train": {**TINY["train"], "max_steps": 10, "ckpt_every": 10}}
    (work / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    mtts("train", "-c", work / "tiny.yaml", "--data-dir", work / "data", "--dump-dir", work / "dump",
         "--exp-dir", work / "exp")
    return work


@pytest.mark.slow
def test_prepare_writes_the_speaker_files(multi):
    for split in ("train", "dev", "test"):
        d = multi / "data" / split
        assert read_spk2id(d) == {"alice": 0, "bob": 1}
        utt2spk = dict(line.split() for line in (d / "utt2spk").read_text().splitlines())
        assert all(spk == utt.split("_")[0] for utt, spk in utt2spk.items())


@pytest.mark.slow
def test_training_logs_speaker_tasks_and_saves_the_speakers(multi):
    ck = checkpoint.load(checkpoint.resolve(multi / "exp", ""))
    assert ck["speakers"] == {"alice": 0, "bob": 1}
    dev = [json.loads(line) for line in (multi / "exp" / "metrics.jsonl").read_text().splitlines()
           if '"dev"' in line]
    assert {"speaker_acc", "speaker_adv_acc", "loss_speaker_adversarial"} <= set(dev[-1])


@pytest.mark.slow
def test_evaluate_per_speaker_and_synthesize_each_voice(multi, tmp_path):
    exp = multi / "exp"
    mtts("evaluate", "--exp-dir", exp, "--data-dir", multi / "data", "--split", "dev", "--metrics", "tasks,speed")
    result = json.loads((exp / "eval" / "dev" / "summary.json").read_text())[-1]
    dev_speakers = sorted({line.split()[1] for line in (multi / "data" / "dev" / "utt2spk").read_text().splitlines()})
    assert sorted(result["per_speaker"]) == dev_speakers
    for row in result["per_speaker"].values():
        assert row["utterances"] >= 1 and "mel_l1" in row["metrics"]
    assert "## Per speaker" in (exp / "eval" / "dev" / "report.md").read_text()
    mtts("select-best", "--exp-dir", exp)
    model = exp / "best.safetensors"
    wavs = {}
    for spk in VOICES:
        mtts("synthesize", "-m", model, "--text", "The birch canoe slid.", "--speaker", spk, "--out",
             tmp_path / f"{spk}.wav", "--vocoder", "griffin-lim")
        wavs[spk] = sf.read(tmp_path / f"{spk}.wav")[0]
    a, b = wavs.values()
    assert len(a) != len(b) or not np.allclose(a, b)   # two voices, two renderings
    out = runner.invoke(app, ["synthesize", "-m", str(model), "--text", "Hi.", "--speaker", "carol",
                              "--out", str(tmp_path / "c.wav")])
    assert out.exit_code == 1 and "unknown speaker 'carol': this model knows alice, bob" in out.output
    assert not (tmp_path / "c.wav").exists()
    out = mtts("synthesize", "-m", model, "--text", "Hi.", "--out", tmp_path / "d.wav", "--vocoder", "griffin-lim")
    assert "speaking as alice" in out


@pytest.mark.slow
def test_free_running_listening_speaks_each_dev_sentence_in_its_voice(multi, monkeypatch):
    import mtts.evaluate.listen as listen_mod
    import mtts.evaluate.metrics as metrics
    from mtts.data.dataset import Stats
    from mtts.synthesize import Synthesizer
    from mtts.text.phonemize import Phonemizer
    monkeypatch.setattr(listen_mod, "check_available", lambda: None)
    monkeypatch.setattr(metrics, "transcribe", lambda wav, sr: "")
    heard = []
    monkeypatch.setattr(Synthesizer, "__call__", lambda self, text, **kw: heard.append(
        (self.speakers, kw.get("speaker"))) or (np.zeros(100, np.float32), {}))
    pkg = checkpoint.Package.load(checkpoint.resolve(multi / "exp", ""))
    dev = multi / "data" / "dev"
    listen = listen_mod.FreeRunning(dev, 2, pkg.tokens, Stats(pkg.stats), pkg.feature_params, "builtin", None,
                                    Phonemizer(), pkg.speakers)
    listen(pkg.build_model())
    utt2spk = dict(line.split() for line in (dev / "utt2spk").read_text().splitlines())
    assert heard == [(pkg.speakers, utt2spk[u]) for u in sorted(utt2spk)[:2]]


@pytest.mark.slow
def test_a_held_out_speaker_in_the_data_is_named(multi, tmp_path):
    """A model scored on sentences of a voice it never heard stops with the voice's name."""
    import shutil
    data = tmp_path / "data"
    shutil.copytree(multi / "data" / "dev", data / "dev")
    utt2spk = (data / "dev" / "utt2spk").read_text().splitlines()
    first = utt2spk[0].split()[0]
    (data / "dev" / "utt2spk").write_text("\n".join([f"{first} carol"] + utt2spk[1:]) + "\n")
    spk2utt = {}
    for line in (data / "dev" / "utt2spk").read_text().splitlines():
        u, s = line.split()
        spk2utt.setdefault(s, []).append(u)
    write_table(data / "dev" / "spk2utt", {s: " ".join(u) for s, u in spk2utt.items()})
    (data / "dev" / "spk2id").write_text("alice 0\nbob 1\ncarol 2\n")
    out = runner.invoke(app, ["evaluate", str(checkpoint.resolve(multi / "exp", "")), "--exp-dir", str(tmp_path),
                              "--data-dir", str(data), "--split", "dev"])
    assert out.exit_code == 1 and "speaker 'carol'" in out.output and "known: alice, bob" in out.output


@pytest.mark.slow
def test_onnx_export_takes_the_speaker_and_keeps_the_names(multi, tmp_path):
    pytest.importorskip("onnxruntime")
    model = multi / "exp" / "best.safetensors"
    if not model.is_file():
        mtts("evaluate", "--exp-dir", multi / "exp", "--data-dir", multi / "data", "--split", "dev")
        mtts("select-best", "--exp-dir", multi / "exp")
    summary = json.loads(mtts("export", "-m", model, "--out", tmp_path / "onnx"))
    assert summary["check"]["speakers"] == 2 and summary["check"]["mel_max_abs_diff"] < 1e-3
    meta = json.loads((tmp_path / "onnx" / "meta.json").read_text())
    assert meta["speakers"] == {"alice": 0, "bob": 1}
    import onnxruntime as ort
    sess = ort.InferenceSession(str(tmp_path / "onnx" / "encoder.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["text", "length_scale", "speaker"]
    from mtts.export import OnnxSynthesizer
    onnx_synth = OnnxSynthesizer(tmp_path / "onnx")
    ids = onnx_synth.ids("The birch canoe slid.")
    a, b = onnx_synth.norm_mel(ids, speaker="alice"), onnx_synth.norm_mel(ids, speaker="bob")
    assert a.shape != b.shape or not np.allclose(a, b)
    with pytest.raises(MttsError, match="this model knows alice, bob"):
        onnx_synth.norm_mel(ids, speaker="carol")


# the voice each evaluated sentence is spoken in

def _split(root: Path, utt2spk: dict[str, str] | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    if utt2spk is not None:
        write_table(root / "utt2spk", utt2spk)
    return root


def test_evaluate_speaks_each_sentence_in_a_named_or_its_own_voice(tmp_path):
    from types import SimpleNamespace

    from mtts.evaluate import voices
    multi, single = SimpleNamespace(speakers={"alice": 0, "bob": 1}), SimpleNamespace(speakers=None)
    items = [("u1", "Hi.", None), ("u2", "Yo.", None)]
    dev = _split(tmp_path / "dev", {"u1": "bob", "u2": "alice"})
    assert voices(multi, Path("m"), items, dev, None) == {"u1": "bob", "u2": "alice"}
    assert voices(multi, Path("m"), items, dev, "bob") == {"u1": "bob", "u2": "bob"}
    assert voices(multi, Path("m"), items, None, "alice") == {"u1": "alice", "u2": "alice"}
    assert voices(single, Path("m"), items, None, None) == {}
    # never the first voice by default: that scores a voice nobody asked for
    with pytest.raises(MttsError, match=r"m speaks 2 voices \(alice, bob\): pass --speaker NAME"):
        voices(multi, Path("m"), items, None, None)
    with pytest.raises(MttsError, match=r"nou2s/utt2spk does not exist.*pass --speaker NAME"):
        voices(multi, Path("m"), items, _split(tmp_path / "nou2s", None), None)
    with pytest.raises(MttsError, match=r"no speaker for 'u2'"):
        voices(multi, Path("m"), items, _split(tmp_path / "part", {"u1": "bob"}), None)
    with pytest.raises(MttsError, match=r"unknown speaker 'carol': this model knows alice, bob"):
        voices(multi, Path("m"), items, None, "carol")
    with pytest.raises(MttsError, match=r"--speaker 'bob': m has one voice"):
        voices(single, Path("m"), items, None, "bob")


def test_a_text_list_is_compared_with_its_voices_recordings_only(tmp_path):
    from mtts.evaluate.similarity import check_references
    two = _split(tmp_path / "two", {"a1": "alice", "b1": "bob"})
    check_references(two, "bob")
    with pytest.raises(MttsError, match=r"holds 2 voices \(alice, bob\) and none is 'carol'"):
        check_references(two, "carol")
    with pytest.raises(MttsError, match=r"holds 2 voices \(alice, bob\) and no --speaker names one"):
        check_references(two, None)   # a one-voice model: which of the two is it to sound like?
    # one voice: that is the reference, whatever voice the model speaks in
    check_references(_split(tmp_path / "one", {"a1": "alice"}), "carol")
    check_references(_split(tmp_path / "unnamed", None), None)
