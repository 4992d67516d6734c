"""Checkpoints: one self-contained file per save, written atomically.

A checkpoint holds model, weighting-method, optimiser, scheduler and RNG states plus
everything synthesis needs (config, token table, feature parameters, statistics), so
`mtts synthesize` works from the file alone and `--resume` continues exactly.
"""

from __future__ import annotations

import re
from pathlib import Path

from mtts.config import Config
from mtts.errors import MttsError
from mtts.features.audio import FeatureParams
from mtts.io import torch_load, torch_save
from mtts.model import MultiTaskModel
from mtts.text.tokens import TokenTable
from mtts.validate import config_from_dict

STEP_RE = re.compile(r"step_(\d+)\.pt$")


def save(path: Path, state: dict) -> None:
    torch_save(state, path)


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    found = [p for p in ckpt_dir.glob("step_*.pt") if STEP_RE.search(p.name)]
    return sorted(found, key=lambda p: int(STEP_RE.search(p.name).group(1)))


def resolve(path: Path | str, hint: str) -> Path:
    """A checkpoint file as given, or the newest checkpoint of an exp dir; `hint` says how to
    make one when the dir has none."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path / "checkpoints")
        if not found:
            raise MttsError(f"{path} holds no checkpoints: {hint}")
        path = found[-1]
    return path


def prune(ckpt_dir: Path, keep: int) -> None:
    if keep > 0:
        for p in list_checkpoints(ckpt_dir)[:-keep]:
            p.unlink(missing_ok=True)


REQUIRED = ("model", "config", "tokens", "feature_params", "stats")


def load(path: Path) -> dict:
    ckpt = torch_load(path)
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED):
        raise MttsError(f"{path} is not an mtts checkpoint (missing model/config/tokens)")
    return ckpt


def build_model(ckpt: dict,
                path: Path | str = "checkpoint") -> tuple[MultiTaskModel, Config, TokenTable, FeatureParams]:
    """Rebuild the model exactly as it was trained, from a checkpoint dict alone."""
    cfg = config_from_dict(ckpt["config"])
    tokens = TokenTable(ckpt["tokens"])
    params = FeatureParams.from_dict(ckpt["feature_params"])
    stats = ckpt["stats"]
    model = MultiTaskModel(cfg, len(tokens), params.n_mels, (stats["pitch_mean"], stats["pitch_std"]),
                           len(ckpt.get("chars") or []))
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise MttsError(f"{path}: weights do not match its config/vocabulary "
                        f"({str(e).splitlines()[0][:120]})") from None
    model.eval()
    return model, cfg, tokens, params
