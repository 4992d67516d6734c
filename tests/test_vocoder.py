"""The neural vocoder: an exact inverse STFT, a loss that falls, and the vocoder shipped
inside the model package and chosen at synthesis."""

from __future__ import annotations

import pytest
import torch

from mtts.features.audio import FeatureParams
from mtts.vocoder.model import ISTFT, Vocoder, VocoderConfig
from mtts.vocoder.train import SpectralLoss

SMALL = VocoderConfig(dim=32, intermediate=64, layers=2)


@pytest.mark.parametrize("n_fft, hop, win", [(1024, 256, 1024), (512, 128, 400), (1000, 300, 800)])
def test_istft_inverts_torch_stft_exactly(n_fft, hop, win):
    y = torch.randn(2, hop * 40, generator=torch.Generator().manual_seed(0))
    spec = torch.stft(y, n_fft, hop, win, torch.hann_window(win), center=True, return_complex=True)
    out = ISTFT(n_fft, hop, win)(spec.real, spec.imag)
    assert out.shape == (2, spec.shape[-1] * hop)
    assert torch.allclose(out[:, :y.shape[1]], y, atol=1e-4)
    # and agrees with torch.istft where both are defined
    ref = torch.istft(spec, n_fft, hop, win, torch.hann_window(win), center=True, length=y.shape[1])
    assert torch.allclose(out[:, :y.shape[1]], ref, atol=1e-4)


def test_vocoder_shapes_and_a_loss_that_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    p = FeatureParams()
    voc = Vocoder(SMALL, p.n_mels, p.n_fft, p.hop_length, p.win_length)
    loss_fn = SpectralLoss(p)
    t = torch.arange(p.hop_length * 24) / p.sample_rate
    y = 0.3 * torch.sin(2 * torch.pi * 220 * t)[None].repeat(2, 1)
    mel = (loss_fn.log_mel(y)[..., :24].transpose(1, 2) + 5.0) / 2.0   # a normalised-looking log-mel
    assert voc(mel).shape == y.shape
    opt = torch.optim.Adam(voc.parameters(), lr=2e-3)
    first = None
    for _ in range(40):
        out = loss_fn(voc(mel), y)
        opt.zero_grad()
        out["total"].backward()
        opt.step()
        first = first or out["total"].item()
    assert out["total"].item() < 0.7 * first
    assert set(out) == {"total", "mel_l1", "sc", "log_mag"}


@pytest.mark.parametrize("text, match", [("dim: x", "config key 'dim' must be int"),
                                         ("layerz: 3", "unknown config key 'layerz'"),
                                         ("dim: [", "not valid YAML")])
def test_bad_vocoder_configs_are_one_line_errors(tmp_path, text, match):
    from typer.testing import CliRunner
    from mtts.cli import app
    (tmp_path / "v.yaml").write_text(text)
    res = CliRunner().invoke(app, ["train-vocoder", "-c", str(tmp_path / "v.yaml"), "--exp-dir", str(tmp_path / "e")])
    assert res.exit_code == 1 and match in res.output and "Traceback" not in res.output
    assert not (tmp_path / "e").exists()
