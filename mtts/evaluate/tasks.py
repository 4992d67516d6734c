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
    """A data split encoded with a model package's tables, statistics and speakers."""
    return TTSDataset(split_dir, pkg.tokens, Stats(pkg.stats), max_utts, pkg.chars, pkg.input, speakers=pkg.speakers)


class Subset:
    """Some utterances of a TTSDataset, as evaluate_loss reads one (lengths, items)."""

    def __init__(self, data: TTSDataset, ids: list[str]):
        self.data, self.ids = data, ids
        self.index = [data.ids.index(i) for i in ids]
        self.lengths = [data.lengths[k] for k in self.index]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        return self.data[self.index[i]]


def speaker_task_metrics(model, data: TTSDataset, batch_frames: int = 8000) -> dict[str, dict[str, float]]:
    """Per-task metrics of each speaker's utterances apart (a multi-speaker split)."""
    by_speaker: dict[str, list[str]] = {}
    for utt, spk in data.speakers.items():
        by_speaker.setdefault(spk, []).append(utt)
    return {spk: evaluate_loss(model, Subset(data, ids), batch_frames) for spk, ids in sorted(by_speaker.items())}
