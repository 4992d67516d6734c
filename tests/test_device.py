"""Where training runs: --device on any machine (CPU checks) and, on a CUDA GPU only, the
model, the losses, MAS and every weighting method on the GPU with bf16 autocast, the
alignment likelihoods in float32 and the GPU's RNG state in a checkpoint
(benchmarks/gpu_smoke.sh runs these there; without a GPU they skip)."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from mtts.cli import app
from mtts.distributed import resolve_device
from mtts.errors import MttsError

from conftest import random_batch

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_smoke.sh)")


def test_device_names():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(MttsError, match="--device must be one of auto, cpu, cuda"):
        resolve_device("gpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
@pytest.mark.parametrize("command", ["train", "train-vocoder"])
def test_cuda_without_a_gpu_is_one_line(tmp_path, command):
    res = CliRunner().invoke(app, [command, "--device", "cuda", "--exp-dir", str(tmp_path / "exp"),
                                   "--data-dir", str(tmp_path / "none"), "--dump-dir", str(tmp_path / "none")])
    assert res.exit_code == 1
    assert "error: --device cuda: this torch sees no CUDA GPU" in res.output and "Traceback" not in res.output


def test_a_bad_timeout_is_one_line(tmp_path):
    res = CliRunner().invoke(app, ["train", "--timeout", "0", "--exp-dir", str(tmp_path / "exp")])
    assert res.exit_code == 1 and "error: --timeout must be > 0" in res.output


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=cuda)])
@pytest.mark.parametrize("method", ["static", "uncertainty", "dwa", "gradnorm", "rlw", "famo", "upgrad"])
def test_a_bf16_training_step_on_the_device(tiny_cfg, method, device):
    """The same code on the CPU here and on a GPU in benchmarks/gpu_smoke.sh."""
    from mtts.data.dataset import to_device
    from mtts.model import MultiTaskModel
    from mtts.precision import autocast
    from mtts.train import build_method, build_optimizer, same_batch_losses
    dev = resolve_device(device)
    tiny_cfg.mtl.method = method
    model = MultiTaskModel(tiny_cfg, 20, 80).to(dev)
    m = build_method(tiny_cfg, model).to(dev)
    opt, _ = build_optimizer(tiny_cfg, model, m)
    batch = to_device(random_batch(3), dev)
    with autocast("bf16", dev.type):
        out = model(batch)
    assert out["preds"]["alignment"]["scores"].dtype == torch.float32   # likelihoods kept in fp32
    assert all(v.device.type == dev.type and torch.isfinite(v) for v in out["losses"].values())
    weights = m.backward(out["losses"], out["shared"])
    assert weights and all(p.grad is None or p.grad.device.type == dev.type for p in model.parameters())
    opt.step()
    m.after_step(lambda: same_batch_losses(model, batch, "bf16"))


@cuda
def test_the_gpu_rng_state_is_saved_and_restored():
    from mtts.io import rng_state, set_rng_state
    resolve_device("cuda")
    torch.cuda.manual_seed(1)
    torch.rand(1, device="cuda")
    state = rng_state()
    assert "cuda" in state
    a = torch.rand(4, device="cuda")
    set_rng_state(state)
    assert torch.equal(torch.rand(4, device="cuda"), a)


def test_the_gpu_config_is_valid_and_builds():
    from pathlib import Path

    from mtts.model import MultiTaskModel
    from mtts.validate import load_config
    cfg = load_config(Path(__file__).resolve().parents[1] / "recipes/ljspeech/conf/train_gpu.yaml", {})
    assert cfg.train.max_minutes == 0 and cfg.train.max_steps > 0 and cfg.train.precision == "bf16"
    n = sum(p.numel() for p in MultiTaskModel(cfg, 80, 80).parameters())
    assert 20e6 < n < 60e6   # "a larger model": docs/scaling.md says 38 M
