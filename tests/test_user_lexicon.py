"""The user lexicon (`--lexicon word<TAB>pronunciation`): applied before espeak at tokenize
time, saved in the model, used and extended at synthesis time."""

import json

import pytest
from typer.testing import CliRunner

from mtts.cli import app
from mtts.errors import MttsError
from mtts.text.lexicon import parse_pronunciation, read_lexicon
from mtts.text.phonemize import Phonemizer

from conftest import make_model_package, requires_espeak

runner = CliRunner()
ZORBLAX = "zˈɔːɹblæks"     # Z AO1 R B L AE0 K S in espeak's symbols


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_ipa_and_arpabet_forms_read_alike(tmp_path):
    lex = read_lexicon(write(tmp_path / "l.tsv", "# comment\nZorblax\tZ AO1 R B L AE0 K S\n"
                                                 "blip\tb l ˈɪ p\nkat\tkˈæt\nbanana\tB AH0 N AE1 N AH0\n"))
    assert lex == {"zorblax": ZORBLAX, "blip": "blˈɪp", "kat": "kˈæt", "banana": "bənˈænə"}
    assert parse_pronunciation(" ".join(ZORBLAX)) == ZORBLAX


@requires_espeak
@pytest.mark.parametrize("pron", ["Z AO1 R B L AE0 K S", "z ˈɔː ɹ b l æ k s", ZORBLAX])
def test_lexicon_word_overrides_espeak_and_words_stay_aligned(tmp_path, pron):
    text = 'The Zorblax, said "zorblax" to the cat.'
    plain = Phonemizer()([text])[0]
    assert ZORBLAX not in plain      # espeak says it otherwise
    out = Phonemizer(lexicon=read_lexicon(write(tmp_path / "l.tsv", f"zorblax\t{pron}\n")))([text, "", "hello"])
    words = out[0].split()
    assert len(words) == len(text.split())   # one phoneme word per word
    assert words[1] == f"{ZORBLAX}," and words[3] == f'"{ZORBLAX}"'
    assert words[0] == "ðə" and words[-1] == "kˈæt."   # the rest is espeak's
    assert out[1:] == ["", Phonemizer()(["hello"])[0]]


@pytest.mark.parametrize("line, why", [("zorblax Z AO1 R", "no tab"), ("zorblax\t  ", "empty pronunciation"),
                                       ("zorblax\tZ QQ1 R", "unknown ARPAbet symbol 'QQ1'")])
def test_bad_lexicon_line_is_a_one_line_error(tmp_path, line, why):
    lex = write(tmp_path / "my.tsv", f"blip\tb l ˈɪ p\n{line}\n")
    with pytest.raises(MttsError, match=why):
        read_lexicon(lex)
    res = runner.invoke(app, ["tokenize", "--data-dir", str(tmp_path / "data"), "--dump-dir",
                              str(tmp_path / "dump"), "--lexicon", str(lex)])
    assert res.exit_code == 1
    assert res.output.strip().startswith(f"error: {lex}:2:") and why in res.output
    assert len(res.output.strip().splitlines()) == 1


@requires_espeak
def test_tokenize_cli_uses_and_saves_the_lexicon(tmp_path):
    data, dump = tmp_path / "data", tmp_path / "dump"
    (data / "train").mkdir(parents=True)
    write(data / "train" / "text", "u1 The zorblax is here.\nu2 Hello there.\n")
    lex = write(tmp_path / "my.tsv", "zorblax\tZ AO1 R B L AE0 K S\nhere\tç ˈɪ ɹ\n")
    res = runner.invoke(app, ["tokenize", "--data-dir", str(data), "--dump-dir", str(dump), "--lexicon", str(lex)])
    assert res.exit_code == 0, res.output
    phones = (data / "train" / "phones").read_text(encoding="utf-8")
    assert f"u1 ðə {ZORBLAX} ɪz çˈɪɹ." in phones
    cfg = json.loads((dump / "text_config.json").read_text(encoding="utf-8"))
    assert cfg["lexicon"] == {"here": "çˈɪɹ", "zorblax": ZORBLAX}
    assert "ç" in (dump / "tokens.txt").read_text(encoding="utf-8")


@requires_espeak
def test_lexicon_survives_into_the_package_and_synthesis(tmp_path):
    from mtts import checkpoint
    from mtts.synthesize import Synthesizer
    ckpt = make_model_package(tmp_path / "step_0.pt", text={"normalizer": "builtin", "lexicon": {"zorblax": ZORBLAX}})
    pkg_path = tmp_path / "best.safetensors"
    checkpoint.Package.load(ckpt).save(pkg_path)
    assert checkpoint.Package.load(pkg_path).text["lexicon"] == {"zorblax": ZORBLAX}
    synth = Synthesizer.load(pkg_path)
    ids = synth.input_ids("the zorblax")
    assert ids == [i for i in synth.tokens.encode(f"ðə {ZORBLAX}") if i >= synth.tokens.n_special]
    # --lexicon at synthesis time adds to and overrides the saved entries
    synth.add_lexicon(write(tmp_path / "more.tsv", "zorblax\tB L IH1 P\nfloop\tf l uː p\n"))
    assert synth.phonemizer(["zorblax floop"]) == ["blˈɪp fluːp"]
    res = runner.invoke(app, ["synthesize", "-m", str(pkg_path), "-t", "The zorblax.",
                              "--out", str(tmp_path / "z.wav"), "--vocoder", "griffin-lim", "--n-iter", "1",
                              "--lexicon", str(tmp_path / "more.tsv")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "z.wav").is_file()


def test_synthesis_lexicon_symbol_outside_the_token_table_is_an_error(tmp_path):
    pkg = make_model_package(tmp_path / "step_0.pt")
    lex = write(tmp_path / "my.tsv", "ok\tk\nzorblax\tz ɔ ʀ b\n")   # uvular ʀ: not in the table
    res = runner.invoke(app, ["synthesize", "-m", str(pkg), "-t", "zorblax", "--out", str(tmp_path / "z.wav"),
                              "--lexicon", str(lex)])
    assert res.exit_code == 1
    assert res.output.strip().startswith(f"error: {lex}:2: phoneme 'ʀ'")
    assert len(res.output.strip().splitlines()) == 1


@requires_espeak
def test_words_around_a_lexicon_word_keep_espeaks_reading_in_context(tmp_path):
    # "He gave a" read on its own ends in a stressed "a" (ˈeɪ); in the sentence it is a weak one
    text = "He gave a zorblax to a cat."
    plain = Phonemizer()([text])[0].split()
    out = Phonemizer(lexicon=read_lexicon(write(tmp_path / "l.tsv", "zorblax\tZ AO1 R B L AE0 K S\n")))([text])
    words = out[0].split()
    assert words[3] == ZORBLAX and words[:3] + words[4:] == plain[:3] + plain[4:]
