"""G2P task, the language-model side: from characters, predict the phoneme sequence.

The shared encoder reads the normalised text's characters (through an embedding of their
own in a phoneme model; in a character-input model they are what every task reads); each
character encoding is projected to `upsample` output slots (IPA strings are longer
than their spellings) and trained with CTC against the phoneme ids. With it, synthesis
can start from characters (`mtts synthesize --input chars`) without espeak.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mtts.config import ModelConfig
from mtts.errors import MttsError
from mtts.tasks.base import Context, Dims, Task, utterance_mean


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance between two id sequences (one row of the DP table at a time)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


class G2PTask(Task):
    name = "g2p"
    stage = "auxiliary"
    needs = ("chars", "phones")   # phones: the phoneme ids to predict, without boundary tokens
    reads = ("h_chars",)   # the model encodes the batch's characters when a task reads them

    def __init__(self, model: ModelConfig, dims: Dims, upsample: int = 3):
        super().__init__(model, dims)
        if dims.n_chars < 3:
            raise MttsError("the g2p task needs a character table: run `mtts tokenize` again")
        self.upsample, self.n_tokens = upsample, dims.n_tokens
        # the loss reaches the shared transformer through the character pass of a phoneme model
        # (gradient methods take it into the Jacobian through h_chars); a character model's h is
        # the character encoding itself, shared with the acoustic tasks
        self.encoder_output = "h" if dims.input == "chars" else "h_chars"
        self.proj = nn.Linear(model.d_model, upsample * dims.n_tokens)

    def _log_probs(self, ctx: Context, chars_lens: torch.Tensor):
        h = ctx.h_chars                                                     # (B, C, D)
        B, C, _ = h.shape
        logits = self.proj(h).view(B, C * self.upsample, self.n_tokens)     # (B, C*up, V)
        return F.log_softmax(logits, dim=-1), chars_lens * self.upsample

    def forward(self, ctx: Context, batch: dict) -> dict[str, torch.Tensor]:
        log_probs, lens = self._log_probs(ctx, batch["chars_lens"])
        return {"log_probs": log_probs, "lens": lens}

    def loss(self, pred: dict, batch: dict, ctx: Context) -> torch.Tensor:
        loss = F.ctc_loss(pred["log_probs"].transpose(0, 1), batch["phones"], pred["lens"], batch["phones_lens"],
                          blank=0, reduction="none", zero_infinity=True)
        return utterance_mean(loss / batch["phones_lens"].clamp(min=1))

    @staticmethod
    def greedy(log_probs: torch.Tensor, lens: torch.Tensor) -> list[list[int]]:
        """Best path: argmax per slot, repeats merged, blanks (0) dropped."""
        out = []
        for lp, n in zip(log_probs.argmax(-1), lens.tolist()):
            ids = torch.unique_consecutive(lp[:n]).tolist()
            out.append([i for i in ids if i != 0])
        return out

    @torch.no_grad()
    def decode(self, ctx: Context, chars_lens: torch.Tensor) -> list[list[int]]:
        """Phoneme ids per utterance from the characters encoded in ctx (G2P at synthesis)."""
        return self.greedy(*self._log_probs(ctx, chars_lens))

    @staticmethod
    def phoneme_error_rate(pred: dict, targets: torch.Tensor, lens: torch.Tensor) -> float:
        """Greedy CTC decoding of `pred` scored against padded target ids (B, L) of lengths (B,)."""
        hyps = G2PTask.greedy(pred["log_probs"], pred["lens"])
        errors = sum(edit_distance(h, t[:n].tolist()) for h, t, n in zip(hyps, targets, lens))
        return errors / max(1, int(lens.sum()))

    @torch.no_grad()
    def metrics(self, pred: dict, batch: dict, ctx: Context) -> dict[str, float]:
        return {"g2p_per": self.phoneme_error_rate(pred, batch["phones"], batch["phones_lens"])}
