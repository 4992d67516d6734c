"""Training (acoustic model and vocoder, one run skeleton) survives SIGKILL at random points
and ends bit-identical to an uninterrupted run; SIGTERM/SIGINT save a checkpoint and exit
cleanly; a log line cut by a kill is dropped on resume; a finished run trains nothing more."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from mtts import checkpoint

from conftest import TINY

KILLS = int(os.environ.get("MTTS_KILL_POINTS", "10"))
STEPS = 30
CFG = {**TINY, "model": {**TINY["model"], "dropout": 0.1},   # dropout: the RNG must resume too
       "train": {**TINY["train"], "max_steps": STEPS, "ckpt_every": 2, "log_every": 1,
                 "keep_checkpoints": 2, "num_threads": 1}}
VOC = {"dim": 16, "intermediate": 32, "layers": 1, "batch_size": 2, "max_steps": STEPS, "ckpt_every": 2,
       "log_every": 1, "keep_checkpoints": 2, "num_threads": 1, "warmup_steps": 2}


@pytest.fixture(scope="module")
def work(espeak_corpus, tmp_path_factory) -> Path:
    from typer.testing import CliRunner

    from mtts.cli import app
    w = tmp_path_factory.mktemp("ft")
    r = CliRunner()
    assert r.invoke(app, ["prepare", str(espeak_corpus), "--data-dir", str(w / "data"),
                          "--dump-dir", str(w / "dump"), "--nj", "1"]).exit_code == 0
    assert r.invoke(app, ["tokenize", "--data-dir", str(w / "data"), "--dump-dir", str(w / "dump")]).exit_code == 0
    (w / "cfg.yaml").write_text(yaml.safe_dump(CFG))
    (w / "voc.yaml").write_text(yaml.safe_dump(VOC))
    return w


LOOPS = ("train", "train-vocoder")


def train_cmd(w: Path, exp: str, resume: bool, loop: str = "train") -> list[str]:
    cfg = w / ("cfg.yaml" if loop == "train" else "voc.yaml")
    cmd = [sys.executable, "-m", "mtts.cli", loop, "-c", str(cfg), "--data-dir", str(w / "data"),
           "--dump-dir", str(w / "dump"), "--exp-dir", str(w / exp)]
    return cmd + (["--resume"] if resume else [])


def final_state(w: Path, exp: str) -> dict:
    return load_state(w / exp / "checkpoints" / f"step_{STEPS:07d}.pt")


def load_state(path: Path) -> dict:
    from mtts.io import torch_load
    return torch_load(path)   # either loop's checkpoint, read as safely as resume reads it


def assert_same(a: dict, b: dict) -> None:
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), f"weights differ at {k}"
    for (ka, sa), (kb, sb) in zip(a["optimizer"]["state"].items(), b["optimizer"]["state"].items()):
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(sa[name], sb[name]), f"optimiser state {name} differs"


def wait_for_step(log: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        if log.is_file() and log.read_text().count("\n") >= 1:
            return
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("loop", LOOPS)
def test_sigkill_at_random_points_then_resume_equals_uninterrupted_run(work, loop):
    ref, killed = f"ref_{loop}", f"killed_{loop}"
    subprocess.run(train_cmd(work, ref, False, loop), check=True, capture_output=True)
    rng = random.Random(7)
    kills, resume = 0, False
    while kills < KILLS:
        proc = subprocess.Popen(train_cmd(work, killed, resume, loop), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        resume = True
        wait_for_step(work / killed / "metrics.jsonl", proc)
        time.sleep(rng.uniform(0.0, 1.5))  # somewhere inside a step, a log write or a save
        if proc.poll() is not None:
            break  # finished before we could kill it
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        (work / killed / "metrics.jsonl").unlink(missing_ok=True) if kills % 4 == 0 else None
    subprocess.run(train_cmd(work, killed, resume, loop), check=True, capture_output=True)
    assert kills >= min(KILLS, 3), f"only {kills} kills landed"
    a, b = final_state(work, ref), final_state(work, killed)
    if loop == "train":
        assert_same(a, b)
    else:
        assert all(torch.equal(v, b["model"][k]) for k, v in a["model"].items()), "vocoder weights differ"
        for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
            assert all(torch.equal(sa[n], sb[n]) for n in ("exp_avg", "exp_avg_sq", "step"))
        assert torch.equal(a["rng"]["torch"], b["rng"]["torch"]) and a["rng"]["python"] == b["rng"]["python"]
        assert a["scheduler"] == b["scheduler"]
    assert not list((work / killed / "checkpoints").glob(".*.tmp"))


def same(a, b, where: str) -> None:
    """Nested checkpoint states equal: tensors bit for bit, plain values by value."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


# options under which each method's state changes across the step-3 checkpoint: DWA's
# windows roll mid-run, Nash-MTL's step counter decides which steps bargain anew
RESUMED = {"rlw": {}, "dwa": {"window": 2}, "famo": {}, "gradnorm": {}, "nashmtl": {"update_weights_every": 2}}


@pytest.mark.parametrize("method", list(RESUMED))
def test_a_resumed_run_equals_an_uninterrupted_one_for_stateful_methods(work, method):
    """With dropout (the RNG) and a method whose state moves every step (random weights, loss
    windows, FAMO's logits, GradNorm's weights in their own optimiser group, Nash-MTL's
    bargaining), a run resumed from its step-3 checkpoint ends at step 6 exactly where the
    uninterrupted run does."""
    import shutil
    import warnings

    from typer.testing import CliRunner

    from mtts.cli import app
    warnings.simplefilter("ignore")   # cvxpy's notices for Nash-MTL
    cfg = {**CFG, "mtl": {"method": method, "options": RESUMED[method]},
           "train": {**CFG["train"], "max_steps": 6, "ckpt_every": 3, "log_every": 3}}
    (work / f"{method}.yaml").write_text(yaml.safe_dump(cfg))
    full, half = work / f"full_{method}", work / f"half_{method}"

    def train(exp: Path, *extra: str) -> None:
        res = CliRunner().invoke(app, ["train", "-c", str(work / f"{method}.yaml"), "--data-dir", str(work / "data"),
                                       "--dump-dir", str(work / "dump"), "--exp-dir", str(exp), *extra])
        assert res.exit_code == 0, res.output
    train(full)
    shutil.copytree(full, half)
    (half / "checkpoints" / "step_0000006.pt").unlink()   # as if killed after the step-3 checkpoint
    train(half, "--resume")
    a, b = (load_state(d / "checkpoints" / "step_0000006.pt") for d in (full, half))
    for key in ("model", "method", "optimizer", "scheduler", "rng"):
        same(a[key], b[key], key)
    mid, state = load_state(full / "checkpoints" / "step_0000003.pt")["method"], a["method"]
    moved = {"rlw": lambda: True,   # its state is the RNG's, compared above
             "dwa": lambda: int(state["windows"]) == 3 and int(mid["windows"]) == 1,
             "famo": lambda: state["logits"].abs().min() > 0 and not torch.equal(state["logits"], mid["logits"]),
             "gradnorm": lambda: any(float(v) != 1.0 for k, v in state.items() if k.startswith("w.")),
             "nashmtl": lambda: state["_extra_state"]["aggregators"][0]["step"] == 6.0}[method]
    assert moved(), state   # the state was in use across the checkpoint, not left at its start
    if method == "gradnorm":
        assert len(a["optimizer"]["param_groups"]) == 2


@pytest.mark.parametrize("loop", LOOPS)
def test_a_log_line_cut_by_a_kill_is_dropped_and_a_finished_run_trains_nothing(work, loop):
    from typer.testing import CliRunner

    from mtts.cli import app
    exp = work / f"cut_{loop}"
    run = CliRunner().invoke(app, train_cmd(work, exp.name, False, loop)[3:] + ["--max-steps", "4"])
    assert run.exit_code == 0, run.output
    log = exp / "metrics.jsonl"
    log.write_text(log.read_text() + '{"split": "train", "step": 3, "lo')   # a kill mid-write
    run = CliRunner().invoke(app, train_cmd(work, exp.name, True, loop)[3:] + ["--max-steps", "6"])
    assert run.exit_code == 0, run.output
    rows = [json.loads(line) for line in log.read_text().splitlines()]   # every line whole again
    assert [r["step"] for r in rows if r["split"] == "train"] == [1, 2, 3, 4, 5, 6]
    # resuming a run that has reached max_steps trains nothing and saves nothing
    final = exp / "checkpoints" / "step_0000006.pt"
    stamp, before = final.stat().st_mtime_ns, log.read_text()
    run = CliRunner().invoke(app, train_cmd(work, exp.name, True, loop)[3:] + ["--max-steps", "6"])
    assert run.exit_code == 0 and final.stat().st_mtime_ns == stamp and log.read_text() == before
    assert '"stopped_by": "max_steps"' in run.output
    assert [p.name for p in checkpoint.list_checkpoints(exp / "checkpoints")] == ["step_0000004.pt",
                                                                                 "step_0000006.pt"]


def test_a_clock_stop_is_reported_as_such(work):
    from typer.testing import CliRunner

    from mtts.cli import app
    run = CliRunner().invoke(app, train_cmd(work, "clock", False)[3:] + ["--max-minutes", "0.0001"])
    assert run.exit_code == 0, run.output
    assert '"stopped_by": "max_minutes"' in run.output and "stopped by the clock" in run.output
    assert checkpoint.list_checkpoints(work / "clock" / "checkpoints")[-1].name == "step_0000001.pt"


@pytest.mark.parametrize("loop", LOOPS)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_save_and_exit_cleanly(work, sig, loop):
    exp = f"sig{int(sig)}_{loop}"
    proc = subprocess.Popen(train_cmd(work, exp, False, loop), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_for_step(work / exp / "metrics.jsonl", proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    ckpts = checkpoint.list_checkpoints(work / exp / "checkpoints")
    assert ckpts, "no checkpoint saved on the signal"
    step = load_state(ckpts[-1])["step"]
    assert 1 <= step <= STEPS


MIX = {**CFG, "tasks": {"alignment": {}, "duration": {}, "mel": {}, "g2p": {}},
       "data": {"mix": {"corpus": 0.8, "lexicon": 0.2}, "lexicon_batch_chars": 400},
       "train": {**CFG["train"], "max_steps": 8, "keep_checkpoints": 0}}


def test_a_lexicon_mix_comes_on_top_of_the_corpus_steps_and_resumes_exactly(work, monkeypatch):
    """data.mix {corpus: 0.8, lexicon: 0.2}: 8 corpus steps train 8 corpus batches (as
    without the lexicon) and 2 lexicon batches, before steps 4 and 8; the schedule counts
    corpus steps; resuming from step 2 replays both extra batches exactly, and a SIGTERM
    during an extra batch still finishes its step before the checkpoint."""
    from typer.testing import CliRunner

    from mtts.cli import app
    r = CliRunner()
    dump = work / "dump_lex"
    if not dump.is_dir():
        import shutil
        shutil.copytree(work / "dump", dump)
        res = r.invoke(app, ["tokenize", "--data-dir", str(work / "data"), "--dump-dir", str(dump),
                             "--lexicon-words", "300"])
        assert res.exit_code == 0, res.output
    for name, mix in (("mix", MIX["data"]["mix"]), ("corpus_only", {"corpus": 1.0})):
        (work / f"{name}.yaml").write_text(yaml.safe_dump({**MIX, "data": {**MIX["data"], "mix": mix}}))

    def train(name: str, exp: str, *extra: str) -> None:
        res = r.invoke(app, ["train", "-c", str(work / f"{name}.yaml"), "--data-dir", str(work / "data"),
                             "--dump-dir", str(dump), "--exp-dir", str(work / exp), *extra])
        assert res.exit_code == 0, res.output

    train("mix", "mix")
    train("corpus_only", "corpus_only")
    full = load_state(work / "mix" / "checkpoints" / "step_0000008.pt")
    alone = load_state(work / "corpus_only" / "checkpoints" / "step_0000008.pt")
    assert full["cursors"]["corpus"] == alone["cursors"]["corpus"]   # the same acoustic budget
    assert full["cursors"]["lexicon"] == [0, 2]
    assert full["scheduler"]["last_epoch"] == 8 == full["step"]
    rows = [json.loads(line) for line in (work / "mix" / "metrics.jsonl").read_text().splitlines()]
    train_rows = [row for row in rows if row["split"] == "train"]
    assert [row["step"] for row in train_rows] == list(range(1, 9))
    assert [row.get("batches_lexicon", 0) for row in train_rows] == [0, 0, 0, 1, 0, 0, 0, 1]
    assert all("loss_mel" in row and "loss_g2p" in row for row in train_rows)
    # killed after the step-2 checkpoint: the resumed run trains the same batches to the same weights
    import shutil
    shutil.copytree(work / "mix", work / "mix_resumed")
    for p in checkpoint.list_checkpoints(work / "mix_resumed" / "checkpoints")[1:]:
        p.unlink()
    train("mix", "mix_resumed", "--resume")
    resumed = load_state(work / "mix_resumed" / "checkpoints" / "step_0000008.pt")
    assert_same(full, resumed)
    assert resumed["cursors"] == full["cursors"]
    # SIGTERM while the lexicon batch before step 4 trains: the step's corpus batch follows, then the save
    from mtts.model import MultiTaskModel
    forward, fired = MultiTaskModel.forward, []

    def forward_then_signal(self, batch):
        if self.training and "feats" not in batch and not fired:   # a training lexicon batch
            fired.append(True)
            os.kill(os.getpid(), signal.SIGTERM)
        return forward(self, batch)

    monkeypatch.setattr(MultiTaskModel, "forward", forward_then_signal)
    train("mix", "mix_signal")
    assert fired and [p.name for p in checkpoint.list_checkpoints(work / "mix_signal" / "checkpoints")] == [
        "step_0000002.pt", "step_0000004.pt"]
    monkeypatch.setattr(MultiTaskModel, "forward", forward)
    train("mix", "mix_signal", "--resume")
    assert_same(full, load_state(work / "mix_signal" / "checkpoints" / "step_0000008.pt"))
