"""Building blocks shared by the encoder and task heads: pre-LayerNorm transformer
blocks with a convolutional feed-forward (FastSpeech), sinusoidal positions, masks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mtts.precision import full_precision


def lengths_to_mask(lens: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B,) -> (B, T) bool, True on valid positions."""
    max_len = int(lens.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lens.device)[None, :] < lens[:, None]


def sinusoids(length: int, dim: int) -> torch.Tensor:
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe  # (T, D)


class ConvFF(nn.Module):
    def __init__(self, d: int, mult: int, kernel: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv1d(d, d * mult, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(d * mult, d, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x.masked_fill(~mask[..., None], 0.0).transpose(1, 2)  # (B, D, T)
        x = self.conv2(self.drop(F.gelu(self.conv1(x))))
        return x.transpose(1, 2)


class Block(nn.Module):
    def __init__(self, d: int, heads: int, mult: int, kernel: int, dropout: float):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.ln2 = nn.LayerNorm(d)
        self.ff = ConvFF(d, mult, kernel, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self._attend(self.ln1(x), mask)
        x = x + self.ff(self.ln2(x), mask)
        return x.masked_fill(~mask[..., None], 0.0)


    def _attend(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Self-attention with nn.MultiheadAttention's weights through scaled_dot_product_attention:
        the same function and checkpoints, one fused kernel, and shapes that stay symbolic
        when traced for ONNX (the module's own forward bakes the traced length in)."""
        a = self.attn
        B, heads = h.shape[0], a.num_heads
        q, k, v = F.linear(h, a.in_proj_weight, a.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.reshape(B, -1, heads, a.head_dim).transpose(1, 2) for t in (q, k, v))
        # float32 under bf16 autocast on the CPU: torch's CPU flash attention is slower in bf16
        # than in fp32; on a GPU the autocast dtype, where fused bf16 kernels are the fast ones
        if h.device.type == "cpu":
            with full_precision("cpu"):
                out = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask[:, None, None, :],
                                                     dropout_p=a.dropout if self.training else 0.0)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :],
                                                 dropout_p=a.dropout if self.training else 0.0)
        return a.out_proj(out.transpose(1, 2).reshape(B, -1, heads * a.head_dim))


class Transformer(nn.Module):
    """A stack of pre-LN blocks with sinusoidal positions and a final LayerNorm.

    position_jitter > 0: in training each sequence's positions start at a random offset in
    [0, position_jitter], so that the stack cannot tie what it makes to the absolute position
    (say "the first 17 frames are silence") and must read it from its input; at synthesis the
    offset is 0."""

    def __init__(self, d: int, layers: int, heads: int, mult: int, kernel: int, dropout: float,
                 position_jitter: int = 0):
        super().__init__()
        self.blocks = nn.ModuleList(Block(d, heads, mult, kernel, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.scale = nn.Parameter(torch.ones(1))  # learnt weight of positions vs content
        self.position_jitter = position_jitter

    def positions(self, x: torch.Tensor) -> torch.Tensor:
        """(B or 1, T, D) sinusoidal positions for x (B, T, D)."""
        B, T, D = x.shape
        if not (self.training and self.position_jitter > 0):
            return sinusoids(T, D).to(x)[None]
        offset = torch.randint(0, self.position_jitter + 1, (B, 1))
        return sinusoids(T + self.position_jitter, D).to(x)[offset + torch.arange(T)[None]]

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.scale * self.positions(x)
        for block in self.blocks:
            x = block(x, mask)
        return self.ln(x).masked_fill(~mask[..., None], 0.0)


class ConvPredictor(nn.Module):
    """Two conv layers and a projection: the FastSpeech variance predictor."""

    def __init__(self, d: int, hidden: int = 256, kernel: int = 3, out: int = 1):
        super().__init__()
        self.conv1 = nn.Conv1d(d, hidden, kernel, padding=kernel // 2)
        self.ln1 = nn.LayerNorm(hidden)
        self.conv2 = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2)
        self.ln2 = nn.LayerNorm(hidden)
        self.proj = nn.Linear(hidden, out)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x.masked_fill(~mask[..., None], 0.0)
        x = self.ln1(F.relu(self.conv1(x.transpose(1, 2))).transpose(1, 2))
        x = self.ln2(F.relu(self.conv2(x.masked_fill(~mask[..., None], 0.0).transpose(1, 2))).transpose(1, 2))
        return self.proj(x).squeeze(-1).masked_fill(~mask, 0.0)  # (B, N) when out == 1
