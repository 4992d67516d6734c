import pytest
import torch

from mtts.errors import MttsError
from mtts.model import MultiTaskModel
from mtts.mtl import METHODS
from mtts.validate import config_from_dict

from conftest import TINY, random_batch


def fit(model, cfg, batch, steps: int = 100) -> tuple[dict, dict]:
    """Train on one fixed batch with the static sum: the first and the last step's losses."""
    method = METHODS["static"]({k: v.get("weight", 1.0) for k, v in cfg.tasks.items()})
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(steps):
        out = model(batch)
        opt.zero_grad()
        method.backward(out["losses"], out["shared"])
        opt.step()
        losses = {k: v.item() for k, v in out["losses"].items()}
        first = first or losses
    return first, losses


def test_forward_backward_and_infer_shapes(tiny_cfg):
    torch.manual_seed(0)
    model = MultiTaskModel(tiny_cfg, 20, 80, (200.0, 30.0))
    batch = random_batch()
    out = model(batch)
    assert set(out["losses"]) == {"alignment", "duration", "pitch", "energy", "mel"}
    assert set(out["shared"]) == {"h"} and out["shared"]["h"].shape == (3, 12, 32)
    assert out["preds"]["mel"]["mel"].shape == (3, 60, 80)
    assert out["ctx"].durations.sum(1).tolist() == [60, 45, 30]
    assert all(torch.isfinite(v) for v in out["losses"].values())
    sum(out["losses"].values()).backward()
    assert model.encoder.embed.weight.grad.abs().sum() > 0
    model.eval()
    inf = model.infer(batch["text"][:1, :12])
    assert inf["mel"].shape[0] == 1 and inf["mel"].shape[2] == 80
    assert inf["mel"].shape[1] == int(inf["durations"].sum())


def test_task_without_its_batch_field_contributes_no_loss(tiny_cfg):
    model = MultiTaskModel(tiny_cfg, 20, 80)
    batch = random_batch()
    del batch["pitch"]
    assert "pitch" not in model(batch)["losses"]


def test_loss_falls_on_a_fixed_tiny_batch(tiny_cfg):
    torch.manual_seed(0)
    model = MultiTaskModel(tiny_cfg, 20, 80, (200.0, 30.0))
    first, losses = fit(model, tiny_cfg, random_batch())
    for task in ("mel", "duration", "alignment"):
        assert losses[task] < 0.7 * first[task], (task, first[task], losses[task])


def test_bf16_autocast_trains_like_fp32_and_aligns_in_fp32(tiny_cfg):
    """train.precision: bf16 runs the forward pass under autocast: the alignment scores stay
    float32 (MAS gives the same durations as in fp32 from the same weights), and the losses
    fall on a fixed batch about as far as in fp32."""
    from mtts.precision import autocast
    batch = random_batch()
    final, durations = {}, {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = MultiTaskModel(tiny_cfg, 20, 80, (200.0, 30.0))
        method = METHODS["static"]({k: v.get("weight", 1.0) for k, v in tiny_cfg.tasks.items()})
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        for step in range(60):
            with autocast(precision):
                out = model(batch)
            if step == 0:
                assert out["preds"]["alignment"]["scores"].dtype == torch.float32
                durations[precision] = out["ctx"].durations
                first = {k: v.item() for k, v in out["losses"].items()}
            opt.zero_grad()
            method.backward(out["losses"], out["shared"])
            opt.step()
        assert all(p.dtype == torch.float32 for p in model.parameters())   # master weights stay fp32
        final[precision] = {k: v.item() for k, v in out["losses"].items()}
        assert final[precision]["mel"] < 0.7 * first["mel"], precision
    assert out["preds"]["mel"]["mel"].dtype == torch.bfloat16             # the network did run in bf16
    assert torch.equal(durations["fp32"], durations["bf16"])
    assert abs(final["bf16"]["mel"] - final["fp32"]["mel"]) < 0.1 * final["fp32"]["mel"]


@pytest.mark.parametrize("bad,match", [
    ({"model": {"d_modle": 8}}, "unknown config key 'model.d_modle'"),
    ({"train": {"lr": "fast"}}, "'train.lr' must be float"),
    ({"train": {"max_steps": 1.5}}, "'train.max_steps' must be int"),
    ({"tasks": {"mel": {}, "alignment": {}, "duration": {}, "prosody": {}}}, "unknown task 'prosody'"),
    ({"tasks": {"mel": {}}}, "must enable the 'alignment' task"),
    ({"tasks": {"mel": {"weight": -1}, "alignment": {}, "duration": {}}}, "tasks.mel.weight"),
    ({"mtl": {"method": "magic"}}, "unknown mtl.method 'magic'"),
    ({"train": {"precision": "fp16"}}, "'train.precision' must be one of fp32, bf16"),
    ({"data": {"input": "graphemes"}}, "'data.input' must be one of phones, chars, got 'graphemes'"),
])
def test_config_errors_name_the_key(bad, match):
    with pytest.raises(MttsError, match=match):
        config_from_dict(bad)


def test_unknown_task_option_is_an_error():
    """The tasks registry checks each task's options with the config: one line naming the key."""
    with pytest.raises(MttsError, match=r"unknown config key 'tasks.duration.hiden' \(known: weight, hidden, detach\)"):
        config_from_dict({**TINY, "tasks": {"mel": {}, "alignment": {}, "duration": {"hiden": 3}}})


def test_g2p_task_learns_phonemes_from_characters():
    from mtts.tasks.g2p import edit_distance
    assert edit_distance([1, 2, 3], [1, 3]) == 1 and edit_distance([], [4, 5]) == 2
    cfg = config_from_dict({**TINY, "tasks": {"alignment": {}, "duration": {}, "mel": {}, "g2p": {"upsample": 2}}})
    with pytest.raises(MttsError, match="character table"):
        MultiTaskModel(cfg, 20, 80)
    torch.manual_seed(0)
    model = MultiTaskModel(cfg, 20, 80, n_chars=12)
    batch = random_batch()
    # characters: a fixed function of the phonemes, so the mapping is learnable
    batch["chars"] = (batch["text"] % 10 + 2) * (batch["text"] > 0)
    batch["chars_lens"] = batch["text_lens"].clone()
    batch["phones"], batch["phones_lens"] = batch["text"], batch["text_lens"]   # the G2P targets
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        out = model(batch)
        opt.zero_grad()
        out["losses"]["g2p"].backward()
        opt.step()
        first = first or out["losses"]["g2p"].item()
    assert out["losses"]["g2p"].item() < 0.5 * first
    per = model.metrics(out, batch)["g2p_per"]
    assert 0.0 <= per < 0.6
    ids = model.phonemes_from_chars(batch["chars"][:1, :12])[0]
    assert all(0 < i < 20 for i in ids)


@pytest.mark.parametrize("source", ["decoder", "mel"])
def test_recognition_task_reads_phonemes_back_from_the_acoustic_side(source):
    cfg = config_from_dict({**TINY, "tasks": {"alignment": {}, "duration": {}, "mel": {},
                                              "recognition": {"source": source, "weight": 0.5}}})
    torch.manual_seed(0)
    model = MultiTaskModel(cfg, 20, 80)
    batch = random_batch()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        out = model(batch)
        opt.zero_grad()
        sum(out["losses"].values()).backward()
        opt.step()
        first = first or out["losses"]["recognition"].item()
    assert out["losses"]["recognition"].item() < 0.5 * first
    # its gradient reaches the shared encoder (through the decoder)
    out = model(batch)
    model.zero_grad()
    out["losses"]["recognition"].backward()
    assert model.encoder.embed.weight.grad.abs().sum() > 0
    per = model.metrics(out, batch)["recognition_per"]
    assert 0.0 <= per <= 1.0


def test_recognition_source_is_checked():
    cfg = config_from_dict({**TINY, "tasks": {"alignment": {}, "duration": {}, "mel": {},
                                              "recognition": {"source": "wav"}}})
    with pytest.raises(TypeError, match="decoder"):
        MultiTaskModel(cfg, 20, 80)


def test_attention_equals_multihead_attention_with_the_same_weights():
    """Blocks attend through scaled_dot_product_attention with nn.MultiheadAttention's
    weights: the same function, so checkpoints from either path load and agree."""
    from mtts.layers import Block
    torch.manual_seed(0)
    block = Block(64, 2, 2, 3, 0.0).eval()
    x = torch.randn(2, 10, 64)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 7:] = False
    h = block.ln1(x)
    ref = block.attn(h, h, h, key_padding_mask=~mask, need_weights=False)[0]
    assert torch.allclose(block._attend(h, mask)[mask], ref[mask], atol=1e-6)


ALL_TASKS = {"alignment": {}, "duration": {}, "pitch": {}, "energy": {}, "mel": {}, "g2p": {}, "recognition": {}}


def test_model_refuses_a_task_reading_what_nothing_before_it_writes(monkeypatch):
    """The flow is checked at build: a task may read only context fields the model's
    steps or an earlier task write, in training and at synthesis."""
    import mtts.model
    from mtts.tasks import TASKS
    from mtts.tasks.base import Task

    class Probe(Task):
        name, stage = "probe", "align"
        reads = ("h", "mel_pred")          # the mel decoder runs in a later stage

        def forward(self, ctx, batch):
            return {}

    table = dict(TASKS)
    table = {"alignment": table["alignment"], "probe": Probe} | {k: table[k] for k in TASKS if k != "alignment"}
    monkeypatch.setattr(mtts.model, "TASKS", table)
    cfg = config_from_dict(TINY)
    cfg.tasks["probe"] = {}
    with pytest.raises(MttsError, match="task 'probe' reads mel_pred in training"):
        MultiTaskModel(cfg, 20, 80)
    Probe.reads, Probe.infer_reads = ("h", "durations"), ("durations",)   # durations: written by alignment
    with pytest.raises(MttsError, match="task 'probe' reads durations in synthesis"):
        MultiTaskModel(cfg, 20, 80)    # ... but at synthesis the duration predictor's come after it
    Probe.infer_reads = ("h",)
    MultiTaskModel(cfg, 20, 80)
    Probe.reads = ("h", "f0")
    with pytest.raises(MttsError, match="unknown context field"):
        MultiTaskModel(cfg, 20, 80)
    # the stages follow the table: a table out of stage order is refused
    monkeypatch.setattr(mtts.model, "TASKS", {"mel": TASKS["mel"], "alignment": TASKS["alignment"],
                                              "duration": TASKS["duration"]})
    with pytest.raises(MttsError, match="stage order"):
        MultiTaskModel(config_from_dict(TINY), 20, 80)


@pytest.mark.parametrize("source", ["decoder", "mel"])
def test_tasks_touch_only_the_context_fields_they_declare(monkeypatch, source):
    """Each task's forward, loss, metrics and infer read and write exactly its declared
    fields: what the build-time check trusts."""
    import dataclasses

    import mtts.model
    from mtts.tasks.base import Context
    fields = {f.name for f in dataclasses.fields(Context)}
    current, log = [None], []

    class Recording(Context):
        def __getattribute__(self, k):
            if k in fields and current[0]:
                log.append((current[0], "r", k))
            return object.__getattribute__(self, k)

        def __setattr__(self, k, v):
            if k in fields and current[0]:
                log.append((current[0], "w", k))
            object.__setattr__(self, k, v)

    monkeypatch.setattr(mtts.model, "Context", Recording)
    torch.manual_seed(0)
    cfg = config_from_dict({**TINY, "tasks": {**ALL_TASKS, "recognition": {"source": source}}})
    model = MultiTaskModel(cfg, 20, 80, (200.0, 30.0), n_chars=12)
    def as_task(name, fn):
        def wrapped(*a, **k):
            current[0] = name
            try:
                return fn(*a, **k)
            finally:
                current[0] = None
        return wrapped

    for name, task in model.tasks.items():
        for method in ("forward", "loss", "metrics", "infer"):
            setattr(task, method, as_task(name, getattr(task, method)))
    batch = random_batch()
    batch["chars"] = (batch["text"] % 10 + 2) * (batch["text"] > 0)
    batch["chars_lens"] = batch["text_lens"].clone()
    batch["phones"], batch["phones_lens"] = batch["text"], batch["text_lens"]   # the G2P targets
    out = model(batch)
    model.metrics(out, batch)
    training = list(log)
    log.clear()
    model.eval()
    model.infer(batch["text"][:1, :12])
    assert set(out["losses"]) == set(ALL_TASKS)
    for name, task in model.tasks.items():
        for got, reads, writes in ((training, task.reads, task.writes), (log, task.infer_reads, task.infer_writes)):
            assert {k for n, op, k in got if n == name and op == "r"} == set(reads), name
            assert {k for n, op, k in got if n == name and op == "w"} == set(writes), name


def test_pitch_predictor_learns_what_the_decoder_is_fed_on_unvoiced_phonemes(tiny_cfg):
    """Phonemes without a voiced frame are fed 0 in training; the predictor is trained
    towards 0 there too, so synthesis feeds the decoder what training did."""
    torch.manual_seed(0)
    model = MultiTaskModel(tiny_cfg, 20, 80, (200.0, 30.0))
    batch = random_batch()
    batch["pitch"][:, :30] = 0.0                     # the first frames unvoiced in every utterance
    out = model(batch)
    pred, ctx = out["preds"]["pitch"], out["ctx"]
    unvoiced = ~pred["defined"] & ctx.text_mask
    assert unvoiced.any() and (pred["target"][unvoiced] == 0).all()
    grad = torch.autograd.grad(out["losses"]["pitch"], pred["pred"])[0]
    assert (grad[unvoiced] != 0).all()               # the loss reaches the unvoiced phonemes
    assert (grad[~ctx.text_mask] == 0).all()         # but never the padding


def test_same_seed_gives_the_same_initial_shared_encoder_whatever_the_tasks():
    """Each component starts from its own generator of (train.seed, its name): a variant with
    other tasks (here g2p, whose character embedding used to be drawn before the transformer)
    starts from the same encoder and the same mel head, whatever the global RNG held; the
    global RNG is left as it was."""
    def build(tasks, seed=1234, **kw):
        cfg = config_from_dict({**TINY, "tasks": tasks, "train": {**TINY["train"], "seed": seed}})
        return MultiTaskModel(cfg, 20, 80, **kw)

    def shared(model):
        return {k: v for k, v in model.state_dict().items() if k.startswith(("encoder.embed.", "encoder.transformer."))}

    torch.manual_seed(1)
    before = torch.get_rng_state()
    few = build({"alignment": {}, "duration": {}, "mel": {}})
    assert torch.equal(torch.get_rng_state(), before)   # training draws from what seed_everything set
    torch.manual_seed(2)
    many = build(ALL_TASKS, n_chars=12)
    a, b = shared(few), shared(many)
    assert len(a) > 10 and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(v, many.tasks["mel"].state_dict()[k]) for k, v in few.tasks["mel"].state_dict().items())
    other = shared(build({"alignment": {}, "duration": {}, "mel": {}}, seed=4321))
    assert not any(torch.equal(a[k], other[k]) for k in a if a[k].dim() > 1)   # every random matrix differs


CHAR_TASKS = {"alignment": {}, "duration": {}, "pitch": {}, "energy": {}, "mel": {}, "g2p": {"upsample": 2},
              "recognition": {"weight": 0.5}}


def char_batch(n_chars=20, seed=0) -> dict:
    """A corpus batch of a character-input model: `text` the characters (also `chars`), the
    G2P targets a fixed function of them, so the mapping is learnable."""
    batch = random_batch(n_tokens=n_chars, seed=seed)
    batch["chars"], batch["chars_lens"] = batch["text"], batch["text_lens"]
    batch["phones"] = (batch["text"] % 10 + 4) * (batch["text"] > 0)
    batch["phones_lens"] = batch["text_lens"].clone()
    return batch


def test_a_character_input_model_trains_on_characters_and_shares_them_with_g2p():
    cfg = config_from_dict({**TINY, "tasks": CHAR_TASKS, "data": {"input": "chars"}})
    with pytest.raises(MttsError, match="character table"):
        MultiTaskModel(cfg, 16, 80)
    model = MultiTaskModel(cfg, 16, 80, (200.0, 30.0), n_chars=20)
    assert model.input == "chars" and model.encoder.char_embed is None
    assert model.encoder.embed.num_embeddings == 20                    # the encoder reads characters
    assert model.tasks["recognition"].proj.out_features == 20          # and recognition reads them back
    assert model.tasks["g2p"].proj.out_features == 2 * 16              # g2p still predicts phonemes
    assert "g2p" in model.encoder_tasks()["h"]                           # through the shared encoding h
    # the transformer starts as in a phoneme model of the same seed
    phones = MultiTaskModel(config_from_dict({**TINY, "tasks": CHAR_TASKS}), 16, 80, n_chars=20)
    assert all(torch.equal(v, phones.encoder.transformer.state_dict()[k])
               for k, v in model.encoder.transformer.state_dict().items())
    batch = char_batch()
    first, losses = fit(model, cfg, batch)
    out = model(batch)
    assert set(losses) == set(CHAR_TASKS)
    for task in ("mel", "duration", "alignment", "g2p"):
        assert losses[task] < 0.7 * first[task], (task, first[task], losses[task])
    assert out["preds"]["g2p"]["log_probs"].shape[1] == 2 * batch["text"].shape[1]   # on the character encoding
    assert out["ctx"].h_chars is out["ctx"].h
    # a lexicon batch: its words are encoded as the shared h, and only g2p has a loss
    lexicon = {k: batch[k] for k in ("chars", "chars_lens", "phones", "phones_lens")}
    out = model(lexicon)
    assert set(out["losses"]) == {"g2p"} and set(out["shared"]) == {"h"}
    assert out["shared"]["h"].shape == (3, 12, 32)
    model.eval()
    inf = model.infer(batch["text"][:1])
    assert inf["durations"].shape == (1, 12) and inf["mel"].shape[1] == int(inf["durations"].sum()) > 0


def test_decoder_position_jitter_shifts_positions_in_training_only():
    from mtts.layers import Transformer, sinusoids
    torch.manual_seed(0)
    net = Transformer(16, 1, 2, 2, 3, 0.0, position_jitter=50)
    x = torch.zeros(4, 20, 16)
    pos = net.positions(x)                         # training: each row starts somewhere in [0, 50]
    table = sinusoids(70, 16)
    starts = [next(o for o in range(51) if torch.allclose(p, table[o:o + 20])) for p in pos]
    assert len(set(starts)) > 1                    # not one offset for the whole batch
    net.eval()                                     # synthesis: from frame 0, as without jitter
    assert torch.equal(net.positions(x)[0], table[:20])
    still = Transformer(16, 1, 2, 2, 3, 0.0)
    assert torch.equal(still.positions(x)[0], table[:20])


def test_decoder_position_jitter_reaches_the_mel_decoder(tiny_cfg):
    cfg = config_from_dict({**TINY, "model": {**TINY["model"], "decoder_position_jitter": 30}})
    model = MultiTaskModel(cfg, n_tokens=12, n_mels=8)
    assert model.tasks["mel"].decoder.position_jitter == 30
    assert model.encoder.transformer.position_jitter == 0   # the text encoder keeps its positions


def test_the_mel_front_of_an_utterance_does_not_depend_on_its_batchs_padding():
    """The recognition and speaker tasks' conv front: an utterance padded to a longer batch
    (its predicted mel zero there, as the mel task makes it) gets the features it gets alone."""
    from torch import nn

    from mtts.tasks.base import MelFront
    torch.manual_seed(0)
    front = MelFront(8, 16)
    mel = torch.randn(1, 10, 8)
    alone = front(mel, torch.ones(1, 10, dtype=torch.bool))
    padded = torch.cat([mel, torch.zeros(1, 7, 8)], 1)
    mask = torch.arange(17)[None] < 10
    assert torch.allclose(front(padded, mask)[:, :10], alone, atol=1e-6)
    # the same layers unmasked: the first conv's bias makes the padding non-zero for the second
    plain = nn.Sequential(*front)
    unmasked = plain(padded.transpose(1, 2)).transpose(1, 2)[:, :10]
    assert not torch.allclose(unmasked, plain(mel.transpose(1, 2)).transpose(1, 2), atol=1e-4)
