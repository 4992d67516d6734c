"""Model files and checkpoints never run code: a crafted pickle is refused, through every
command that loads one, with a one-line error and nothing executed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from mtts import checkpoint
from mtts.cli import app

from conftest import TINY, make_model_package

runner = CliRunner()


class Payload:
    """Unpickling this calls os.mkdir(marker): proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def evil_file(path: Path, marker: Path, **extra) -> Path:
    """A torch file that looks like an mtts checkpoint but runs code when fully unpickled."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": Payload(marker), "config": {}, "tokens": [], "feature_params": {}, "stats": {},
                "step": 10, "elapsed": 1.0, **extra}, path)
    return path


def test_the_payload_really_runs_when_unpickled(tmp_path):
    """The test's own premise: loading the file the unsafe way does run the code."""
    marker = tmp_path / "ran"
    torch.load(evil_file(tmp_path / "evil.pt", marker), weights_only=False)
    assert marker.is_dir()


@pytest.fixture(scope="module")
def work(espeak_corpus, tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("safe")
    for args in (["prepare", espeak_corpus, "--data-dir", w / "data", "--dump-dir", w / "dump"],
                 ["tokenize", "--data-dir", w / "data", "--dump-dir", w / "dump"]):
        res = runner.invoke(app, [str(a) for a in args])
        assert res.exit_code == 0, res.output
    (w / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    (w / "voc.yaml").write_text(yaml.safe_dump({"dim": 16, "intermediate": 32, "layers": 1, "batch_size": 2}))
    (w / "text.txt").write_text("a|Hello there.\n")
    return w


def refused(res, marker: Path, name: str, why: str = "would run code") -> None:
    assert res.exit_code == 1, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]   # after any progress bars
    assert len(errors) == 1 and res.output.strip().endswith(errors[0]) and name in errors[0], res.output
    assert why in errors[0] and "nothing was run" in errors[0], errors[0]
    assert not marker.exists(), "the file's code ran"


def test_every_command_that_loads_a_model_refuses_a_crafted_file(work, tmp_path):
    marker = tmp_path / "ran"
    evil = evil_file(tmp_path / "evil.pt", marker)
    w = {k: str(v) for k, v in {"data": work / "data", "dump": work / "dump"}.items()}
    refused(runner.invoke(app, ["synthesize", "-m", str(evil), "-t", "hi", "--out", str(tmp_path / "o.wav")]),
            marker, "evil.pt")
    assert not (tmp_path / "o.wav").exists()
    # a pickle under the package's name is refused the same way
    disguised = tmp_path / "best.safetensors"
    shutil.copy(evil, disguised)
    refused(runner.invoke(app, ["synthesize", "-m", str(disguised), "-t", "hi"]), marker, "best.safetensors",
            "not a safetensors file")
    refused(runner.invoke(app, ["evaluate", str(evil), "--exp-dir", str(tmp_path / "e"),
                                "--data-dir", w["data"], "--split", "dev"]), marker, "evil.pt")
    refused(runner.invoke(app, ["export", "-m", str(evil), "--out", str(tmp_path / "onnx")]), marker, "evil.pt")
    exp = tmp_path / "sel"
    (exp / "eval" / "dev").mkdir(parents=True)
    (exp / "eval" / "dev" / "summary.json").write_text(json.dumps(
        [{"checkpoint": str(evil), "step": 10, "split": "dev", "metrics": {"mel_l1": 0.1}}]))
    refused(runner.invoke(app, ["select-best", "--exp-dir", str(exp)]), marker, "evil.pt")
    assert not (exp / "best.safetensors").exists()
    # a vocoder to package is loaded as safely
    good = make_model_package(tmp_path / "good.pt")
    (exp / "eval" / "dev" / "summary.json").write_text(json.dumps(
        [{"checkpoint": str(good), "step": 0, "split": "dev", "metrics": {"mel_l1": 0.1}}]))
    refused(runner.invoke(app, ["select-best", "--exp-dir", str(exp), "--vocoder", str(evil)]), marker, "evil.pt")
    # resuming: the newest checkpoint of the exp dir is the crafted one
    am = evil_file(tmp_path / "am" / "checkpoints" / "step_0000010.pt", marker)
    refused(runner.invoke(app, ["train", "-c", str(work / "tiny.yaml"), "--data-dir", w["data"],
                                "--dump-dir", w["dump"], "--exp-dir", str(am.parents[1]), "--resume"]),
            marker, "step_0000010.pt")
    voc = evil_file(tmp_path / "voc" / "checkpoints" / "step_0000010.pt", marker, kind="vocoder")
    refused(runner.invoke(app, ["train-vocoder", "-c", str(work / "voc.yaml"), "--data-dir", w["data"],
                                "--dump-dir", w["dump"], "--exp-dir", str(voc.parents[1]), "--resume",
                                "--max-utts", "2"]), marker, "step_0000010.pt")
    # a vocoder fine-tuning's init
    (tmp_path / "ft.yaml").write_text(yaml.safe_dump({"dim": 16, "intermediate": 32, "layers": 1, "batch_size": 2,
                                                      "init": str(evil)}))
    refused(runner.invoke(app, ["train-vocoder", "-c", str(tmp_path / "ft.yaml"), "--data-dir", w["data"],
                                "--dump-dir", w["dump"], "--exp-dir", str(tmp_path / "ft"), "--max-utts", "2"]),
            marker, "evil.pt")
    # an ablation resumes its interrupted runs from their checkpoints
    plan = {"variants": {"single": {"tasks": {"alignment": {}, "duration": {}, "mel": {}}}}}
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    evil_file(tmp_path / "abl" / "full" / "single" / "seed1234" / "checkpoints" / "step_0000004.pt", marker)
    refused(runner.invoke(app, ["ablate", "-p", str(tmp_path / "plan.yaml"), "-c", str(work / "tiny.yaml"),
                                "--data-dir", w["data"], "--dump-dir", w["dump"], "--exp-dir",
                                str(tmp_path / "abl"), "--steps", "8", "--seeds", "1234", "--no-asr"]),
            marker, "step_0000004.pt")


def test_convert_needs_trust_and_then_writes_files_that_load_safely(tmp_path):
    import random

    import numpy as np
    old = make_model_package(tmp_path / "old.pt")
    ck = torch.load(old, weights_only=True)
    # an old training checkpoint: NumPy's RNG state made it need a full unpickle
    ck["rng"] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    torch.save(ck, old)
    res = runner.invoke(app, ["synthesize", "-m", str(old), "-t", "hi", "--out", str(tmp_path / "o.wav")])
    assert res.exit_code == 1 and f"mtts convert {old}" in res.output
    res = runner.invoke(app, ["convert", str(old), str(tmp_path / "new.safetensors")])
    assert res.exit_code == 1 and "--trust" in res.output and not (tmp_path / "new.safetensors").exists()
    res = runner.invoke(app, ["convert", str(old), str(tmp_path / "new.safetensors"), "--trust"])
    assert res.exit_code == 0, res.output
    pkg = checkpoint.Package.load(tmp_path / "new.safetensors")
    assert all(torch.equal(pkg.weights[k], v) for k, v in ck["model"].items())
    res = runner.invoke(app, ["convert", str(old), str(tmp_path / "ckpt.pt"), "--trust"])
    assert res.exit_code == 0, res.output
    safe = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert torch.equal(safe["rng"]["numpy"]["keys"], torch.from_numpy(ck["rng"]["numpy"][1].astype(np.int64)))
    res = runner.invoke(app, ["synthesize", "-m", str(tmp_path / "new.safetensors"), "-t", "hi",
                              "--out", str(tmp_path / "o.wav"), "--n-iter", "2"])
    assert res.exit_code == 0, res.output


def test_convert_an_old_vocoder_checkpoint(tmp_path):
    """Older vocoder checkpoints also held NumPy floats (the scheduler's learning rates)."""
    import numpy as np
    voc = {"kind": "vocoder", "model": {"w": torch.ones(2)}, "step": 3, "elapsed": 1.0,
           "scheduler": {"_last_lr": [np.float64(1e-4)], "base_lrs": [0.001]},
           "optimizer": {"state": {}, "param_groups": [{"lr": np.float64(1e-4), "params": [0]}]},
           "rng": {"python": (3, tuple(range(625)), None), "torch": torch.get_rng_state()},
           "config": {}, "feature_params": {}, "stats": {}}
    torch.save(voc, tmp_path / "old.pt")
    res = runner.invoke(app, ["convert", str(tmp_path / "old.pt"), str(tmp_path / "new.pt"), "--trust"])
    assert res.exit_code == 0, res.output
    new = torch.load(tmp_path / "new.pt", weights_only=True)
    assert new["scheduler"]["_last_lr"] == [1e-4] and type(new["optimizer"]["param_groups"][0]["lr"]) is float


def test_package_round_trip_and_a_foreign_safetensors_file(tmp_path):
    from safetensors.torch import save_file
    pkg = checkpoint.Package.load(make_model_package(tmp_path / "m.pt"))
    pkg.save(tmp_path / "m.safetensors")
    back = checkpoint.Package.load(tmp_path / "m.safetensors")
    assert back.meta() == pkg.meta() and back.weights.keys() == pkg.weights.keys()
    assert all(torch.equal(back.weights[k], v) for k, v in pkg.weights.items())
    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    res = runner.invoke(app, ["synthesize", "-m", str(tmp_path / "other.safetensors"), "-t", "hi"])
    assert res.exit_code == 1 and "not an mtts model package" in res.output
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes((tmp_path / "m.safetensors").read_bytes()[:5000])
    res = runner.invoke(app, ["synthesize", "-m", str(cut), "-t", "hi"])
    assert res.exit_code == 1 and "unreadable" in res.output and "Traceback" not in res.output


def test_rng_states_round_trip_through_a_safe_file(tmp_path):
    import random

    import numpy as np

    from mtts.io import rng_state, set_rng_state, torch_load, torch_save
    torch_save({"rng": rng_state()}, tmp_path / "r.pt")
    want = (random.random(), float(np.random.rand()), float(torch.rand(())))
    set_rng_state(torch_load(tmp_path / "r.pt")["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == want
