"""The global-variance postfilter: what it does to a mel, where its target comes from, and
how synthesis and evaluation choose its strength."""

from __future__ import annotations

import numpy as np
import pytest

from mtts.data.prepare import compute_stats
from mtts.errors import MttsError
from mtts.synthesize import POSTFILTER, check_postfilter, gv_postfilter


def smooth_mel(T: int = 200, n_mels: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mel = rng.normal(0.0, 1.0, (n_mels,)) + rng.normal(0.0, 1.0, (T, n_mels)) * [0.5, 0.8, 2.0, 0.1]
    return mel.astype(np.float32)


def test_full_strength_restores_the_target_variance_and_keeps_the_mean():
    mel, gv = smooth_mel(), np.full(4, 1.0, dtype=np.float32)
    out = gv_postfilter(mel, gv, 1.0)
    assert out.shape == mel.shape and out.dtype == np.float32
    np.testing.assert_allclose(out.mean(0), mel.mean(0), atol=1e-5)
    np.testing.assert_allclose(out.std(0)[:2], [1.0, 1.0], rtol=1e-4)
    # a bin already more varied than the target is left alone: the filter never flattens
    np.testing.assert_allclose(out[:, 2], mel[:, 2], atol=1e-6)
    # and a nearly flat one is raised at most threefold
    np.testing.assert_allclose(out.std(0)[3], 3.0 * mel.std(0)[3], rtol=1e-4)


def test_strength_interpolates_the_scale_and_zero_changes_nothing():
    mel, gv = smooth_mel(), np.full(4, 1.0, dtype=np.float32)
    sd = mel.std(0)
    half = gv_postfilter(mel, gv, 0.5)
    np.testing.assert_allclose(half.std(0)[:2], sd[:2] * (1 + 0.5 * (1.0 / sd[:2] - 1)), rtol=1e-4)
    assert np.array_equal(gv_postfilter(mel, gv, 0.0), mel)
    assert np.array_equal(gv_postfilter(mel, None, 1.0), mel)          # statistics without mel_gv
    assert np.array_equal(gv_postfilter(mel[:1], gv, 1.0), mel[:1])    # one frame has no variance


def test_prepare_statistics_hold_the_within_utterance_variance(tmp_path):
    rng = np.random.default_rng(1)
    mels = [rng.normal(0.0, s, (n, 3)) + rng.normal(0.0, 3.0, (1, 3)) for s, n in ((1.0, 80), (2.0, 120))]
    paths = []
    for i, mel in enumerate(mels):
        paths.append(tmp_path / f"{i}.npz")
        np.savez(paths[-1], mel=mel.astype(np.float32), pitch=np.full(len(mel), 120.0, np.float32),
                 energy=np.zeros(len(mel), np.float32))
    stats = compute_stats(paths)
    expected = np.mean([m.std(0) for m in mels], 0) / np.asarray(stats["mel_std"])
    np.testing.assert_allclose(stats["mel_gv"], expected, rtol=1e-4)
    # the utterances differ in level, so the variance within one is below the global one
    assert all(0.0 < g < 1.0 for g in stats["mel_gv"])


def test_strength_out_of_range_is_a_one_line_error(tmp_path):
    from typer.testing import CliRunner

    from mtts.cli import POSTFILTER_DEFAULT, app
    assert POSTFILTER_DEFAULT == POSTFILTER
    check_postfilter(0.0), check_postfilter(1.0)
    with pytest.raises(MttsError, match="--postfilter must be between 0 and 1"):
        check_postfilter(1.5)
    (tmp_path / "m.pt").write_bytes(b"")
    res = CliRunner().invoke(app, ["synthesize", "-m", str(tmp_path / "m.pt"), "-t", "Hi.",
                                   "--out", str(tmp_path / "a.wav"), "--postfilter", "-0.1"])
    assert res.exit_code == 1 and "--postfilter must be between 0 and 1" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "a.wav").exists()
