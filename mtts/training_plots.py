"""Training curves from EXP/metrics.jsonl: per-task train and dev losses, task weights,
per-task gradient norms and cosines at the shared encoder output, and throughput, as
PNG files in EXP/plots/."""

from __future__ import annotations

import json
from pathlib import Path

from mtts.errors import MttsError


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        raise MttsError(f"{path} does not exist: train first")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a killed run
    if not rows:
        raise MttsError(f"{path} holds no log lines yet")
    return rows


def plot_training(exp_dir: Path) -> list[Path]:
    from mtts.evaluate.plots import plt, save_figure
    rows = read_log(exp_dir / "metrics.jsonl")
    train = [r for r in rows if r["split"] == "train"]
    dev = [r for r in rows if r["split"] == "dev"]
    tasks = sorted({k[5:] for r in rows for k in r if k.startswith("loss_")})
    listened = [r for r in dev if "fr_cer" in r]   # free-running WER/CER (train.asr_utts), beside the losses
    written = []
    n = len(tasks) + bool(listened)
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.0 * n), squeeze=False, constrained_layout=True)
    if listened:
        ax = axes[-1, 0]
        for k in ("fr_wer", "fr_cer"):
            ax.plot([r["step"] for r in listened], [100 * r[k] for r in listened], marker="o", label=k[3:].upper())
        ax.set_ylabel("free-running %")
        ax.legend(loc="upper right")
    for ax, t in zip(axes[:, 0], tasks):
        for data, label in ((train, "train"), (dev, "dev")):
            pts = [(r["step"], r[f"loss_{t}"]) for r in data if f"loss_{t}" in r]
            if pts:
                ax.plot(*zip(*pts), label=label, marker="o" if label == "dev" else None)
        ax.set_ylabel(t)
        ax.legend(loc="upper right")
    axes[-1, 0].set_xlabel("step")
    save_figure(fig, exp_dir / "plots" / "losses.png")
    written.append(exp_dir / "plots" / "losses.png")
    weights = sorted({k[7:] for r in train for k in r if k.startswith("weight_")})
    if weights:
        fig, ax = plt.subplots(4, 1, figsize=(8, 9), constrained_layout=True)
        for t in weights:
            ax[0].plot([r["step"] for r in train], [r.get(f"weight_{t}") for r in train], label=t)
        ax[0].set_ylabel("task weight")
        ax[0].legend(loc="upper right")
        for prefix, a, label in (("gradnorm_", ax[1], "‖∇h L_i‖"), ("cos_", ax[2], "cos(∇h L_i, ∇h L_j)")):
            for k in sorted({k for r in train for k in r if k.startswith(prefix)}):
                a.plot([r["step"] for r in train], [r.get(k) for r in train], label=k[len(prefix):])
            a.set_ylabel(label)
            if a.lines:
                a.legend(loc="upper right", fontsize="small")
        ax[1].set_yscale("log")
        ax[3].plot([r["step"] for r in train], [r["frames_per_s"] for r in train])
        ax[3].set_ylabel("frames / s")
        rss = [(r["step"], r["rss_mb"]) for r in train if r.get("rss_mb")]
        if rss:  # memory beside speed: a leak shows as a rising line here
            twin = ax[3].twinx()
            twin.plot(*zip(*rss), color="tab:red")
            twin.set_ylabel("RSS MB", color="tab:red")
        ax[3].set_xlabel("step")
        save_figure(fig, exp_dir / "plots" / "weights.png")
        written.append(exp_dir / "plots" / "weights.png")
    return written
