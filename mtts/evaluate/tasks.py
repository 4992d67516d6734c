"""Per-task metrics, teacher-forced on the alignment the model finds for each reference
recording: mel_l1 (normalised log-mel), duration_mae_frames, f0_rmse_hz, energy_mae,
forward_sum and each task's loss."""

from __future__ import annotations

from pathlib import Path

from mtts.data.dataset import Stats, TTSDataset
from mtts.train import evaluate_loss


def task_metrics(model, data: TTSDataset, batch_frames: int = 8000) -> dict[str, float]:
    return evaluate_loss(model, data, batch_frames)


def load_split(pkg, split_dir: Path, max_utts: int = 0) -> TTSDataset:
    """A data split encoded with a model package's tables and statistics."""
    return TTSDataset(split_dir, pkg.tokens, Stats(pkg.stats), max_utts, pkg.chars)
