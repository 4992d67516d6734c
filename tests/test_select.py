import json

import pytest
import torch

from mtts import checkpoint
from mtts.errors import MttsError
from mtts.model import MultiTaskModel
from mtts.select import average_states, rank, select_best
from mtts.text.tokens import TokenTable
from mtts.validate import config_from_dict

from conftest import TINY


def test_rank_respects_direction():
    res = [{"checkpoint": "a", "metrics": {"m": 2.0}}, {"checkpoint": "b", "metrics": {"m": 1.0}},
           {"checkpoint": "c", "metrics": {"m": 3.0}}]
    assert [r["checkpoint"] for r in rank(res, "m", False)] == ["b", "a", "c"]
    assert [r["checkpoint"] for r in rank(res, "m", True)] == ["c", "a", "b"]
    with pytest.raises(MttsError, match="metric 'x' is not in"):
        rank(res, "x", False)


def test_average_states_averages_floats_and_keeps_ints():
    a = {"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(4)}
    b = {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(9)}
    out = average_states([a, b])
    assert out["w"].tolist() == [2.0, 4.0] and int(out["n"]) == 4


def _fake_ckpt(path, seed):
    cfg = config_from_dict({**TINY, "train": {**TINY["train"], "seed": seed}})   # the seed sets the weights
    tokens = TokenTable.build(["abc"])
    model = MultiTaskModel(cfg, len(tokens), 80)
    stats = {"mel_mean": [0.0] * 80, "mel_std": [1.0] * 80, "pitch_mean": 0.0, "pitch_std": 1.0,
             "energy_mean": 0.0, "energy_std": 1.0}
    checkpoint.save(path, {"model": model.state_dict(), "config": cfg.to_dict(), "tokens": tokens.symbols,
                           "feature_params": {"sample_rate": 22050}, "stats": stats, "step": seed})
    return model


def test_select_best_picks_and_records_the_right_checkpoint(tmp_path):
    models = {s: _fake_ckpt(tmp_path / f"step_{s}.pt", s) for s in (1, 2, 3)}
    values = {1: 0.5, 2: 0.3, 3: 0.4}
    summary = [{"checkpoint": str(tmp_path / f"step_{s}.pt"), "step": s, "split": "dev",
                "metrics": {"mel_l1": v}} for s, v in values.items()]
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    rec = select_best(tmp_path / "summary.json", tmp_path / "best.safetensors", "mel_l1")
    assert rec["chosen"] == [str(tmp_path / "step_2.pt")] and rec["value"] == 0.3
    assert checkpoint.is_safetensors(tmp_path / "best.safetensors")   # weights that load without unpickling
    best = checkpoint.Package.load(tmp_path / "best.safetensors")
    w = "encoder.embed.weight"
    assert torch.equal(best.weights[w], models[2].state_dict()[w]) and best.step == 2
    rec = select_best(tmp_path / "summary.json", tmp_path / "best2.safetensors", "mel_l1", n_average=2)
    avg = checkpoint.Package.load(tmp_path / "best2.safetensors").weights[w]
    assert torch.allclose(avg, (models[2].state_dict()[w] + models[3].state_dict()[w]) / 2)
    assert json.loads((tmp_path / "selection.json").read_text())["averaged"] == 2
