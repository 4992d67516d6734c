"""Streaming synthesis: Synthesizer.stream, the growing wav, and `mtts synthesize --stream`
(--out or --output-raw, text from --text, a file or standard input)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from mtts.cli import app
from mtts.synthesize import GAP_S, NothingToSay, Synthesizer, WavStream, pcm16

from conftest import make_model_package, requires_espeak

runner = CliRunner()
TEXT = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background! Rice is served."


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model_package(tmp_path_factory.mktemp("model") / "model.pt")


@pytest.fixture(scope="module")
def synth(model) -> Synthesizer:
    return Synthesizer.load(model)


@requires_espeak
def test_stream_yields_each_sentence_and_joins_to_the_whole(synth):
    pieces = list(synth.stream(TEXT, n_iter=2, seed=3))
    whole, info = synth(TEXT, n_iter=2, seed=3)
    assert len(pieces) == 3
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    gap = int(GAP_S * synth.params.sample_rate)
    # every piece but the first leads with the pause; each sentence alone is the same audio
    assert not np.any(pieces[1][:gap]) and not np.any(pieces[2][:gap])
    alone = list(synth.stream("Rice is served.", n_iter=2, seed=3 + 2))
    np.testing.assert_array_equal(pieces[2][gap:], alone[0])
    assert info["audio_s"] == pytest.approx(len(whole) / synth.params.sample_rate)


@requires_espeak
def test_stream_skips_silent_pieces_and_refuses_text_with_nothing_to_say(synth):
    assert len(list(synth.stream("Hello there. ?! ... Good night.", n_iter=2))) == 2
    with pytest.raises(NothingToSay):
        list(synth.stream("?! ... ;;", n_iter=2))
    seen = []

    def stop():
        seen.append(1)
        if len(seen) == 2:
            raise TimeoutError("deadline")
    gen = synth.stream(TEXT, n_iter=2, check=stop)
    next(gen)
    with pytest.raises(TimeoutError):   # the check runs before each sentence
        next(gen)


def header_sizes(path: Path) -> tuple[int, int]:
    """The RIFF and data chunk sizes written in a wav's header."""
    head = path.read_bytes()[:256]
    at = head.index(b"data")
    return struct.unpack("<I", head[4:8])[0], struct.unpack("<I", head[at + 4:at + 8])[0]


def test_wav_stream_is_a_valid_wav_after_every_write_and_abort_removes_it(tmp_path):
    path = tmp_path / "grow.wav"
    path.write_bytes(b"old")
    ws = WavStream(path, 22050)
    assert path.read_bytes() == b"old"    # nothing touched before the first audio
    a, b = np.full(1000, 0.25, np.float32), np.full(500, -0.5, np.float32)
    ws.write(a)
    y, sr = sf.read(path, dtype="float32")     # read while the stream is still open
    assert sr == 22050 and len(y) == 1000 and y[0] == pytest.approx(0.25, abs=1e-4)
    assert header_sizes(path) == (path.stat().st_size - 8, 2000)   # the header itself says so
    ws.write(b)
    assert sf.info(path).frames == 1500 and header_sizes(path) == (path.stat().st_size - 8, 3000)
    ws.close()
    y, _ = sf.read(path, dtype="int16")
    assert y.tobytes() == pcm16(np.concatenate([a, b]))    # the raw stream's bytes are the wav's
    ws = WavStream(tmp_path / "gone.wav", 22050)
    ws.write(a)
    ws.abort()
    assert not (tmp_path / "gone.wav").exists()


@requires_espeak
def test_cli_stream_to_a_growing_wav_and_raw_pcm_from_standard_input(model, tmp_path):
    out = tmp_path / "s.wav"
    res = runner.invoke(app, ["synthesize", "-m", str(model), "--stream", "-t", TEXT, "--out", str(out),
                              "--n-iter", "2"])
    assert res.exit_code == 0, res.output
    assert "first audio after" in res.output and "3 sentences" in res.output
    y, sr = sf.read(out, dtype="int16")
    plain = tmp_path / "plain.wav"
    assert runner.invoke(app, ["synthesize", "-m", str(model), "-t", TEXT, "--out", str(plain),
                               "--n-iter", "2"]).exit_code == 0
    assert len(y) == sf.info(plain).frames   # the same audio length as the whole-text synthesis

    # two lines on standard input, a silent one between them: raw PCM, the same sentences
    lines = "The birch canoe slid on the smooth planks.\n?!\n" + TEXT.split(". ", 1)[1]
    res = runner.invoke(app, ["synthesize", "-m", str(model), "--output-raw", "--n-iter", "2"], input=lines)
    assert res.exit_code == 0, res.stderr
    assert "line 2: nothing to say" in res.stderr and "3 sentences" in res.stderr
    assert len(res.stdout_bytes) == 2 * len(y)
    assert res.stdout_bytes[:4] != b"RIFF"    # raw samples, no header


@requires_espeak
@pytest.mark.parametrize("args,needle", [
    (["--output-raw", "--out", "x.wav", "-t", "hi"], "--output-raw writes to standard output"),
    (["--stream", "--text-file", "/nonexistent.txt"], "/nonexistent.txt does not exist"),
    (["--stream", "-t", "hi", "--out", "x.mp3"], "must end in .wav"),
    (["--stream", "-t", "?! ;"], "nothing to say in '?! ;'"),
])
def test_cli_stream_errors_are_one_line(model, tmp_path, args, needle):
    res = runner.invoke(app, ["synthesize", "-m", str(model), *args])
    assert res.exit_code == 1 and res.output.strip().startswith("error:") and needle in res.output
    assert "Traceback" not in res.output


@requires_espeak
def test_a_stream_that_fails_part_way_leaves_no_wav(model, tmp_path):
    text = tmp_path / "t.txt"
    text.write_bytes("The birch canoe slid on the smooth planks.\n".encode() * 2 + b"bad \xff byte\n")
    out = tmp_path / "s.wav"
    res = runner.invoke(app, ["synthesize", "-m", str(model), "--stream", "--text-file", str(text),
                              "--out", str(out), "--n-iter", "2"])
    assert res.exit_code == 1 and "t.txt:3: not UTF-8 text" in res.output, res.output
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("content,extra,needle", [
    (b"Hello there.\nnul\x00byte\n", [], "t.txt:2: holds a NUL byte"),
    (b"Hello there.\n" + b"a" * 50 + b"\n", ["--max-chars", "40"], "t.txt:2 is 50 characters, over the limit of 40"),
    (b"Hello there.\nbad \xff byte\n", [], "t.txt:2: not UTF-8 text"),
])
def test_stream_and_whole_file_reading_refuse_the_same_lines_alike(model, tmp_path, content, extra, needle):
    """--stream reads a line at a time, --text-file the whole file: the same one-line error."""
    text = tmp_path / "t.txt"
    text.write_bytes(content)
    errors = []
    for mode, out in ((["--stream"], tmp_path / "s.wav"), ([], tmp_path / "dir")):
        res = runner.invoke(app, ["synthesize", "-m", str(model), *mode, "--text-file", str(text), "--out", str(out),
                                  "--n-iter", "2", *extra])
        assert res.exit_code == 1 and "Traceback" not in res.output, res.output
        errors.append(res.output.strip().splitlines()[-1])
        assert not out.exists() and not list(tmp_path.glob("*.tmp"))
    assert errors[0] == errors[1] and errors[0].startswith("error:") and needle in " ".join(errors[0].split())
