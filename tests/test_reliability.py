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
import soundfile as sf
from test_bad_input import corpus, fails, no_temp_files, ok, prepare

from conftest import make_model_package, requires_espeak

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


# ---------------------------------------------------------------- synthesis: size limits and hostile text

@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model_package(tmp_path_factory.mktemp("model") / "model.pt")


def synth_file(model: Path, tmp_path: Path, content: bytes, *extra) -> list:
    (tmp_path / "in.txt").write_bytes(content)
    return ["synthesize", "-m", model, "--text-file", tmp_path / "in.txt", "--out", tmp_path / "out",
            "--n-iter", 1, *extra]


def test_a_runaway_word_is_refused_before_any_work(model, tmp_path):
    from mtts.limits import MAX_CHARS
    word = "a" * 100_000
    fails(["synthesize", "-m", model, "-t", word, "--out", tmp_path / "o.wav"],
          "--text is 100,000 characters", f"limit of {MAX_CHARS:,}", "--max-chars")
    fails(synth_file(model, tmp_path, b"fine|Hello.\nbig|" + word.encode() + b"\n"), "in.txt:2", "--max-chars")
    fails(synth_file(model, tmp_path, b"x" * 1_000_000), "in.txt:1", "1,000,000 characters")
    assert not (tmp_path / "o.wav").exists() and not (tmp_path / "out").exists()


@requires_espeak
def test_audio_longer_than_the_limit_stops_early_and_writes_nothing(model, tmp_path):
    text = "One sentence here. " * 20
    fails(["synthesize", "-m", model, "-t", text, "--out", tmp_path / "o.wav", "--n-iter", 1,
           "--max-seconds", 0.05], "longer than 0.05 s", "--max-seconds")
    assert not (tmp_path / "o.wav").exists()
    no_temp_files(tmp_path)


def test_limits_can_be_lifted():
    from mtts.errors import MttsError
    from mtts.limits import check_chars, check_seconds
    check_chars("a" * 10 ** 6, "x", 0)
    check_seconds(10 ** 6, 0)
    with pytest.raises(MttsError):
        check_seconds(901)


@pytest.mark.parametrize("content,needles", [
    (b"good|Hello.\nbad|nul\x00byte\n", ["in.txt:2", "NUL byte"]),
    (b"good|Hello.\n\xff\xfe broken\n", ["in.txt:2", "not UTF-8"]),
])
def test_text_file_that_is_not_text(model, tmp_path, content, needles):
    fails(synth_file(model, tmp_path, content), *needles)
    assert not (tmp_path / "out").exists()


@requires_espeak
def test_emoji_only_line_names_its_id_and_a_long_word_is_read(model, tmp_path):
    fails(synth_file(model, tmp_path, "a|Hi.\nsmile|\U0001F600\U0001F602\n".encode()), "in.txt, id smile",
          "nothing to say")
    ok(synth_file(model, tmp_path, b"w|" + b"abcdefghij" * 200 + b"\n"))   # 2,000 letters, no space
    assert sf.info(tmp_path / "out" / "w.wav").duration > 0


# ---------------------------------------------------------------- configs

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")) + "train: {seed: 1}\n"


@pytest.mark.parametrize("command", ["train", "train-vocoder"])
@pytest.mark.parametrize("yaml_text,needles", [
    (LAUGHS, ["expands to more than 100,000 values", "aliases"]),
    ("train: !!python/object/apply:os.system [echo hi]\n", ["not valid YAML"]),
    ("[" * 10000 + "]" * 10000, ["nested too deeply"]),
])
def test_hostile_yaml_is_refused(tmp_path, command, yaml_text, needles):
    (tmp_path / "c.yaml").write_text(yaml_text)
    fails([command, "-c", tmp_path / "c.yaml", "--exp-dir", tmp_path / "exp"], "c.yaml", *needles)
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("yaml_text,key", [
    ("train: {lr: .nan}\n", "'train.lr' must be a finite number"),
    ("train: {lr: -0.001}\n", "'train.lr' must be > 0"),
    ("train: {batch_frames: 1000000000000}\n", "'train.batch_frames' must be >= 1 and <= 1e+07"),
    ("train: {max_minutes: .inf}\n", "'train.max_minutes' must be a finite number"),
    ("train: {seed: -1}\n", "'train.seed' must be >= 0"),
    ("model: {dropout: 1.5}\n", "'model.dropout'"),
    ("train: {warmup_steps: -5}\n", "'train.warmup_steps' must be >= 0"),
    ("tasks: {alignment: {}, duration: {}, mel: {weight: .nan}}\n", "'tasks.mel.weight' must be a finite number"),
    ("data: {mix: {corpus: .inf}}\n", "'data.mix.corpus' must be a finite number"),
])
def test_absurd_numbers_in_the_training_config(tmp_path, yaml_text, key):
    (tmp_path / "c.yaml").write_text(yaml_text)
    fails(["train", "-c", tmp_path / "c.yaml", "--exp-dir", tmp_path / "exp"], "c.yaml", key)


@pytest.mark.parametrize("yaml_text,key", [
    ("lr: -1\n", "'lr' must be > 0"),
    ("batch_size: 1000000000000\n", "'batch_size'"),
    ("mel_weight: .nan\n", "'mel_weight' must be a finite number"),
])
def test_absurd_numbers_in_the_vocoder_config(tmp_path, yaml_text, key):
    (tmp_path / "c.yaml").write_text(yaml_text)
    fails(["train-vocoder", "-c", tmp_path / "c.yaml", "--exp-dir", tmp_path / "exp"], "c.yaml", key)


def test_an_override_with_an_absurd_number_names_the_key(tmp_path):
    fails(["train", "--max-steps", -3, "--exp-dir", tmp_path / "exp"], "'train.max_steps' must be >= 0")


# ---------------------------------------------------------------- audio

def wav_header_only(path: Path, seconds: float, sr: int = 22050) -> None:
    """A 16-bit mono WAV whose header says `seconds` long, its data a sparse hole (no disk used)."""
    import struct
    n = int(seconds * sr) * 2
    head = b"RIFF" + struct.pack("<I", 36 + n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, 2 * sr, 2, 16)
    with open(path, "wb") as f:
        f.write(head + b"data" + struct.pack("<I", n))
        f.truncate(44 + n)


def test_audio_with_nan_samples_is_named(tmp_path):
    root = corpus(tmp_path)
    y = 0.3 * np.sin(np.arange(13230) / 20.0)
    y[100:200] = np.nan
    sf.write(root / "wavs" / "U2.wav", y, 22050, subtype="FLOAT")
    fails(prepare(root, tmp_path), "U2.wav", "NaN")
    assert not (tmp_path / "data").exists()


def test_a_two_hour_file_is_refused_from_its_header(tmp_path):
    root = corpus(tmp_path)
    wav_header_only(root / "wavs" / "U2.wav", 2 * 3600)
    t0 = time.time()
    fails(prepare(root, tmp_path), "U2.wav", "too long (7200.0 s")
    assert time.time() - t0 < 120


def test_a_long_file_is_not_read_to_find_it_too_long(tmp_path, monkeypatch):
    from mtts.errors import MttsError
    from mtts.features import audio
    wav_header_only(tmp_path / "long.wav", 2 * 3600)
    monkeypatch.setattr(audio.sf, "read", lambda *a, **k: pytest.fail("the samples were read"))
    with pytest.raises(MttsError, match=r"long.wav: too long \(7200.0 s > 30 s\)"):
        audio.load_audio(tmp_path / "long.wav", 22050, max_seconds=30)


@pytest.mark.parametrize("sr,subtype", [(96000, "PCM_24"), (22050, "PCM_U8"), (8000, "PCM_U8")])
def test_96khz_and_8bit_audio_is_resampled_and_read(tmp_path, sr, subtype):
    root = corpus(tmp_path)
    t = np.arange(int(0.6 * sr)) / sr
    sf.write(root / "wavs" / "U2.wav", 0.3 * np.sin(2 * np.pi * 180 * t), sr, subtype=subtype)
    ok(prepare(root, tmp_path))
    with np.load(tmp_path / "dump" / "feats" / "U2.npz") as z:
        assert z["mel"].shape == (1 + int(0.6 * 22050) // 256, 80) and np.isfinite(z["mel"]).all()


# ---------------------------------------------------------------- a full disk during training

def test_a_full_disk_while_saving_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import torch

    from mtts import checkpoint, io
    from mtts.errors import MttsError
    from mtts.run import Run
    run = Run(tmp_path / "exp", max_steps=10, keep=1)
    with run:
        run.step = 1
        first = run.save({"w": torch.ones(3)})
        good = first.read_bytes()

        def full_disk(obj, f):
            Path(f).write_bytes(b"half a checkpoint")
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(io.torch, "save", full_disk)
        run.step = 2
        with pytest.raises(MttsError, match="step_0000002.pt: No space left on device"):
            run.save({"w": torch.zeros(3)})
    assert checkpoint.list_checkpoints(tmp_path / "exp" / "checkpoints") == [first]   # not pruned
    assert first.read_bytes() == good
    no_temp_files(tmp_path)


# ---------------------------------------------------------------- data dirs: Kaldi's rules

@pytest.mark.parametrize("damage,needle", [
    (lambda d: (d / "text").write_text("".join(reversed((d / "text").read_text().splitlines(True)))), "not sorted"),
    (lambda d: (d / "spk2utt").write_text("spk1 U0\n"), "does not match utt2spk"),
    (lambda d: (d / "utt2dur").write_text("".join(f"{l.split()[0]} nan\n" for l in
                                                  (d / "utt2dur").read_text().splitlines())), "bad duration"),
    (lambda d: (d / "text").write_bytes(b"U0 caf\xe9\n"), "text:1: not UTF-8"),
])
def test_a_damaged_data_dir_is_refused_by_tokenize(tmp_path, damage, needle):
    root = corpus(tmp_path, 8)
    ok(prepare(root, tmp_path))
    damage(tmp_path / "data" / "train")
    fails(["tokenize", "--data-dir", tmp_path / "data", "--dump-dir", tmp_path / "dump"], "train", needle)
    assert not (tmp_path / "data" / "train" / "phones").exists()
