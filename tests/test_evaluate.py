"""Known answers for the evaluation metrics and the evaluate/compare/select commands."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from mtts.evaluate.metrics import (
    acoustic_metrics,
    asr_errors,
    asr_intervals,
    dnsmos,
    normalize_for_asr,
    paired_difference,
    transcribe,
    wer_cer,
)
from mtts.features.audio import FeatureParams, load_audio
from mtts.select import rank

P = FeatureParams()


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """A spoken sentence: Festival when installed, else espeak-ng."""
    d = tmp_path_factory.mktemp("speech")
    text = "The birch canoe slid on the smooth planks."
    if shutil.which("text2wave"):
        (d / "t.txt").write_text(text)
        subprocess.run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", str(d / "t.txt"), "-o",
                        str(d / "s.wav")], check=True, capture_output=True)
    elif shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", str(d / "s.wav"), text], check=True)
    else:
        pytest.skip("neither Festival nor espeak-ng is installed")
    return load_audio(d / "s.wav", P.sample_rate)


def test_identical_audio_has_zero_mcd_and_f0_error(speech):
    m = acoustic_metrics(speech, speech, P)
    assert m["mcd_db"] == pytest.approx(0.0, abs=1e-6)
    assert m["log_f0_rmse_cents"] == pytest.approx(0.0, abs=1e-6) and m["vuv_error"] == 0.0


def test_f0_error_is_undefined_not_perfect_when_nothing_is_voiced_in_both(speech):
    from mtts.evaluate import summarize_rows
    noise = np.random.default_rng(0).normal(0, 0.05, len(speech)).astype(np.float32)
    m = acoustic_metrics(speech, noise, P)
    assert np.isnan(m["log_f0_rmse_cents"]) and m["vuv_error"] > 0.2 and m["mcd_db"] > 5
    means, _ = summarize_rows([{"id": "a", **m}, {"id": "b", "log_f0_rmse_cents": 100.0, "mcd_db": 1.0}])
    assert means["log_f0_rmse_cents"] == 100.0 and means["mcd_db"] == pytest.approx((m["mcd_db"] + 1) / 2)


def test_time_shift_is_absorbed_by_dtw_only(speech):
    shifted = speech[5 * P.hop_length:]  # the same recording, starting 5 frames (58 ms) later
    with_dtw = acoustic_metrics(speech, shifted, P)["mcd_db"]
    without = acoustic_metrics(speech, shifted, P, dtw=False)["mcd_db"]
    assert with_dtw < 1.0 and without > 20.0


def test_wer_of_a_transcript_against_itself_is_zero():
    refs = [normalize_for_asr("Dr. Smith paid $3.50."), normalize_for_asr("Hello, world!")]
    assert refs[0] == "doctor smith paid three dollars fifty cents"
    assert wer_cer(refs, refs) == {"wer": 0.0, "cer": 0.0}
    assert wer_cer(refs, ["doctor smith", "hello world"])["wer"] == pytest.approx(5 / 9)  # 5 deletions


def test_asr_errors_add_up_to_corpus_wer_and_intervals_narrow_with_more_sentences():
    pytest.importorskip("jiwer")
    refs = ["the cat sat on the mat", "hello world", "a quick brown fox", "no errors here at all"]
    hyps = ["the cat sat on a mat", "hello", "a quick brown box jumps", "no errors here at all"]
    e = asr_errors(refs, hyps)
    assert e.shape == (4, 4) and e[0].tolist() == [1, 6, 3, 22]   # "the" -> "a": 1 word, 3 characters
    corpus = wer_cer(refs, hyps)
    assert e[:, 0].sum() / e[:, 1].sum() == pytest.approx(corpus["wer"])
    assert e[:, 2].sum() / e[:, 3].sum() == pytest.approx(corpus["cer"])
    small, large = asr_intervals(e), asr_intervals(np.tile(e, (25, 1)))   # the same error rate, 25x the sentences
    for k in ("wer", "cer"):
        assert small[k][0] <= corpus[k] <= small[k][1] and large[k][0] <= corpus[k] <= large[k][1]
        assert large[k][1] - large[k][0] < 0.5 * (small[k][1] - small[k][0])
    assert asr_intervals(asr_errors(refs, refs)) == {"wer": [0.0, 0.0], "cer": [0.0, 0.0]}


def test_paired_difference_tells_a_consistent_gain_from_none():
    pytest.importorskip("jiwer")
    refs = ["the cat sat on the mat", "hello world", "a quick brown fox", "no errors here at all"] * 25
    worse = ["the cat sat on a mat", "hello", "a quick brown box jumps", "no errors here at all"] * 25
    a, b = asr_errors(refs, worse), asr_errors(refs, refs)
    d = paired_difference(a, b)
    assert d["wer"][0] == pytest.approx(-wer_cer(refs, worse)["wer"]) and d["wer"][2] < 0   # b better, interval below 0
    assert paired_difference(a, a) == {"wer": [0.0, 0.0, 0.0], "cer": [0.0, 0.0, 0.0]}
    # b better on half the sentences, worse on the other half: the interval holds 0
    mixed = asr_errors(refs * 2, worse + refs)
    swapped = asr_errors(refs * 2, refs + worse)
    lo, hi = paired_difference(mixed, swapped)["cer"][1:]
    assert lo < 0 < hi
    with pytest.raises(ValueError, match="same sentences"):
        paired_difference(a, a[:-1])


def test_compare_gives_asr_differences_on_the_same_sentences(tmp_path):
    pytest.importorskip("jiwer")
    from typer.testing import CliRunner

    from mtts.cli import app
    refs = ["the cat sat on the mat", "hello world", "a quick brown fox", "no errors here at all"] * 5
    hyps = {"A": ["the cat sat on a mat", "hello", "a quick brown box jumps", "no errors here at all"] * 5,
            "B": refs}
    for name, hs in hyps.items():
        ids = [f"u{i}" for i in range(len(refs))]
        res = {"checkpoint": f"exp/{name}/step_1.pt", "step": 1, "ids": ids,
               "metrics": wer_cer(refs, hs),
               "asr": {"transcripts": {i: {"ref": r, "hyp": h} for i, r, h in zip(ids, refs, hs)}}}
        (tmp_path / name / "eval" / "dev").mkdir(parents=True)
        (tmp_path / name / "eval" / "dev" / "summary.json").write_text(json.dumps([res]))
    out = CliRunner().invoke(app, ["compare", str(tmp_path / "A"), str(tmp_path / "B"), "--out", str(tmp_path / "c")])
    assert out.exit_code == 0, out.output
    rows = json.loads((tmp_path / "c.json").read_text())
    assert "asr_vs_first" not in rows[0]
    assert rows[1]["asr_vs_first"]["wer"][0] == pytest.approx(-wer_cer(refs, hyps["A"])["wer"])
    assert "WER -23.5 points (95 % CI" in " ".join(out.output.split())   # rich wraps long lines


@pytest.mark.skipif(shutil.which("text2wave") is None, reason="Festival is not installed")
def test_pocketsphinx_understands_festival(speech):
    hyp = transcribe(speech, P.sample_rate)
    assert wer_cer(["the birch canoe slid on the smooth planks"], [hyp])["wer"] < 0.5


@pytest.mark.skipif(shutil.which("text2wave") is None, reason="Festival is not installed")
def test_transcript_does_not_depend_on_what_was_decoded_before(speech):
    first = transcribe(speech, P.sample_rate)
    transcribe(np.clip(speech * 8, -1, 1), P.sample_rate)   # a much louder utterance shifts the cepstral mean
    assert transcribe(speech, P.sample_rate) == first


def test_dnsmos_rates_speech_above_white_noise(speech):
    good = dnsmos(speech, P.sample_rate)
    noise = dnsmos(np.random.default_rng(0).uniform(-0.5, 0.5, 3 * P.sample_rate).astype(np.float32), P.sample_rate)
    assert set(good) == {"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "dnsmos_p808"}
    assert good["dnsmos_ovrl"] > 2.0 and noise["dnsmos_ovrl"] < good["dnsmos_ovrl"] - 0.5


def test_rank_by_weighted_combination_and_direction():
    res = [{"checkpoint": "a", "metrics": {"wer": 0.30, "mcd_db": 5.0, "dnsmos_ovrl": 2.0}},
           {"checkpoint": "b", "metrics": {"wer": 0.25, "mcd_db": 7.0, "dnsmos_ovrl": 2.5}},
           {"checkpoint": "c", "metrics": {"wer": 0.40, "mcd_db": 4.0, "dnsmos_ovrl": 3.0}}]
    assert rank(res, "wer")[0]["checkpoint"] == "b"
    assert rank(res, "dnsmos_ovrl")[0]["checkpoint"] == "c"          # DNSMOS: higher is better
    # wer + 0.1 mcd: a 0.80, b 0.95, c 0.80 -> a and c tie ahead of b; with 0.2: a 1.3, b 1.65, c 1.2
    assert [r["checkpoint"] for r in rank(res, "wer:1,mcd_db:0.2")] == ["c", "a", "b"]
    assert [r["checkpoint"] for r in rank(res, "wer:1,mcd_db:0.01")] == ["b", "a", "c"]


def test_evaluate_a_text_list_without_recordings(tmp_path):
    from typer.testing import CliRunner

    from mtts.cli import app

    from conftest import make_model_package, requires_espeak  # noqa: F401
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    model = make_model_package(tmp_path / "m.pt")
    (tmp_path / "list.txt").write_text("S1|Hello there.\nS2|How are you today?\n")
    res = CliRunner().invoke(app, ["evaluate", str(model), "--exp-dir", str(tmp_path / "exp"),
                                   "--text-file", str(tmp_path / "list.txt"), "--metrics", "speed"])
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "exp" / "eval" / "list" / "m.json").read_text())
    assert out["ids"] == ["S1", "S2"] and out["metrics"]["rtf"] > 0
    assert out["metrics"]["rtf"] == pytest.approx(out["metrics"]["rtf_acoustic"] + out["metrics"]["rtf_vocoder"])
    if importlib.util.find_spec("pocketsphinx"):   # transcripts and WER/CER intervals
        res = CliRunner().invoke(app, ["evaluate", str(model), "--exp-dir", str(tmp_path / "exp"),
                                       "--text-file", str(tmp_path / "list.txt"), "--metrics", "asr"])
        assert res.exit_code == 0, res.output
        out = json.loads((tmp_path / "exp" / "eval" / "list" / "m.json").read_text())
        assert out["asr"]["transcripts"]["S1"]["ref"] == "hello there"
        lo, hi = out["asr"]["ci95"]["wer"]
        assert lo <= out["metrics"]["wer"] <= hi and "95 % CI" in res.output
        assert "bootstrap intervals" in (tmp_path / "exp" / "eval" / "list" / "report.md").read_text()
    res = CliRunner().invoke(app, ["evaluate", str(model), "--exp-dir", str(tmp_path / "exp"),
                                   "--text-file", str(tmp_path / "list.txt"), "--metrics", "speed,magic"])
    assert res.exit_code == 1 and "unknown --metrics 'magic'" in res.output


def test_paired_ratio_of_error_rates():
    pytest.importorskip("jiwer")
    refs = ["the cat sat on the mat", "hello world", "a quick brown fox", "no errors here at all"] * 25
    some = ["the cat sat on a mat", "hello world", "a quick brown fox", "no errors here at all"] * 25
    more = ["the cat sat on a mat", "hello", "a quick brown box jumps", "no errors here at all"] * 25
    a, b = asr_errors(refs, some), asr_errors(refs, more)
    r = paired_difference(a, b, ratio=True)["wer"]
    assert r[0] == pytest.approx(wer_cer(refs, more)["wer"] / wer_cer(refs, some)["wer"])
    assert 1 < r[1] <= r[0] <= r[2]   # b makes more errors on every resample
    assert paired_difference(a, a, ratio=True)["cer"] == [1.0, 1.0, 1.0]
    # a system with errors in one sentence of twenty: the ratio has no upper bound, and no NaN
    rare = asr_errors(["a b c d"] * 20, ["a b c x"] + ["a b c d"] * 19)
    often = asr_errors(["a b c d"] * 20, ["a b c x", "a x c d"] + ["a b c d"] * 18)
    r = paired_difference(rare, often, ratio=True)["wer"]
    assert r[0] == pytest.approx(2.0) and r[1] is not None and not np.isnan(r[1]) and r[2] in (None, r[2])
    assert paired_difference(asr_errors(refs, refs), b, ratio=True) == {}   # a made no errors


def test_evaluate_against_the_teacher_on_the_same_sentences(tmp_path):
    """--teacher scores the teacher's readings by the same judge and gives each model's WER/CER
    as multiples of the teacher's; a missing reading is named before any synthesis."""
    pytest.importorskip("pocketsphinx")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from typer.testing import CliRunner

    from mtts.cli import app

    from conftest import make_model_package
    model = make_model_package(tmp_path / "m.pt")
    sentences = {"S1": "The birch canoe slid on the smooth planks.",
                 "S2": "Glue the sheet to the dark blue background."}
    (tmp_path / "list.txt").write_text("".join(f"{k}|{v}\n" for k, v in sentences.items()))
    (tmp_path / "teacher" / "wavs").mkdir(parents=True)
    subprocess.run(["espeak-ng", "-w", str(tmp_path / "teacher" / "wavs" / "S1.wav"), sentences["S1"]], check=True)
    args = ["evaluate", str(model), "--exp-dir", str(tmp_path / "exp"), "--text-file", str(tmp_path / "list.txt"),
            "--metrics", "asr", "--teacher", str(tmp_path / "teacher")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 1 and "no teacher recording for S2" in res.output
    assert not (tmp_path / "exp" / "eval" / "list").exists()   # refused before synthesising anything
    subprocess.run(["espeak-ng", "-w", str(tmp_path / "teacher" / "wavs" / "S2.wav"), sentences["S2"]], check=True)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out_dir = tmp_path / "exp" / "eval" / "list"
    teacher = json.loads((out_dir / "teacher.json").read_text())
    result = json.loads((out_dir / "m.json").read_text())
    assert set(teacher["asr"]["transcripts"]) == {"S1", "S2"}
    assert result["vs_teacher"]["teacher"]["wer"] == teacher["metrics"]["wer"]
    if teacher["metrics"]["wer"] > 0:   # an untrained model mumbles: far more errors than espeak
        ratio = result["vs_teacher"]["ratio"]["wer"][0]
        assert ratio == pytest.approx(result["metrics"]["wer"] / teacher["metrics"]["wer"])
    else:   # no multiple of zero errors
        assert "wer" not in result["vs_teacher"]["ratio"]
    assert "the teacher's" in res.output and "the teacher's" in (out_dir / "report.md").read_text()


def test_scoring_workers_agree_with_one_process_and_a_dead_worker_is_one_error(speech, tmp_path, monkeypatch):
    """evaluate --nj N scores in forkserver workers: the same rows as in process; a worker that
    dies (a native crash, the OOM killer) ends in an error naming where it was, not a traceback."""
    from mtts.errors import MttsError
    from mtts.evaluate import CRASH_ENV, score_rows
    items = []
    for k, shift in enumerate((0, 200, 400)):
        sf.write(tmp_path / f"h{k}.wav", np.roll(speech, shift), P.sample_rate)
        items.append((f"u{k}", str(tmp_path / f"h{k}.wav"), str(tmp_path / "h0.wav"), "the birch canoe"))
    one = score_rows(items, ("acoustic",), P, 1, "dev")
    two = score_rows(items, ("acoustic",), P, 2, "dev")
    assert [r["id"] for r in two] == ["u0", "u1", "u2"] and one == two and two[1]["mcd_db"] > two[0]["mcd_db"]
    monkeypatch.setenv(CRASH_ENV, "u1")
    with pytest.raises(MttsError, match=r"scoring worker died .* 'u[01]'.* --nj 1"):
        score_rows(items, ("acoustic",), P, 2, "dev")
