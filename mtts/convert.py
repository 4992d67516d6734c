"""Stage `convert`: files written before safe loading -> today's formats.

Older mtts saved NumPy RNG states inside checkpoints, which only a full unpickle reads, and
a full unpickle runs whatever code a file holds; so this reads the old file that way once,
on the user's word that they trust it (`mtts convert --trust`), and writes a file that
loads with nothing executed: a model package (.safetensors) or a training checkpoint (.pt).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mtts import checkpoint
from mtts.errors import MttsError
from mtts.io import atomic_path, numpy_state, torch_load, torch_load_trusted


def plain(x):
    """Tensors and plain values only: NumPy arrays become tensors, NumPy scalars Python numbers
    (older checkpoints held NumPy's RNG state and, in the vocoder's scheduler, NumPy floats)."""
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(plain(v) for v in x)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x.astype(np.int64) if x.dtype.kind in "ui" else x.copy())
    if isinstance(x, np.generic):
        return x.item()
    return x


def convert(src: Path, out: Path) -> dict:
    if src.resolve() == out.resolve():
        raise MttsError(f"{out}: write the converted file under another name than {src}")
    ck = torch_load_trusted(src)
    if not isinstance(ck, dict) or "model" not in ck:
        raise MttsError(f"{src} is not an mtts model package or checkpoint")
    if out.suffix == ".safetensors":
        if ck.get("kind") == "vocoder":
            raise MttsError(f"{src} is a vocoder checkpoint: convert it to a .pt checkpoint, "
                            "then package it with `mtts select-best --vocoder`")
        pkg = checkpoint.Package.from_checkpoint(plain(ck), src)
        pkg.build_model(src)   # proves the weights fit before anything is written
        pkg.save(out)
        return {"out": str(out), "kind": "model package", "step": pkg.step}
    if out.suffix != ".pt":
        raise MttsError(f"{out}: the converted file must end in .safetensors (model package) or .pt (checkpoint)")
    if isinstance(ck.get("rng", {}).get("numpy"), tuple):   # NumPy's state as today's checkpoints hold it
        ck = {**ck, "rng": {**ck["rng"], "numpy": numpy_state(ck["rng"]["numpy"])}}
    ck = plain(ck)
    with atomic_path(out) as tmp:   # in place only once it loads the safe way
        torch.save(ck, tmp)
        torch_load(tmp)
    return {"out": str(out), "kind": "checkpoint", "step": ck.get("step")}
