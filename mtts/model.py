"""MultiTaskModel: a shared text encoder feeding task heads.

forward(batch) returns per-task losses (never summed here: a weighting method combines
them), predictions and the shared encoder output. infer(text) synthesises a mel.
"""

from __future__ import annotations

import torch
from torch import nn

from mtts.config import Config, ModelConfig
from mtts.errors import MttsError
from mtts.layers import Transformer, lengths_to_mask
from mtts.tasks import TASKS


class SharedEncoder(nn.Module):
    def __init__(self, n_tokens: int, cfg: ModelConfig, n_chars: int = 0):
        super().__init__()
        self.embed = nn.Embedding(n_tokens, cfg.d_model, padding_idx=0)
        nn.init.normal_(self.embed.weight, 0.0, cfg.d_model ** -0.5)
        # characters share the transformer (the G2P task reads text through it)
        self.char_embed = nn.Embedding(n_chars, cfg.d_model, padding_idx=0) if n_chars else None
        if self.char_embed is not None:
            nn.init.normal_(self.char_embed.weight, 0.0, cfg.d_model ** -0.5)
        self.transformer = Transformer(cfg.d_model, cfg.encoder_layers, cfg.n_heads,
                                       cfg.ff_mult, cfg.ff_kernel, cfg.dropout)

    def forward(self, text: torch.Tensor, mask: torch.Tensor, chars: bool = False) -> torch.Tensor:
        embed = self.char_embed if chars else self.embed
        return self.transformer(embed(text), mask)                      # (B, N, D)


class MultiTaskModel(nn.Module):
    def __init__(self, cfg: Config, n_tokens: int, n_mels: int, pitch_stats: tuple[float, float] = (0.0, 1.0),
                 n_chars: int = 0):
        super().__init__()
        if "g2p" in cfg.tasks and n_chars < 3:
            raise MttsError("the g2p task needs a character table: run `mtts tokenize` again")
        self.encoder = SharedEncoder(n_tokens, cfg.model, n_chars if "g2p" in cfg.tasks else 0)
        self.tasks = nn.ModuleDict()
        for name, cls in TASKS.items():  # registry order is execution order
            if name not in cfg.tasks:
                continue
            opts = {k: v for k, v in cfg.tasks[name].items() if k != "weight"}
            if name in ("g2p", "recognition"):
                opts.setdefault("n_tokens", n_tokens)
            if name == "pitch":
                opts.setdefault("mean", pitch_stats[0])
                opts.setdefault("std", pitch_stats[1])
            self.tasks[name] = cls(cfg.model, n_mels, **opts)

    def context(self, text: torch.Tensor, text_lens: torch.Tensor) -> dict:
        mask = lengths_to_mask(text_lens, text.shape[1])
        h = self.encoder(text, mask)
        return {"h": h, "h_dec": h, "text_mask": mask, "encode_chars": self.encode_chars}

    def encode_chars(self, chars: torch.Tensor, chars_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mask = lengths_to_mask(chars_lens, chars.shape[1])
        return self.encoder(chars, mask, chars=True), mask

    @torch.no_grad()
    def phonemes_from_chars(self, chars: torch.Tensor) -> list[list[int]]:
        """G2P at synthesis: character ids (B, C) -> phoneme ids per utterance."""
        lens = torch.full((chars.shape[0],), chars.shape[1], dtype=torch.long)
        return self.tasks["g2p"].decode({"encode_chars": self.encode_chars}, chars, lens)

    def forward(self, batch: dict) -> dict:
        if "feats" in batch:
            ctx = self.context(batch["text"], batch["text_lens"])
            ctx["feats_mask"] = lengths_to_mask(batch["feats_lens"], batch["feats"].shape[1])
        else:  # a text-only batch (e.g. lexicon words for G2P): no phoneme encoding to share
            ctx = {"h": None, "encode_chars": self.encode_chars}
        preds, losses = {}, {}
        for name, task in self.tasks.items():
            if not all(k in batch for k in task.needs):
                continue  # a batch without this task's fields contributes no loss to it
            preds[name] = task(ctx, batch)
        for name, pred in preds.items():
            losses[name] = self.tasks[name].loss(pred, batch, ctx)
        return {"losses": losses, "preds": preds, "ctx": ctx, "shared": ctx["h"]}

    @torch.no_grad()
    def metrics(self, out: dict, batch: dict) -> dict[str, float]:
        m = {f"loss_{k}": float(v) for k, v in out["losses"].items()}
        for name, pred in out["preds"].items():
            m.update(self.tasks[name].metrics(pred, batch, out["ctx"]))
        return m

    @torch.no_grad()
    def infer(self, text: torch.Tensor, text_lens: torch.Tensor | None = None, **controls) -> dict:
        """text (B, N) -> {"mel": (B, T, M) normalised, "mask", "durations"}."""
        if text_lens is None:
            text_lens = torch.full((text.shape[0],), text.shape[1], dtype=torch.long)
        ctx = self.context(text, text_lens)
        out = {}
        for name, task in self.tasks.items():
            out.update(task.infer(ctx, **controls))
        out["durations"] = ctx["durations"]
        return out
