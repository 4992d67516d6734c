"""PNG plots: reference vs predicted mel, alignment, F0 contours, metric curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mtts.io import atomic_path  # noqa: E402


def save_figure(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)


def utterance_plot(path: Path, title: str, ref_mel: np.ndarray, hyp_mel: np.ndarray,
                   alignment: np.ndarray | None, ref_f0: np.ndarray, hyp_f0: np.ndarray) -> None:
    """One figure per utterance: mels (T, n_mels), alignment (N, T) and F0 (Hz, 0 = unvoiced)."""
    rows = 4 if alignment is not None else 3
    fig, ax = plt.subplots(rows, 1, figsize=(10, 2.3 * rows), constrained_layout=True)
    vmin, vmax = ref_mel.min(), ref_mel.max()
    ax[0].imshow(ref_mel.T, origin="lower", aspect="auto", vmin=vmin, vmax=vmax)
    ax[0].set_title(f"{title}: reference log-mel")
    ax[1].imshow(hyp_mel.T, origin="lower", aspect="auto", vmin=vmin, vmax=vmax)
    ax[1].set_title("synthesised log-mel")
    k = 2
    if alignment is not None:
        ax[k].imshow(alignment, origin="lower", aspect="auto", interpolation="nearest")
        ax[k].set_title("alignment of the reference (MAS)")
        ax[k].set_ylabel("phoneme")
        k += 1
    for f0, label in ((ref_f0, "reference"), (hyp_f0, "synthesised")):
        ax[k].plot(np.where(f0 > 0, f0, np.nan), label=label)
    ax[k].set_title("F0 (Hz)")
    ax[k].set_xlabel("frame")
    ax[k].legend(loc="upper right")
    save_figure(fig, path)


def curves_plot(path: Path, results: list[dict], keys: list[str]) -> None:
    """Each metric against the checkpoint's training step."""
    rows = [r for r in results if r.get("step") is not None]
    if not rows or not keys:
        return
    rows.sort(key=lambda r: r["step"])
    fig, ax = plt.subplots(len(keys), 1, figsize=(7, 2.0 * len(keys)), squeeze=False, constrained_layout=True)
    for a, k in zip(ax[:, 0], keys):
        a.plot([r["step"] for r in rows], [r["metrics"].get(k, np.nan) for r in rows], marker="o")
        a.set_ylabel(k)
    ax[-1, 0].set_xlabel("step")
    save_figure(fig, path)
