"""Per-task metrics, teacher-forced on the alignment the model finds for each reference
recording: mel_l1 (normalised log-mel), duration_mae_frames, f0_rmse_hz, energy_mae,
forward_sum and each task's loss."""

from __future__ import annotations

from pathlib import Path

from mtts import checkpoint
from mtts.data.dataset import Stats, TTSDataset
from mtts.train import evaluate_loss


def task_metrics(path: Path, split_dir: Path, batch_frames: int = 8000, max_utts: int = 0) -> dict[str, float]:
    ck = checkpoint.load(path)
    model, cfg, tokens, _ = checkpoint.build_model(ck, path)
    data = TTSDataset(split_dir, tokens, Stats(ck["stats"]), max_utts)
    return evaluate_loss(model, data, batch_frames)
