import numpy as np
import pytest
import soundfile as sf

from mtts.errors import MttsError
from mtts.features.audio import FeatureParams, check_audio, extract, griffin_lim, load_audio

from conftest import write_wav

P = FeatureParams()


def test_extract_shapes_and_values(tmp_path):
    y = load_audio(write_wav(tmp_path / "a.wav", 1.0, freq=200.0), P.sample_rate)
    f = extract(y, P)
    T = 1 + len(y) // P.hop_length
    assert f["mel"].shape == (T, 80) and f["pitch"].shape == (T,) and f["energy"].shape == (T,)
    voiced = f["pitch"][f["pitch"] > 0]
    assert len(voiced) > T // 2
    assert np.median(voiced) == pytest.approx(200.0, rel=0.03)


@pytest.mark.parametrize("sr,channels,subtype", [(8000, 1, "PCM_16"), (44100, 2, "PCM_24"),
                                                 (22050, 1, "FLOAT"), (16000, 2, "PCM_16")])
def test_other_rates_and_formats_are_resampled_to_mono(tmp_path, sr, channels, subtype):
    y = load_audio(write_wav(tmp_path / "a.wav", 0.5, sr, channels, subtype), P.sample_rate)
    assert y.ndim == 1
    assert len(y) == pytest.approx(0.5 * P.sample_rate, abs=2)
    assert np.abs(y).max() == pytest.approx(0.3, abs=0.02)


def test_missing_empty_and_corrupt_audio_raise_naming_the_file(tmp_path):
    with pytest.raises(MttsError, match="missing.wav.*does not exist"):
        load_audio(tmp_path / "missing.wav", 22050)
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(MttsError, match="empty.wav.*0 bytes"):
        load_audio(tmp_path / "empty.wav", 22050)
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(MttsError, match="bad.wav.*unreadable"):
        load_audio(tmp_path / "bad.wav", 22050)


def test_check_audio_flags_short_long_and_silent(tmp_path):
    sr = 22050
    assert "too short" in check_audio(tmp_path / "x", np.ones(int(0.1 * sr)) * 0.1, sr)
    assert "too long" in check_audio(tmp_path / "x", np.ones(60 * sr) * 0.1, sr)
    assert "silent" in check_audio(tmp_path / "x", np.zeros(sr), sr)
    assert check_audio(tmp_path / "x", np.ones(sr) * 0.1, sr) is None


def test_griffin_lim_inverts_to_a_similar_spectrum(tmp_path):
    y = load_audio(write_wav(tmp_path / "a.wav", 0.5, freq=300.0), P.sample_rate)
    mel = extract(y, P)["mel"]
    wav = griffin_lim(mel, P, n_iter=16)
    assert abs(len(wav) - len(y)) <= P.hop_length
    mel2 = extract(wav, P)["mel"]
    # same dominant mel bin in the middle frame
    mid = mel.shape[0] // 2
    assert abs(int(mel[mid].argmax()) - int(mel2[mid].argmax())) <= 1


def test_trim_silence_cuts_leading_and_trailing_silence_but_a_margin():
    from mtts.features.audio import trim_silence
    sr = 22050
    rng = np.random.default_rng(0)
    speech = 0.3 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr).astype(np.float32)
    y = np.concatenate([1e-4 * rng.standard_normal(sr // 2), speech, 1e-4 * rng.standard_normal(sr // 3)])
    y = y.astype(np.float32)
    kept = trim_silence(y, FeatureParams(trim_db=40))
    # the tone and about 50 ms either side, give or take half an analysis window (512 samples) each
    assert abs(len(kept) - (sr + 2 * 0.05 * sr)) < 1024 + 256
    start = int(np.argmax(np.abs(kept) > 0.05))
    assert abs(start - 0.05 * sr) < 512 + 256
    assert trim_silence(y, FeatureParams()) is y             # trim_db 0: untouched


def test_prepare_trims_when_asked_and_reads_parameters_saved_before_trimming(tmp_path):
    import json

    from mtts.data.prepare import prepare
    from mtts.features.audio import trim_silence
    from mtts.io import read_json
    sr = 22050
    corpus = tmp_path / "corpus"
    (corpus / "wavs").mkdir(parents=True)
    tone = 0.3 * np.sin(2 * np.pi * 200 * np.arange(sr) / sr)
    lines = []
    for k in range(6):
        sf.write(corpus / "wavs" / f"u{k}.wav", np.concatenate([np.zeros(sr // 4), tone, np.zeros(sr // 4)]), sr)
        lines.append(f"u{k}|hello there {k}|hello there {k}")
    (corpus / "metadata.csv").write_text("\n".join(lines) + "\n")
    p = FeatureParams(trim_db=40)
    prepare(corpus, tmp_path / "data", tmp_path / "dump", nj=1, n_dev=2, n_test=2, params=p)
    with np.load(tmp_path / "dump" / "feats" / "u0.npz") as z:
        frames = z["mel"].shape[0]
    expected = len(trim_silence(np.concatenate([np.zeros(sr // 4), tone, np.zeros(sr // 4)]).astype(np.float32), p))
    assert frames == expected // 256 + 1 and frames < 1.5 * sr / 256 // 1   # the 0.5 s of silence is gone
    assert read_json(tmp_path / "dump" / "feature_params.json")["trim_db"] == 40
    # a dump dir written before the trim parameters existed is read with their defaults (off)
    old = tmp_path / "old"
    prepare(corpus, tmp_path / "data_old", old, nj=1, n_dev=2, n_test=2)
    d = read_json(old / "feature_params.json")
    del d["trim_db"], d["trim_margin"]
    (old / "feature_params.json").write_text(json.dumps(d))
    prepare(corpus, tmp_path / "data_old", old, nj=1, n_dev=2, n_test=2)
    with pytest.raises(MttsError, match="other parameters"):
        prepare(corpus, tmp_path / "data_old", old, nj=1, n_dev=2, n_test=2, params=p)
