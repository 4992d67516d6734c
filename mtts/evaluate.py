"""Stage `evaluate`: per-task metrics of checkpoints on a data split.

Reads  checkpoints (each self-contained), DATA/<split>/{phones,feats.scp}
Writes EXP/eval/<split>/<checkpoint>.json (metrics.json per checkpoint) and
       EXP/eval/<split>/summary.json (all of them, for select-best and scripts)

Metrics are teacher-forced on the alignment the model finds for each reference:
mel_l1 (normalised log-mel), duration_mae_frames, f0_rmse_hz, energy_mae, and each loss.
"""

from __future__ import annotations

from pathlib import Path

from mtts import checkpoint
from mtts.console import progress
from mtts.data.dataset import Stats, TTSDataset
from mtts.io import write_json
from mtts.train import evaluate_loss


def evaluate_checkpoint(path: Path, split_dir: Path, batch_frames: int = 8000, max_utts: int = 0) -> dict:
    ck = checkpoint.load(path)
    model, cfg, tokens, _ = checkpoint.build_model(ck, path)
    data = TTSDataset(split_dir, tokens, Stats(ck["stats"]), max_utts)
    metrics = evaluate_loss(model, data, batch_frames)
    model.eval()
    return {"checkpoint": str(path), "step": ck.get("step"), "split": split_dir.name,
            "utterances": len(data), "metrics": metrics}


def evaluate(checkpoints: list[Path], split_dir: Path, out_dir: Path, max_utts: int = 0) -> list[dict]:
    results = []
    with progress() as prog:
        task = prog.add_task(f"evaluate {split_dir.name}", total=len(checkpoints))
        for path in checkpoints:
            res = evaluate_checkpoint(path, split_dir, max_utts=max_utts)
            write_json(out_dir / f"{path.stem}.json", res)
            results.append(res)
            prog.advance(task)
    write_json(out_dir / "summary.json", results)
    return results
