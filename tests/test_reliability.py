"""Promises of docs/reliability.md that the other test files do not already check: locks on
experiment and dump dirs, a dying feature worker, size limits, hostile configs and audio.
Each runs a real command as a user would and expects one `error:` line and exit code 1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mtts.cli import app

from test_bad_input import corpus, fails, no_temp_files, ok, prepare

runner = CliRunner()


# ---------------------------------------------------------------- locks

def hold_lock(directory: Path) -> subprocess.Popen:
    """Another process holding DIR/.lock, as a running `mtts train` or `prepare` would."""
    code = ("import sys, time; from mtts.io import DirLock; lock = DirLock(sys.argv[1], 'x').acquire(); "
            "print('locked', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("command", ["train", "train-vocoder"])
def test_a_second_training_run_on_one_exp_dir_is_refused_with_the_holders_pid(tmp_path, command):
    exp = tmp_path / "exp"
    holder = hold_lock(exp)
    try:
        out = fails([command, "--exp-dir", exp, "--data-dir", tmp_path / "data", "--dump-dir", tmp_path / "dump"],
                    str(exp), "in use by another training run", f"pid {holder.pid}", "--exp-dir")
        assert len(out.split("error:")) == 2
        assert sorted(p.name for p in exp.iterdir()) == [".lock"]   # nothing of its own written
    finally:
        kill(holder)


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    from mtts.run import Run
    exp = tmp_path / "exp"
    kill(hold_lock(exp))      # SIGKILL: the .lock file stays, holding a dead pid
    assert (exp / ".lock").read_text().strip()
    run = Run(exp, max_steps=1)
    assert (exp / ".lock").read_text().split()[0] == str(os.getpid())
    with run:
        pass
    Run(exp, max_steps=1).__exit__(None, None, None)   # released at the end of the block: a next run gets it


def test_two_prepare_into_one_dump_dir(tmp_path):
    root = corpus(tmp_path)
    holder = hold_lock(tmp_path / "dump")
    try:
        fails(prepare(root, tmp_path), str(tmp_path / "dump"), "in use by another prepare", f"pid {holder.pid}",
              "--dump-dir")
        assert not (tmp_path / "data").exists() and not (tmp_path / "dump" / "feats").exists()
    finally:
        kill(holder)
    ok(prepare(root, tmp_path))    # the lock of the killed holder is taken over


# ---------------------------------------------------------------- a feature worker that dies

def test_a_worker_that_dies_is_named_and_the_finished_features_are_kept(tmp_path, monkeypatch):
    root = corpus(tmp_path, 10)
    feats = tmp_path / "dump" / "feats"
    monkeypatch.setenv("_MTTS_TEST_WORKER_CRASH", "U7")   # that worker kills itself with SIGSEGV
    out = fails(prepare(root, tmp_path)[:-6] + ["--nj", 2, "--n-dev", 1, "--n-test", 1],
                "worker died (signal 11) while on utterance U7", "U7.wav", "kept", "rerun to continue")
    assert "BrokenProcessPool" not in out and len(out.split("error:")) == 2
    kept = {p.name: p.stat().st_mtime_ns for p in feats.glob("*.npz")}
    assert "U0.npz" in kept and "U7.npz" not in kept
    assert not (tmp_path / "data").exists()
    no_temp_files(tmp_path)
    assert not list(feats.glob(".working.*"))
    monkeypatch.delenv("_MTTS_TEST_WORKER_CRASH")
    ok(prepare(root, tmp_path))   # the rerun continues: finished files are not extracted again
    assert {n: (feats / n).stat().st_mtime_ns for n in kept} == kept
    assert len(list(feats.glob("*.npz"))) == 10


def test_an_incomplete_feature_file_is_extracted_again(tmp_path):
    root = corpus(tmp_path)
    ok(prepare(root, tmp_path))
    f = tmp_path / "dump" / "feats" / "U3.npz"
    good = f.read_bytes()
    f.write_bytes(good[: len(good) // 2])   # e.g. copied in by hand and cut short
    ok(prepare(root, tmp_path))
    assert f.read_bytes() == good


def test_numba_caches_under_the_users_cache_unless_set(tmp_path):
    code = "import os, mtts; print(os.environ['NUMBA_CACHE_DIR'])"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    run = lambda env: subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,  # noqa: E731
                                     text=True, check=True).stdout.strip()
    assert run({**env, "XDG_CACHE_HOME": str(tmp_path)}) == str(tmp_path / "mtts" / "numba")
    assert run({**env, "NUMBA_CACHE_DIR": "/elsewhere"}) == "/elsewhere"
