"""Training survives SIGKILL at random points and ends bit-identical to an uninterrupted
run; SIGTERM/SIGINT save a checkpoint and exit cleanly."""

from __future__ import annotations

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
CFG = {**TINY, "train": {**TINY["train"], "max_steps": STEPS, "ckpt_every": 2, "log_every": 1,
                          "keep_checkpoints": 2, "num_threads": 1}}


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
    return w


def train_cmd(w: Path, exp: str, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "mtts.cli", "train", "-c", str(w / "cfg.yaml"), "--data-dir", str(w / "data"),
           "--dump-dir", str(w / "dump"), "--exp-dir", str(w / exp)]
    return cmd + (["--resume"] if resume else [])


def final_state(w: Path, exp: str) -> dict:
    return checkpoint.load(w / exp / "checkpoints" / f"step_{STEPS:07d}.pt")


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
def test_sigkill_at_random_points_then_resume_equals_uninterrupted_run(work):
    subprocess.run(train_cmd(work, "ref", False), check=True, capture_output=True)
    rng = random.Random(7)
    kills, resume = 0, False
    while kills < KILLS:
        proc = subprocess.Popen(train_cmd(work, "killed", resume), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        resume = True
        wait_for_step(work / "killed" / "metrics.jsonl", proc)
        time.sleep(rng.uniform(0.0, 1.5))  # somewhere inside a step, a log write or a save
        if proc.poll() is not None:
            break  # finished before we could kill it
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        (work / "killed" / "metrics.jsonl").unlink(missing_ok=True) if kills % 4 == 0 else None
    subprocess.run(train_cmd(work, "killed", resume), check=True, capture_output=True)
    assert kills >= min(KILLS, 3), f"only {kills} kills landed"
    assert_same(final_state(work, "ref"), final_state(work, "killed"))
    assert not list((work / "killed" / "checkpoints").glob(".*.tmp"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_save_and_exit_cleanly(work, sig):
    exp = f"sig{int(sig)}"
    proc = subprocess.Popen(train_cmd(work, exp, False), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_step(work / exp / "metrics.jsonl", proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    ckpts = checkpoint.list_checkpoints(work / exp / "checkpoints")
    assert ckpts, "no checkpoint saved on the signal"
    step = checkpoint.load(ckpts[-1])["step"]
    assert 1 <= step <= STEPS
