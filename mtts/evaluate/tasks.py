"""Per-task metrics, teacher-forced on the alignment the model finds for each reference
recording: mel_l1 (normalised log-mel), duration_mae_frames, f0_rmse_hz, energy_mae,
forward_sum and each task's loss. Training's dev evaluation is the same evaluate_loss."""

from __future__ import annotations

from pathlib import Path

import torch

from mtts.data.dataset import Stats, TTSDataset, collate, frame_batches, to_device
from mtts.model import MultiTaskModel


@torch.no_grad()
def evaluate_loss(model: MultiTaskModel, data, batch_frames: int, collate_fn=collate,
                  length_key: str = "feats_lens") -> dict[str, float]:
    """Length-weighted averages of every task's loss and metrics on a dataset."""
    model.eval()
    sums: dict[str, float] = {}
    total = 0
    device = next(model.parameters()).device
    for idx in frame_batches(data.lengths, batch_frames, 0, 0, shuffle=False):
        batch = to_device(collate_fn([data[i] for i in idx]), device)
        out = model(batch)
        n = int(batch[length_key].sum())
        for k, v in model.metrics(out, batch).items():
            sums[k] = sums.get(k, 0.0) + v * n
        total += n
    model.train()
    return {k: v / total for k, v in sums.items()}


def task_metrics(model, data: TTSDataset, batch_frames: int = 8000) -> dict[str, float]:
    return evaluate_loss(model, data, batch_frames)


def load_split(pkg, split_dir: Path, max_utts: int = 0) -> TTSDataset:
    """A data split encoded with a model package's tables and statistics."""
    return TTSDataset(split_dir, pkg.tokens, Stats(pkg.stats), max_utts, pkg.chars, pkg.input)
