"""Property tests: any Unicode text either becomes valid token ids, one entry per
utterance, or raises the project's own error; the normaliser never crashes; `prepare`,
`tokenize` and `synthesize` on fuzzed metadata, data-dir files and text files end cleanly."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from mtts.cli import app
from mtts.text.normalize import normalize
from mtts.text.phonemize import Phonemizer
from mtts.text.tokens import BASE_SYMBOLS, TokenTable

from conftest import make_model_package, requires_espeak, write_wav

TOKENS = TokenTable.build([], BASE_SYMBOLS)
PHONEMIZER = None

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
wordy = st.lists(st.sampled_from(["Dr.", "$3.50.", "1990s", "3rd", "12:30", "%", "&", "St.", "£5",
                                  "naïve", "😀", "\u0007", "1,000,000", "A.", "!!", "hello", "x"]),
                 max_size=12).map(" ".join)


@given(texts)
@settings(max_examples=300, deadline=None)
def test_normalize_never_crashes_and_is_idempotent_on_its_output(text):
    out = normalize(text)
    assert isinstance(out, str)
    assert "  " not in out and out == out.strip()
    assert not any(c.isdigit() for c in out if c.isascii())  # every ASCII digit was spelled out
    assert normalize(out) == out


@requires_espeak
@given(st.lists(st.one_of(texts, wordy), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_text_tokenizes_to_valid_ids_one_per_utterance(batch):
    global PHONEMIZER
    PHONEMIZER = PHONEMIZER or Phonemizer()
    phones = PHONEMIZER([normalize(t) for t in batch])
    assert len(phones) == len(batch)
    for p in phones:
        ids = TOKENS.encode(p)
        assert all(0 < i < len(TOKENS) for i in ids)


# ---------------------------------------------------------------- the real commands on fuzzed files
# Few examples each (they run whole commands), so they stay in the default suite: whatever the
# file holds, the command ends with exit 0, or exit 1 and one `error:` line; never a traceback,
# never a file outside its output dirs, never a temporary file left behind.

RUNNER = CliRunner()
FUZZ = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
ids = st.one_of(st.sampled_from(["U0", "U1", "U2", "../x", ".h", "a/b", "", " U1", "U1 ", "é", "a" * 129]),
                st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12))
fields = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
meta_lines = st.lists(st.tuples(ids, st.lists(fields, max_size=3)).map(lambda t: "|".join([t[0], *t[1]])),
                      max_size=5)
noise = st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))


def tree(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def check_result(res, root: Path, before: set[Path], outputs: tuple[Path, ...]) -> None:
    assert res.exit_code in (0, 1), res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    if res.exit_code == 1:
        assert res.output.strip().splitlines()[-1].startswith("error:"), res.output
    new = {p for p in tree(root) - before if not any(o == p or o in p.parents for o in outputs)}
    assert not new, sorted(map(str, new))
    assert not [p for p in root.rglob("*.tmp")]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzzcorpus")
    (root / "wavs").mkdir()
    for i in range(4):
        write_wav(root / "wavs" / f"U{i}.wav", 0.5, freq=150 + 30 * i)
    return root


@given(meta_lines, st.booleans())
@settings(FUZZ, max_examples=5)
def test_prepare_on_fuzzed_metadata(small_corpus, lines, skip_bad):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(small_corpus, root / "corpus")
        good = [f"U{i}|Sentence {i}.|Sentence {i}." for i in range(4)]
        (root / "corpus" / "metadata.csv").write_text("\n".join(good + lines) + "\n", encoding="utf-8",
                                                      errors="surrogatepass")
        before = tree(root)
        res = RUNNER.invoke(app, ["prepare", str(root / "corpus"), "--data-dir", str(root / "data"),
                                  "--dump-dir", str(root / "dump"), "--nj", "1", "--n-dev", "1", "--n-test", "1",
                                  *(["--skip-bad"] if skip_bad else [])])
        check_result(res, root, before, (root / "data", root / "dump"))


@pytest.fixture(scope="module")
def prepared_dir(small_corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fuzzprepared")
    meta = "\n".join(f"U{i}|Sentence {i}.|Sentence {i}." for i in range(4)) + "\n"
    (small_corpus / "metadata.csv").write_text(meta)
    res = RUNNER.invoke(app, ["prepare", str(small_corpus), "--data-dir", str(out / "data"), "--dump-dir",
                              str(out / "dump"), "--nj", "1", "--n-dev", "1", "--n-test", "1"])
    assert res.exit_code == 0, res.output
    return out


@requires_espeak
@given(st.sampled_from(["text", "wav.scp", "utt2spk", "spk2utt", "utt2dur", "feats.scp"]),
       st.one_of(noise, meta_lines.map(lambda ls: "\n".join(ls).replace("|", " ").encode())), st.booleans())
@FUZZ
def test_tokenize_on_fuzzed_data_dirs(prepared_dir, name, content, append):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(prepared_dir / "data", root / "data")
        target = root / "data" / "train" / name
        target.write_bytes((target.read_bytes() if append else b"") + content)
        before = tree(root)
        res = RUNNER.invoke(app, ["tokenize", "--data-dir", str(root / "data"), "--dump-dir", str(root / "dump")])
        outputs = (root / "dump", *[root / "data" / s / f for s in ("train", "dev", "test")
                                    for f in ("norm_text", "phones")])
        check_result(res, root, before, outputs)


@pytest.fixture(scope="module")
def fuzz_model(tmp_path_factory) -> Path:
    return make_model_package(tmp_path_factory.mktemp("fuzzmodel") / "model.pt")


@requires_espeak
@given(st.one_of(noise, st.lists(st.one_of(texts, wordy), min_size=1, max_size=3).map(
    lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass"))))
@FUZZ
def test_synthesize_on_fuzzed_text_files(fuzz_model, content):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in.txt").write_bytes(content)
        before = tree(root)
        res = RUNNER.invoke(app, ["synthesize", "-m", str(fuzz_model), "--text-file", str(root / "in.txt"),
                                  "--out", str(root / "out"), "--n-iter", "1", "--max-seconds", "60"])
        check_result(res, root, before, (root / "out",))
        for wav in (root / "out").glob("*.wav") if res.exit_code == 0 else []:
            assert sf.info(wav).frames > 0   # every wav written is whole
