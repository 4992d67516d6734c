"""Bad input, run through the CLI as a user would: each case ends with one line that
names the file, line or value, exit code 1, no traceback and nothing half-written; the
cases that should work (resampling, stereo, long text) work and are checked."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from mtts.cli import app

from conftest import make_model_package, requires_espeak, write_wav

runner = CliRunner()


def fails(args, *needles: str) -> str:
    """The command exits 1 and its last line is the error; needles may be anywhere."""
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, SystemExit), repr(res.exception)  # no uncaught exception
    assert "Traceback" not in res.output
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("error:"), res.output
    out = " ".join(res.output.split())
    for n in needles:
        assert n in out, (n, out)
    return out


def ok(args) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def no_temp_files(root: Path) -> None:
    assert not [p for p in root.rglob("*.tmp")], "temporary files left behind"


# ---------------------------------------------------------------- synthesize: text

@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model_package(tmp_path_factory.mktemp("model") / "model.pt")


def synth(model: Path, out: Path, text: str, expect_ok: bool, *needles: str):
    args = ["synthesize", "-m", model, "-t", text, "--out", out, "--n-iter", 2]
    if expect_ok:
        ok(args)
        y, sr = sf.read(out)
        assert sr == 22050 and len(y) > 0
        return y
    fails(args, *needles)
    assert not out.exists()
    no_temp_files(out.parent)


@requires_espeak
@pytest.mark.parametrize("text,good,needle", [
    ("", False, "the text is empty"),
    ("   \t  ", False, "the text is empty"),
    ("?!... ,;", False, "no pronounceable words"),
    ("Café naïve Zürich, señor.", True, None),
    ("hello \U0001F600 world \u0007 again\u200b", True, None),
    ("Dr. Who paid $3.50. In the 1990s, on the 3rd, at 4:15 pm.", True, None),
])
def test_synthesize_text_cases(model, tmp_path, text, good, needle):
    synth(model, tmp_path / "o.wav", text, good, *([needle] if needle else []))


@requires_espeak
def test_long_paragraph_is_split_and_joined(model, tmp_path):
    sentence = "This sentence is part of a very long paragraph that goes on and on. "
    text = (sentence * 80)[:5000]
    assert len(text) == 5000
    y_long = synth(model, tmp_path / "long.wav", text, True)
    y_one = synth(model, tmp_path / "one.wav", sentence, True)
    assert len(y_long) > 20 * len(y_one)


def test_output_directory_missing(model, tmp_path):
    fails(["synthesize", "-m", model, "-t", "hi", "--out", tmp_path / "nope" / "o.wav"], "does not exist", "nope")


def test_output_parent_is_a_file(model, tmp_path):
    (tmp_path / "afile").write_text("x")
    fails(["synthesize", "-m", model, "--text-file", tmp_path / "afile", "--out", tmp_path / "afile" / "dir"],
          "afile")


def test_text_file_missing_or_empty(model, tmp_path):
    fails(["synthesize", "-m", model, "--text-file", tmp_path / "none.txt"], "none.txt", "does not exist")
    (tmp_path / "empty.txt").write_text("\n\n")
    fails(["synthesize", "-m", model, "--text-file", tmp_path / "empty.txt"], "empty.txt", "holds no text")


# ---------------------------------------------------------------- checkpoints and configs

def test_missing_checkpoint(tmp_path):
    fails(["synthesize", "-m", tmp_path / "gone.pt", "-t", "hi"], "gone.pt", "does not exist")


def test_truncated_checkpoint(model, tmp_path):
    cut = tmp_path / "cut.pt"
    cut.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    fails(["synthesize", "-m", cut, "-t", "hi"], "cut.pt", "unreadable")


def test_checkpoint_with_other_vocabulary(model, tmp_path):
    ck = torch.load(model, weights_only=True)
    ck["tokens"] = ck["tokens"][:-5]  # table no longer matches the embedding
    torch.save(ck, tmp_path / "other.pt")
    fails(["synthesize", "-m", tmp_path / "other.pt", "-t", "hi"], "other.pt", "do not match")


def test_checkpoint_with_other_config(model, tmp_path):
    ck = torch.load(model, weights_only=True)
    ck["config"]["model"]["d_model"] = 48
    torch.save(ck, tmp_path / "other.pt")
    fails(["synthesize", "-m", tmp_path / "other.pt", "-t", "hi"], "other.pt", "do not match")


def test_not_a_checkpoint(tmp_path):
    torch.save({"weights": 1}, tmp_path / "x.pt")
    fails(["synthesize", "-m", tmp_path / "x.pt", "-t", "hi"], "x.pt", "not an mtts checkpoint")


@pytest.mark.parametrize("yaml_text,needle", [
    ("model:\n  d_modle: 3\n", "unknown config key 'model.d_modle'"),
    ("train:\n  lr: fast\n", "'train.lr' must be float"),
    ("train: [1, 2]\n", "must be a mapping"),
    ("model: {d_model: 8\n", "not valid YAML"),
    ("mtl: {method: uncertainty, weight_lr: 0}\n", "'mtl.weight_lr' must be a number > 0"),
])
def test_bad_configs(tmp_path, yaml_text, needle):
    (tmp_path / "c.yaml").write_text(yaml_text)
    fails(["train", "-c", tmp_path / "c.yaml"], "c.yaml", needle)


# ---------------------------------------------------------------- corpora

def corpus(tmp_path: Path, n: int = 6) -> Path:
    root = tmp_path / "corpus"
    (root / "wavs").mkdir(parents=True)
    lines = []
    for i in range(n):
        write_wav(root / "wavs" / f"U{i}.wav", 0.6, freq=150 + 20 * i)
        lines.append(f"U{i}|Sentence number {i}.|Sentence number {i}.")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n")
    return root


def prepare(root: Path, tmp_path: Path, *extra):
    return ["prepare", root, "--data-dir", tmp_path / "data", "--dump-dir", tmp_path / "dump",
            "--nj", 1, "--n-dev", 1, "--n-test", 1, *extra]


@pytest.mark.parametrize("damage,needles", [
    (lambda r: (r / "wavs" / "U2.wav").unlink(), ["U2.wav", "does not exist", "--skip-bad"]),
    (lambda r: (r / "wavs" / "U2.wav").write_bytes(b""), ["U2.wav", "0 bytes"]),
    (lambda r: (r / "wavs" / "U2.wav").write_bytes(b"RIFF????WAVEfmt garbage" * 3), ["U2.wav", "unreadable"]),
    (lambda r: write_wav(r / "wavs" / "U2.wav", 0.1), ["U2.wav", "too short"]),
    (lambda r: write_wav(r / "wavs" / "U2.wav", 60.0, sr=8000), ["U2.wav", "too long"]),
    (lambda r: sf.write(r / "wavs" / "U2.wav", np.zeros(22050), 22050), ["U2.wav", "silent"]),
    (lambda r: open(r / "metadata.csv", "a").write("U9|one|two|three|four\n"), ["metadata.csv:7", "5 fields"]),
    # a 4th field is a speaker: on one line only, a slip
    (lambda r: open(r / "metadata.csv", "a").write("U9|only|three|spk\n"), ["metadata.csv:7", "speaker field"]),
    (lambda r: open(r / "metadata.csv", "a").write("U1|again|again\n"), ["metadata.csv:7", "duplicate id 'U1'"]),
    (lambda r: open(r / "metadata.csv", "ab").write("U7|caf\u00e9|caf\u00e9\n".encode("latin-1")),
     ["metadata.csv:7", "not UTF-8", "iconv"]),
    (lambda r: open(r / "metadata.csv", "a").write("U8||\n"), ["metadata.csv:7", "empty text"]),
])
def test_bad_corpus_is_reported_and_nothing_is_written(tmp_path, damage, needles):
    root = corpus(tmp_path)
    damage(root)
    fails(prepare(root, tmp_path), *needles)
    assert not (tmp_path / "data").exists()
    no_temp_files(tmp_path)


def test_all_problems_are_listed_at_once_and_skip_bad_drops_them(tmp_path):
    root = corpus(tmp_path, 8)
    (root / "wavs" / "U1.wav").unlink()
    write_wav(root / "wavs" / "U3.wav", 0.05)
    res = runner.invoke(app, [str(a) for a in prepare(root, tmp_path)])
    assert res.exit_code == 1 and "U1.wav" in res.output and "U3.wav" in res.output and "2 problem(s)" in res.output
    assert "summary: 1 does not exist, 1 too short" in res.output
    ok(prepare(root, tmp_path, "--skip-bad"))
    ids = [l.split()[0] for s in ("train", "dev", "test")
           for l in (tmp_path / "data" / s / "wav.scp").read_text().splitlines()]
    assert sorted(ids) == ["U0", "U2", "U4", "U5", "U6", "U7"]


def tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.mark.parametrize("bad_id", ["../../x/name", "sub/name", ".hidden", "a" * 129])
def test_utterance_ids_cannot_escape_their_directories(tmp_path, bad_id):
    """An id becomes `wavs/ID.wav` and `dump/feats/ID.npz`: one that would leave those
    directories (or make a hidden or nested file) is refused, naming the line, and nothing
    is read or written."""
    root = corpus(tmp_path)
    for target in (tmp_path / "x" / "name.wav", root / "wavs" / "sub" / "name.wav"):
        target.parent.mkdir(parents=True, exist_ok=True)
        write_wav(target, 0.6)   # so that, unchecked, the wav would be found and featurised
    with open(root / "metadata.csv", "a") as f:
        f.write(f"{bad_id}|Escaping text.|Escaping text.\n")
    before = tree(tmp_path)
    out = fails(prepare(root, tmp_path), "metadata.csv:7", repr(bad_id), "not allowed")
    assert len(out.split("error:")) == 2
    assert tree(tmp_path) == before, sorted(map(str, tree(tmp_path) - before))


def test_a_good_id_with_dots_and_dashes_works(tmp_path):
    root = corpus(tmp_path)
    write_wav(root / "wavs" / "LJ001-0001.v2_a.wav", 0.6)
    with open(root / "metadata.csv", "a") as f:
        f.write("LJ001-0001.v2_a|A good id.|A good id.\n")
    ok(prepare(root, tmp_path))
    assert (tmp_path / "dump" / "feats" / "LJ001-0001.v2_a.npz").is_file()


def test_data_dir_ids_are_checked(tmp_path):
    from mtts.data.datadir import read_table
    from mtts.errors import MttsError
    (tmp_path / "wav.scp").write_text("U1 /a.wav\n../../etc/x /b.wav\n")
    with pytest.raises(MttsError, match=r"wav.scp:2: id '../../etc/x' is not allowed"):
        read_table(tmp_path / "wav.scp")


def test_synthesis_text_file_ids_are_checked(tmp_path):
    from mtts.errors import MttsError
    from mtts.synthesize import read_text_file
    (tmp_path / "t.txt").write_text("good-1|Hello.\n../out|Bye.\n")
    with pytest.raises(MttsError, match=r"t.txt:2: id '../out' is not allowed"):
        read_text_file(tmp_path / "t.txt")


@pytest.mark.parametrize("variant", ["stereo", "8k", "24bit", "float", "bom", "crlf"])
def test_odd_but_valid_input_is_accepted(tmp_path, variant):
    root = corpus(tmp_path)
    wav = root / "wavs" / "U2.wav"
    if variant == "stereo":
        write_wav(wav, 0.6, channels=2)
    elif variant == "8k":
        write_wav(wav, 0.6, sr=8000)
    elif variant == "24bit":
        write_wav(wav, 0.6, subtype="PCM_24")
    elif variant == "float":
        write_wav(wav, 0.6, subtype="FLOAT")
    elif variant == "bom":
        (root / "metadata.csv").write_bytes(b"\xef\xbb\xbf" + (root / "metadata.csv").read_bytes())
    else:
        (root / "metadata.csv").write_bytes((root / "metadata.csv").read_bytes().replace(b"\n", b"\r\n"))
    ok(prepare(root, tmp_path))
    all_ids = sorted(l.split()[0] for s in ("train", "dev", "test")
                     for l in (tmp_path / "data" / s / "wav.scp").read_text().splitlines())
    assert all_ids == [f"U{i}" for i in range(6)]
    z = np.load(tmp_path / "dump" / "feats" / "U2.npz")
    assert z["mel"].shape == (1 + int(0.6 * 22050) // 256, 80)


# ---------------------------------------------------------------- a full disk

@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("needs root and tmpfs mounts to simulate a full disk")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_disk_full_during_prepare(tmp_path, small_disk):
    root = corpus(tmp_path)
    out = fails(["prepare", root, "--data-dir", tmp_path / "data", "--dump-dir", small_disk, "--nj", 1,
                 "--n-dev", 1, "--n-test", 1], "No space left on device")
    assert str(small_disk) in out
    no_temp_files(small_disk)


def test_disk_full_during_synthesis(model, small_disk):
    big = "This is a long sentence that makes a long wav file. " * 30
    fails(["synthesize", "-m", model, "-t", big, "--out", small_disk / "o.wav", "--n-iter", 1],
          "No space left on device")
    assert not (small_disk / "o.wav").exists()
    no_temp_files(small_disk)


@pytest.fixture
def read_only_dir(tmp_path):
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(mnt)],
                                           capture_output=True).returncode:
        pytest.skip("needs root and tmpfs mounts for a read-only directory")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_output_directory_not_writable(model, read_only_dir):
    fails(["synthesize", "-m", model, "-t", "hello", "--out", read_only_dir / "o.wav", "--n-iter", 1],
          str(read_only_dir), "not writable")


def test_prepare_killed_midway_reruns_to_the_same_result(tmp_path):
    """SIGKILL during feature extraction, rerun: the outputs equal those of a clean run."""
    import signal
    import sys
    import time
    root = corpus(tmp_path, 12)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    ok(prepare(root, clean))
    cmd = [sys.executable, "-m", "mtts.cli", *[str(a) for a in prepare(root, killed)]]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while time.time() - t0 < 60 and not list((killed / "dump" / "feats").glob("*.npz")):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the worker processes too
    proc.wait()
    ok(prepare(root, killed))
    for f in ("train/wav.scp", "dev/text", "test/utt2dur"):
        assert (clean / "data" / f).read_text() == (killed / "data" / f).read_text()
    assert (clean / "dump" / "stats.json").read_text() == (killed / "dump" / "stats.json").read_text()
    for npz in (clean / "dump" / "feats").glob("*.npz"):
        a, b = np.load(npz), np.load(killed / "dump" / "feats" / npz.name)
        assert all(np.array_equal(a[k], b[k]) for k in ("mel", "pitch", "energy"))
    no_temp_files(killed)


def test_outputs_get_the_mode_of_a_plain_write(tmp_path):
    """Atomic writes go through a temp file that mkstemp makes 0600; the renamed file must be
    readable as any file the user writes (here umask 022 -> 0644)."""
    import os
    import stat

    from mtts.io import write_text
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "out.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644
