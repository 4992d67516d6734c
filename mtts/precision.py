"""Training precision: float32, or the network under bfloat16 autocast.

bf16 autocast runs matrix products and convolutions in bfloat16 while the weights, the
optimiser state and the losses stay float32. On CPUs with AMX or AVX-512 BF16 (recent
Xeons) a step can be faster: 1.1x for the acoustic model, 1.2-1.3x for the vocoder on a
2-core Xeon with AMX (docs/training.md, benchmarks/train_precision.py); elsewhere it may be
slower, so float32 is the default. Evaluation and synthesis always run in float32.
"""

from __future__ import annotations

import contextlib

import torch

from mtts.errors import MttsError

PRECISIONS = ("fp32", "bf16")


def check(precision: str, where: str) -> None:
    if precision not in PRECISIONS:
        raise MttsError(f"{where} must be one of {', '.join(PRECISIONS)}, got '{precision}'")


def autocast(precision: str, device: str = "cpu"):
    """The context a training forward pass runs in."""
    if precision == "bf16":
        return torch.autocast(device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def full_precision(device: str = "cpu"):
    """Inside an autocast region: run this part in float32 (cast its inputs with .float())."""
    return torch.autocast(device, enabled=False)
