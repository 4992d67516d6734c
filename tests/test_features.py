import numpy as np
import pytest

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
