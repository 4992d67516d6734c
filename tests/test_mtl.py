"""Every weighting method: finite weights, a falling loss on a fixed tiny batch and a
state that survives a checkpoint; gradient methods act on conflicting gradients as
their definitions say."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from mtts.model import MultiTaskModel
from mtts.mtl import METHODS
from mtts.train import build_method, build_optimizer, gradient_stats, same_batch_losses
from mtts.validate import config_from_dict

from conftest import TINY, random_batch

POSITIVE = {"static", "uncertainty", "dwa", "gradnorm", "rlw", "famo", "pcgrad"}


def setup(name: str, **opts):
    torch.manual_seed(0)
    cfg = config_from_dict({**TINY, "mtl": {"method": name, "options": opts}})
    model = MultiTaskModel(cfg, 20, 80, (200.0, 30.0))
    method = build_method(cfg, model)
    opt = torch.optim.Adam(list(model.parameters()) + list(method.parameters()), lr=3e-3)
    return model, method, opt


def step(model, method, opt, batch):
    out = model(batch)
    opt.zero_grad(set_to_none=True)
    w = method.backward(out["losses"], out["shared"])
    opt.step()
    method.after_step(lambda: same_batch_losses(model, batch, "fp32"))
    return {k: v.item() for k, v in out["losses"].items()}, w


@pytest.mark.parametrize("name", list(METHODS))
def test_method_trains_with_valid_weights_and_checkpointable_state(name):
    warnings.simplefilter("ignore")  # cvxpy's DPP notice for Nash-MTL
    opts = {"window": 5} if name == "dwa" else {}
    model, method, opt = setup(name, **opts)
    batch = random_batch()
    first = None
    for _ in range(40):
        losses, w = step(model, method, opt, batch)
        first = first or losses
        assert set(w) == set(losses)
        assert all(torch.isfinite(torch.tensor(v)) for v in w.values()), w
        if name in POSITIVE:
            assert all(v > 0 for v in w.values()), w
        else:
            assert all(v >= 0 for v in w.values()), w
    assert losses["mel"] < 0.85 * first["mel"], (first["mel"], losses["mel"])
    # state survives a round trip into a fresh method
    state = method.state_dict()
    _, fresh, _ = setup(name, **opts)
    fresh.load_state_dict(state)
    assert_same_state(fresh.state_dict(), state)


def assert_same_state(a, b, where: str = "state") -> None:
    """Equal nested states: tensors bit for bit, and the dicts, lists and numbers of extra state."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b), where
    else:
        assert a == b, where


def test_nashmtl_resumes_its_bargaining_from_a_checkpoint(tmp_path):
    """Nash-MTL starts each step's bargaining from the last weights: a model, method and
    optimiser restored from a checkpoint file (read with weights_only=True) go on exactly
    as the uninterrupted ones."""
    from mtts.io import torch_load, torch_save
    warnings.simplefilter("ignore")
    batch = random_batch()
    model, method, opt = setup("nashmtl")
    for _ in range(3):
        step(model, method, opt, batch)
    torch_save({"model": model.state_dict(), "method": method.state_dict(), "opt": opt.state_dict()},
               tmp_path / "ck.pt")
    ck = torch_load(tmp_path / "ck.pt")
    model2, method2, opt2 = setup("nashmtl")
    model2.load_state_dict(ck["model"])
    method2.load_state_dict(ck["method"])
    opt2.load_state_dict(ck["opt"])
    for _ in range(3):
        assert step(model, method, opt, batch)[1] == step(model2, method2, opt2, batch)[1]
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), model2.parameters()))


@pytest.mark.parametrize("name", ["uncertainty", "gradnorm"])
def test_learnt_weights_have_an_optimiser_group_of_their_own_at_a_constant_rate(name):
    cfg = config_from_dict({**TINY, "mtl": {"method": name, "weight_lr": 0.05}})
    model = MultiTaskModel(cfg, 20, 80, (200.0, 30.0))
    method = build_method(cfg, model)
    opt, sched = build_optimizer(cfg, model, method)
    assert [len(g["params"]) for g in opt.param_groups] == [len(list(model.parameters())),
                                                           len(list(method.parameters()))]
    assert {id(p) for p in opt.param_groups[1]["params"]} == {id(p) for p in method.parameters()}
    lrs = []
    for _ in range(cfg.train.max_steps):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    warmup = cfg.train.warmup_steps
    assert lrs[0][0] == pytest.approx(cfg.train.lr / warmup) and lrs[warmup - 1][0] == pytest.approx(cfg.train.lr)
    assert lrs[-1][0] < 0.2 * cfg.train.lr                     # the model's rate decays ...
    assert all(lr == 0.05 for _, lr in lrs)                    # ... the weights' stays put
    static = config_from_dict({**TINY, "mtl": {"method": "static"}})
    assert len(build_optimizer(static, model, build_method(static, model))[0].param_groups) == 1


def test_uncertainty_learns_a_lower_weight_for_a_larger_loss():
    method = METHODS["uncertainty"]({"a": 1.0, "b": 1.0})
    opt = torch.optim.SGD(method.parameters(), lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        x = torch.zeros((), requires_grad=True)
        method.backward({"a": x + 10.0, "b": x + 0.1}, {"h": x})
        opt.step()
    w = {k: float(torch.exp(-v.detach())) for k, v in method.log_vars.items()}
    assert w["a"] < 0.2 < 5 < w["b"]  # the optimum is 1 / L: 0.1 and 10


def test_dwa_favours_the_task_whose_loss_falls_slower():
    method = METHODS["dwa"]({"fast": 1.0, "slow": 1.0}, window=1)
    for t in range(3):
        x = torch.ones((), requires_grad=True)
        method.backward({"fast": x * 0.5 ** t, "slow": x * 0.99 ** t}, {"h": x})
    w = method.current()
    assert w["slow"] > w["fast"] and w["slow"] + w["fast"] == pytest.approx(2.0)


def test_gradnorm_balances_only_the_tasks_that_reach_the_encoder():
    """The detached duration predictor gets no GradNorm gradient: it keeps w = 1 (its static
    weight) exactly, and the renormalisation keeps Σ w = 4 over the four tasks that reach h."""
    model, method, opt = setup("gradnorm")
    batch = random_batch()
    for _ in range(15):
        _, used = step(model, method, opt, batch)
    encoder = model.encoder_tasks()["h"]
    assert "duration" not in encoder and len(encoder) == 4
    assert used["duration"] == method.static["duration"] and method.w["duration"].item() == 1.0
    w = {k: used[k] / method.static[k] for k in encoder}
    assert sum(w.values()) == pytest.approx(4.0, abs=1e-5)
    assert max(abs(v - 1.0) for v in w.values()) > 1e-3, w   # the balanced weights did move


def scalarise(method, values: list[float], after: list[float] | None = None) -> list[float]:
    """Our method's weights on these losses, read back as d(total)/dL_i; with `after`, the
    losses of the same batch after the step, for after_step."""
    losses = {f"t{i}": torch.tensor(v, requires_grad=True) for i, v in enumerate(values)}
    method.backward(losses, {})
    if after is not None:
        method.after_step(lambda: {f"t{i}": torch.tensor(v) for i, v in enumerate(after)})
    return [float(v.grad) for v in losses.values()]


def scalarise_jd(scalarizer, values: list[float]) -> list[float]:
    losses = torch.tensor(values, requires_grad=True)
    scalarizer(losses).backward()
    return losses.grad.tolist()


def test_famo_matches_torchjds_famo_with_a_same_batch_update():
    """On the same losses before and after each step, our FAMO (every task present, λ = 1)
    weighs the losses and moves its logits as torchjd's, the reference code's port, does."""
    from torchjd.scalarization import FAMO as JdFAMO
    g = torch.Generator().manual_seed(0)
    ours = METHODS["famo"]({f"t{i}": 1.0 for i in range(3)}, w_lr=0.025, gamma=0.01)
    theirs = JdFAMO(3, lr=0.025, weight_decay=0.01)
    for _ in range(8):
        before = (torch.rand(3, generator=g) + 0.5).tolist()
        after = [v * float(f) for v, f in zip(before, torch.rand(3, generator=g) * 0.4 + 0.7)]
        w = scalarise(ours, before, after)
        assert w == pytest.approx(scalarise_jd(theirs, before), rel=1e-5, abs=1e-7)
        theirs.update(torch.tensor(after))
        assert torch.allclose(ours.logits, theirs._w.detach(), atol=1e-6), (ours.logits, theirs._w)
    assert ours.logits.abs().max() > 0.05   # the logits did move


def test_famo_learns_from_the_loss_change_of_the_batch_it_stepped_on():
    """after_step's losses are the same batch's after the model's step: the task whose loss
    fell least gains weight, whatever the next batch's losses are."""
    method = METHODS["famo"]({"t0": 1.0, "t1": 1.0})
    for _ in range(20):
        scalarise(method, [1.0, 1.0], after=[0.5, 0.99])   # t0 falls fast, t1 barely
        scalarise(method, [5.0, 0.1])                       # another batch (other data), not stepped on
    z = torch.softmax(method.logits, 0)
    assert z[1] > 0.6 > 0.4 > z[0], z


@pytest.mark.parametrize("name", ["dwa", "rlw", "uncertainty"])
def test_our_scalarisations_match_torchjds_on_the_same_losses(name):
    """Our copies stay (a batch may hold a subset of the tasks, static λ_i scale the
    weights, the state is in the state_dict); with every task present and λ = 1 they
    weigh the losses as torchjd's DWA, Random and UW do (RLW scales by the number of tasks,
    uncertainty weighting's loss is twice UW's)."""
    from torchjd import scalarization
    g = torch.Generator().manual_seed(0)
    n = 3
    tasks = {f"t{i}": 1.0 for i in range(n)}
    ours = METHODS[name](tasks, **({"window": 2} if name == "dwa" else {}))
    theirs = {"dwa": scalarization.DWA, "rlw": scalarization.Random, "uncertainty": lambda: scalarization.UW(n)}[name]()
    scale = {"dwa": 1.0, "rlw": n, "uncertainty": 2.0}[name]
    for t in range(8):
        values = (torch.rand(n, generator=g) + 0.5 * 0.8 ** t).tolist()
        torch.manual_seed(t)    # RLW: both draw from the global RNG
        w = scalarise(ours, values)
        torch.manual_seed(t)
        expected = [scale * v for v in scalarise_jd(theirs, values)]
        assert w == pytest.approx(expected, rel=1e-6), (t, w, expected)
        if name == "dwa" and t % 2 == 1:
            theirs.step()   # the end of one of our windows of 2 steps
        if name == "uncertainty":   # an SGD step on s for both (ours has twice UW's gradient)
            with torch.no_grad():
                for p in ours.log_vars.values():
                    p -= 0.05 * p.grad
                    p.grad = None
                theirs.log_var -= 0.1 * theirs.log_var.grad
                theirs.log_var.grad = None
    if name == "dwa":
        assert len(set(w)) == n    # the weights did leave uniform


class TwoHeads(nn.Module):
    """A shared linear layer and two fixed heads whose gradients conflict. Not a
    MultiTaskModel: a method sees only encoder_tasks() and shared_parameters()."""

    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.trunk.weight.copy_(torch.eye(2))

    def encoder_tasks(self) -> dict[str, list[str]]:
        return {"h": ["a", "b"]}

    def shared_parameters(self) -> dict[str, list[nn.Parameter]]:
        return {"h": list(self.trunk.parameters())}


def grads_for(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    model = TwoHeads()
    method = METHODS[name]({"a": 1.0, "b": 1.0})
    method.bind(model)
    x = torch.tensor([[1.0, 0.0]])
    h = model.trunk(x)
    ga, gb = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])  # cos < 0: conflicting
    losses = {"a": (h[0] * ga).sum(), "b": (h[0] * gb).sum()}
    method.backward(losses, {"h": h})
    # gradients w.r.t. the encoder weight are outer(g, x); read them back on x's column
    return model.trunk.weight.grad[:, 0], ga, gb


def test_pcgrad_removes_the_conflicting_component():
    g, ga, gb = grads_for("pcgrad")
    # PCGrad: project each gradient on the normal plane of the other, then sum
    pa = ga - (ga @ gb) / (gb @ gb) * gb
    pb = gb - (gb @ ga) / (ga @ ga) * ga
    assert torch.allclose(g, pa + pb, atol=1e-5)
    assert g @ ga >= -1e-6 and g @ gb >= -1e-6  # no task is made worse to first order


def test_upgrad_and_mgda_do_not_conflict_with_any_task():
    for name in ("upgrad", "mgda"):
        g, ga, gb = grads_for(name)
        assert g @ ga >= -1e-5 and g @ gb >= -1e-5, name
        assert g.norm() > 0
    g, ga, gb = grads_for("static")
    assert torch.allclose(g, ga + gb)  # the plain sum, for contrast


@pytest.mark.parametrize("name", list(METHODS))
def test_method_handles_a_text_only_batch_between_corpus_batches(name):
    """A lexicon batch carries chars and phonemes only: just the g2p task has a loss,
    no shared phoneme encoding exists, and the method must still step cleanly."""
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    cfg = config_from_dict({**TINY, "tasks": {"alignment": {}, "duration": {}, "mel": {}, "g2p": {}},
                            "mtl": {"method": name, "options": {"window": 2} if name == "dwa" else {}}})
    model = MultiTaskModel(cfg, 20, 80, n_chars=12)
    method = build_method(cfg, model)
    opt = torch.optim.Adam(list(model.parameters()) + list(method.parameters()), lr=3e-3)
    corpus = random_batch()
    corpus["chars"] = (corpus["text"] % 10 + 2) * (corpus["text"] > 0)
    corpus["chars_lens"] = corpus["text_lens"].clone()
    corpus["phones"], corpus["phones_lens"] = corpus["text"], corpus["text_lens"]   # the G2P targets
    lexicon = {k: corpus[k] for k in ("chars", "chars_lens", "text", "text_lens", "phones", "phones_lens")}
    for batch in (corpus, lexicon, corpus, lexicon, corpus):
        out = model(batch)
        opt.zero_grad(set_to_none=True)
        w = method.backward(out["losses"], out["shared"])
        assert set(w) == set(out["losses"]) and all(torch.isfinite(torch.tensor(v)) for v in w.values()), w
        if batch is lexicon:
            assert set(out["losses"]) == {"g2p"} and set(out["shared"]) == {"h_chars"}
            assert model.encoder.char_embed.weight.grad is not None
            assert model.tasks["mel"].proj.weight.grad is None   # no acoustic loss this step
        opt.step()


def g2p_setup(name: str):
    torch.manual_seed(0)
    cfg = config_from_dict({**TINY, "tasks": {"alignment": {}, "duration": {}, "mel": {}, "g2p": {"weight": 0.5}},
                            "mtl": {"method": name}})
    model = MultiTaskModel(cfg, 20, 80, n_chars=12)
    batch = random_batch()
    batch["chars"] = (batch["text"] % 10 + 2) * (batch["text"] > 0)
    batch["chars_lens"] = batch["text_lens"].clone()
    batch["phones"], batch["phones_lens"] = batch["text"], batch["text_lens"]
    return model, build_method(cfg, model), batch


@pytest.mark.parametrize("name", ["upgrad", "mgda"])
def test_g2p_is_a_row_of_the_jacobian_through_the_character_pass(name):
    """g2p reaches the shared transformer through h_chars: the encoder's update is the
    aggregation of the Jacobian whose rows are alignment, mel and g2p (duration reads h
    detached), over the transformer and both embeddings, computed here by hand."""
    from torchjd import aggregation
    warnings.simplefilter("ignore")
    model, method, batch = g2p_setup(name)
    out = model(batch)
    assert set(out["shared"]) == {"h", "h_chars"}
    params = list(model.encoder.parameters())
    rows = [torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(
                torch.autograd.grad(method.static[k] * out["losses"][k], params, retain_graph=True,
                                    allow_unused=True), params)])
            for k in ("alignment", "mel", "g2p")]
    expected = {"upgrad": aggregation.UPGrad, "mgda": aggregation.MGDA}[name]()(torch.stack(rows))
    w = method.backward(out["losses"], out["shared"])
    got = torch.cat([p.grad.flatten() for p in params])
    assert torch.allclose(got, expected, atol=1e-6, rtol=1e-4), (got - expected).abs().max()
    assert w["duration"] == 1.0 and w["g2p"] != 0.5   # g2p weighed by the aggregator, not its static λ


def test_gradient_stats_measure_g2p_at_the_character_pass():
    model, _, batch = g2p_setup("static")
    out = model(batch)
    stats = gradient_stats(model, out["losses"], out["shared"])
    g = torch.autograd.grad(out["losses"]["g2p"], out["shared"]["h_chars"], retain_graph=True)[0]
    assert stats["gradnorm_g2p"] == pytest.approx(float(g.norm()))
    # a cosine needs gradients of one tensor: none between g2p (at h_chars) and the tasks at h
    assert set(stats) == {"gradnorm_alignment", "gradnorm_mel", "gradnorm_g2p", "cos_alignment_mel"}


@pytest.mark.parametrize("name", ["gradnorm", "pcgrad", "mgda"])
def test_method_leaves_out_a_task_that_does_not_reach_the_encoder(name):
    """Whatever the tasks are called, a loss outside model.encoder_tasks() is backpropagated
    apart with its static weight and does not enter the gradient methods' aggregation."""
    warnings.simplefilter("ignore")

    class Model(TwoHeads):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(2, 1)

        def encoder_tasks(self) -> dict[str, list[str]]:
            return {"h": ["a", "b"]}      # "side" reads the trunk's output detached

    model = Model()
    method = METHODS[name]({"a": 1.0, "b": 1.0, "side": 2.0})
    method.bind(model)
    x = torch.tensor([[1.0, 0.0]])
    h = model.trunk(x)
    losses = {"a": (h[0] * torch.tensor([1.0, 0.0])).sum(), "b": (h[0] * torch.tensor([-1.0, 1.0])).sum(),
              "side": model.head(h.detach()).sum()}
    w = method.backward(losses, {"h": h})
    assert set(w) == {"a", "b", "side"} and w["side"] == 2.0
    assert torch.allclose(model.head.weight.grad, 2.0 * h.detach())
    assert model.trunk.weight.grad.abs().sum() > 0


def test_model_tells_methods_which_tasks_reach_the_encoder():
    cfg = config_from_dict({**TINY, "tasks": {"alignment": {}, "duration": {}, "pitch": {}, "energy": {},
                                              "mel": {}, "g2p": {}, "recognition": {}}})
    model = MultiTaskModel(cfg, 20, 80, n_chars=12)
    # duration reads h detached, g2p reaches the encoder through the character pass
    assert model.encoder_tasks() == {"h": ["alignment", "pitch", "energy", "mel", "recognition"],
                                     "h_chars": ["g2p"]}
    names = {id(p): n for n, p in model.encoder.named_parameters()}
    shared = {k: {names[id(p)] for p in ps} for k, ps in model.shared_parameters().items()}
    transformer = {n for n in names.values() if n.startswith("transformer.")}
    assert shared == {"h": transformer | {"embed.weight"}, "h_chars": transformer | {"char_embed.weight"}}
    cfg = config_from_dict({**TINY, "tasks": {"alignment": {}, "duration": {"detach": False}, "mel": {}}})
    assert MultiTaskModel(cfg, 20, 80).encoder_tasks() == {"h": ["alignment", "duration", "mel"]}
