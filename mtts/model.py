"""MultiTaskModel: a shared text encoder feeding task heads.

forward(batch) returns per-task losses (never summed here: a weighting method combines
them), predictions and the shared encoder output. infer(text) synthesises a mel. Both run
one pipeline over a `Context`: encode -> align (durations) -> variance -> length regulator
-> decode -> auxiliary heads; each stage runs the enabled tasks of the `TASKS` table that
belong to it, in the table's order.

A multi-speaker model (n_speakers >= 2, from the data's spk2id) has a speaker embedding
table: the speaker's vector is added to the decoder input h_dec and to what the aligner and
the duration and prosody predictors read (tasks.base.with_speaker), never to the shared h.
"""

from __future__ import annotations

import dataclasses
import hashlib
from functools import partial
from typing import Callable, TypeVar

import torch
from torch import nn

from mtts.config import Config, ModelConfig
from mtts.errors import MttsError
from mtts.layers import Transformer, lengths_to_mask
from mtts.tasks import TASKS
from mtts.tasks.base import STAGES, Context, Dims, expand

M = TypeVar("M", bound=nn.Module)


def component_seed(seed: int, name: str) -> int:
    """A generator seed for one component, from the run's seed and the component's name
    (a hash that does not vary between processes, unlike Python's hash())."""
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def seeded(seed: int, name: str, build: Callable[[], M]) -> M:
    """`build()` with the global RNG seeded for this component alone, restored afterwards: a
    component's initial weights depend on (seed, name) only, not on which other components
    were built before it, and the RNG that training draws from is the one seed_everything set."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(component_seed(seed, name))
        return build()


class SharedEncoder(nn.Module):
    def __init__(self, n_tokens: int, cfg: ModelConfig, n_chars: int = 0, seed: int = 0):
        super().__init__()
        std = cfg.d_model ** -0.5
        # each part from its own generator: the transformer starts the same whatever the
        # vocabularies, and the embedding whether or not there is a character embedding
        self.embed = seeded(seed, "encoder.embed", lambda: embedding(n_tokens, cfg.d_model, std))
        # characters share the transformer (the G2P task reads text through it)
        self.char_embed = (seeded(seed, "encoder.char_embed", lambda: embedding(n_chars, cfg.d_model, std))
                           if n_chars else None)
        self.transformer = seeded(seed, "encoder.transformer", lambda: Transformer(
            cfg.d_model, cfg.encoder_layers, cfg.n_heads, cfg.ff_mult, cfg.ff_kernel, cfg.dropout))

    def forward(self, text: torch.Tensor, mask: torch.Tensor, chars: bool = False) -> torch.Tensor:
        embed = self.char_embed if chars else self.embed
        return self.transformer(embed(text), mask)                      # (B, N, D)

    def shared_parameters(self) -> dict[str, list[nn.Parameter]]:
        """The parameters behind each output: h (the input embedding and the transformer) and,
        for a phoneme model with a character embedding, h_chars (it and the same transformer)."""
        transformer = list(self.transformer.parameters())
        out = {"h": [*self.embed.parameters(), *transformer]}
        if self.char_embed is not None:
            out["h_chars"] = [*self.char_embed.parameters(), *transformer]
        return {k: [p for p in ps if p.requires_grad] for k, ps in out.items()}


def speaker_table(n: int, d: int) -> nn.Embedding:
    """n speakers' vectors, small at first (the same scale as the token embeddings); no padding
    row: index 0 is a speaker."""
    emb = nn.Embedding(n, d)
    nn.init.normal_(emb.weight, 0.0, d ** -0.5)
    return emb


def embedding(n: int, d: int, std: float) -> nn.Embedding:
    emb = nn.Embedding(n, d, padding_idx=0)
    nn.init.normal_(emb.weight, 0.0, std)
    return emb


class MultiTaskModel(nn.Module):
    def __init__(self, cfg: Config, n_tokens: int, n_mels: int, pitch_stats: tuple[float, float] = (0.0, 1.0),
                 n_chars: int = 0, n_speakers: int = 0):
        """n_tokens: the phoneme vocabulary; n_chars: the character vocabulary (0: none), which
        the encoder reads when cfg.data.input is "chars"; n_speakers: the speaker table's size
        (0 or 1: a single-speaker model, no table). Every component is initialised from
        its own generator of (cfg.train.seed, its name), so variants with other tasks start
        from the same shared encoder."""
        super().__init__()
        self.input = cfg.data.input
        if self.input == "chars" and n_chars < 3:
            raise MttsError("a character-input model (data.input: chars) needs the character table "
                            "DUMP/chars.txt: run `mtts tokenize`")
        seed = cfg.train.seed
        self.n_speakers = n_speakers if n_speakers >= 2 else 0
        dims = Dims(n_tokens, n_mels, pitch_stats[0], pitch_stats[1], n_chars, self.input, self.n_speakers)
        # absent with one speaker, so single-speaker weights (and older files) stay as they were
        self.speaker_embed = (seeded(seed, "speaker_embed", lambda: speaker_table(self.n_speakers, cfg.model.d_model))
                              if self.n_speakers else None)
        reads_chars = any("h_chars" in cls.reads for name, cls in TASKS.items() if name in cfg.tasks)
        if self.input == "chars":   # one embedding, of characters: g2p reads the shared encoding itself
            self.encoder = SharedEncoder(n_chars, cfg.model, 0, seed)
        else:
            self.encoder = SharedEncoder(n_tokens, cfg.model, n_chars if reads_chars else 0, seed)
        self.tasks = nn.ModuleDict()
        for name, cls in TASKS.items():  # registry order is execution order
            if name in cfg.tasks:
                opts = {k: v for k, v in cfg.tasks[name].items() if k != "weight"}
                self.tasks[name] = seeded(seed, f"task.{name}", partial(cls, cfg.model, dims, **opts))
        check_flow(self.tasks, chars=self.input == "chars" or self.encoder.char_embed is not None)

    # the model's own steps: encoders and the length regulator

    def encode_text(self, text: torch.Tensor, text_lens: torch.Tensor, speaker: torch.Tensor | None = None) -> Context:
        """Input ids (B, N), phonemes or characters (data.input) -> h, the representation the
        tasks share; h_dec starts as h (plus the speaker embedding of speaker (B,) in a
        multi-speaker model; speaker None: index 0). A character model's h is also its h_chars."""
        mask = lengths_to_mask(text_lens, text.shape[1])
        h = self.encoder(text, mask)
        ctx = Context(text_mask=mask, h=h, h_dec=h)
        if self.speaker_embed is not None:
            if speaker is None:
                speaker = torch.zeros(text.shape[0], dtype=torch.long, device=text.device)
            ctx.speaker = self.speaker_embed(speaker)                        # (B, D)
            ctx.h_dec = h + ctx.speaker[:, None, :].masked_fill(~mask[..., None], 0.0)
        if self.input == "chars":
            ctx.h_chars, ctx.chars_mask = h, mask
        return ctx

    def encode_chars(self, ctx: Context, chars: torch.Tensor, chars_lens: torch.Tensor) -> Context:
        """Character ids (B, C) of a phoneme model through the same encoder (own embedding) -> h_chars."""
        ctx.chars_mask = lengths_to_mask(chars_lens, chars.shape[1])
        ctx.h_chars = self.encoder(chars, ctx.chars_mask, chars=True)
        return ctx

    @staticmethod
    def regulate(ctx: Context, max_frames: int | None = None) -> Context:
        """Length regulator: each phoneme's h_dec repeated by its duration -> frames."""
        ctx.frames, ctx.frames_mask = expand(ctx.h_dec, ctx.durations, max_frames)
        return ctx

    def run_stage(self, stage: str, ctx: Context, batch: dict) -> dict[str, dict]:
        """Teacher-forced predictions of a stage's tasks whose batch fields are present."""
        return {name: task(ctx, batch) for name, task in self.tasks.items()
                if task.stage == stage and all(k in batch for k in task.needs)}

    def infer_stage(self, stage: str, ctx: Context, **controls) -> dict[str, dict]:
        return {name: task.infer(ctx, **controls) for name, task in self.tasks.items() if task.stage == stage}

    # the pipeline

    def forward(self, batch: dict) -> dict:
        """Per-task losses (never summed: a weighting method combines them), predictions,
        the context and the shared encoder outputs computed for this batch: {"h": phoneme
        encoding, "h_chars": character pass} (a lexicon batch has only h_chars)."""
        if "feats" in batch:
            if self.speaker_embed is not None and "speaker" not in batch:
                raise MttsError("a multi-speaker model is trained on batches with speaker indices "
                                "(the data dir's utt2spk and spk2id)")
            ctx = self.encode_text(batch["text"], batch["text_lens"], batch.get("speaker"))
            ctx.feats_mask = lengths_to_mask(batch["feats_lens"], batch["feats"].shape[1])
        elif self.input == "chars" and "chars" in batch:   # lexicon words: their characters are the shared encoding
            ctx = self.encode_text(batch["chars"], batch["chars_lens"])
        else:  # a text-only batch (e.g. lexicon words for G2P): no phoneme encoding to share
            ctx = Context()
        preds = self.run_stage("align", ctx, batch)       # alignment: MAS durations; duration: their predictor
        preds |= self.run_stage("variance", ctx, batch)   # pitch, energy: embeddings added to h_dec
        if ctx.durations is not None:
            self.regulate(ctx, batch["feats"].shape[1])    # h_dec -> frames, as many as the targets
        preds |= self.run_stage("decode", ctx, batch)     # mel: decoder states and mel frames
        if "chars" in batch and self.encoder.char_embed is not None:   # a phoneme model's G2P pass
            self.encode_chars(ctx, batch["chars"], batch["chars_lens"])
        preds |= self.run_stage("auxiliary", ctx, batch)  # g2p on characters, recognition on the decoder
        losses = {name: self.tasks[name].loss(pred, batch, ctx) for name, pred in preds.items()}
        # a character model's h_chars is its h: one shared output, not the same tensor twice
        shared = {k: v for k, v in (("h", ctx.h), ("h_chars", ctx.h_chars))
                  if v is not None and not (k == "h_chars" and v is ctx.h)}
        return {"losses": losses, "preds": preds, "ctx": ctx, "shared": shared}

    def infer_text(self, text: torch.Tensor, text_lens: torch.Tensor, speaker: torch.Tensor | None = None,
                   **controls) -> tuple[Context, dict]:
        """Synthesis at input-token rate: encode, predict durations and prosody (h_dec, durations)."""
        ctx = self.encode_text(text, text_lens, speaker)
        preds = self.infer_stage("align", ctx, **controls)      # duration: predicted durations
        preds |= self.infer_stage("variance", ctx, **controls)  # pitch, energy: predicted, embedded in h_dec
        return ctx, preds

    def infer_frames(self, ctx: Context, **controls) -> dict:
        """Synthesis at frame rate, from ctx.frames: the decoder and what reads it."""
        preds = self.infer_stage("decode", ctx, **controls)     # mel
        preds |= self.infer_stage("auxiliary", ctx, **controls)  # (none of today's heads acts at synthesis)
        return preds

    @torch.no_grad()
    def infer(self, text: torch.Tensor, text_lens: torch.Tensor | None = None, speaker: torch.Tensor | None = None,
              **controls) -> dict:
        """text (B, N) input ids -> {"mel": (B, T, M) normalised, "mask", "durations", "preds"};
        speaker (B,): speaker indices of a multi-speaker model (None: index 0)."""
        if text_lens is None:
            text_lens = torch.full((text.shape[0],), text.shape[1], dtype=torch.long)
        ctx, preds = self.infer_text(text, text_lens, speaker, **controls)   # encode -> durations -> variance
        self.regulate(ctx)                                          # h_dec -> frames
        preds |= self.infer_frames(ctx, **controls)                 # decode -> auxiliary heads
        return {"mel": ctx.mel_pred, "mask": ctx.frames_mask, "durations": ctx.durations, "preds": preds}

    @torch.no_grad()
    def phonemes_from_chars(self, chars: torch.Tensor) -> list[list[int]]:
        """G2P at synthesis: character ids (B, C) -> phoneme ids per utterance."""
        g2p = next((t for t in self.tasks.values() if "h_chars" in t.reads), None)
        if g2p is None or self.encoder.char_embed is None:
            raise MttsError("this model has no task that reads characters (g2p)")
        lens = torch.full((chars.shape[0],), chars.shape[1], dtype=torch.long)
        return g2p.decode(self.encode_chars(Context(), chars, lens), lens)

    @torch.no_grad()
    def metrics(self, out: dict, batch: dict) -> dict[str, float]:
        m = {f"loss_{k}": float(v) for k, v in out["losses"].items()}
        for name, pred in out["preds"].items():
            m.update(self.tasks[name].metrics(pred, batch, out["ctx"]))
        return m

    # what weighting methods see

    def shared_parameters(self) -> dict[str, list[nn.Parameter]]:
        """For each shared encoder output (a key of forward's `shared`), the parameters behind it."""
        return self.encoder.shared_parameters()

    def encoder_tasks(self) -> dict[str, list[str]]:
        """For each shared encoder output, the tasks whose losses reach the encoder through it:
        h, the phoneme encoding, or h_chars, the character pass (g2p). A detached head's (the
        duration predictor's) reach it through neither."""
        out: dict[str, list[str]] = {k: [] for k in self.shared_parameters()}
        for name, task in self.tasks.items():
            if task.shares_encoder:
                out[task.encoder_output].append(name)
        return out


def check_flow(tasks: nn.ModuleDict, chars: bool) -> None:
    """Every context field a task reads is written before it, in training and at synthesis,
    by the model's steps (as in forward and infer) or an earlier task; stages follow the
    registry order."""
    for name, task in tasks.items():
        if task.stage not in STAGES:
            raise MttsError(f"task '{name}' has an unknown stage {task.stage!r} (known: {', '.join(STAGES)})")
    order = [STAGES.index(t.stage) for t in tasks.values()]
    if order != sorted(order):
        raise MttsError(f"tasks {', '.join(tasks)} are not in stage order ({' -> '.join(STAGES)})")
    fields = {f.name for f in dataclasses.fields(Context)}
    for name, task in tasks.items():
        unknown = [f for f in (*task.reads, *task.writes, *task.infer_reads, *task.infer_writes) if f not in fields]
        if unknown:
            raise MttsError(f"task '{name}' declares unknown context field(s) {', '.join(unknown)}")
    for mode in ("training", "synthesis"):
        # speaker: written by encode (None with one speaker: with_speaker then passes h through)
        written = {"text_mask", "h", "h_dec", "speaker"} | ({"feats_mask"} if mode == "training" else set())
        for stage in STAGES:
            if stage == "decode" and "durations" in written:
                written |= {"frames", "frames_mask"}                 # the length regulator
            if stage == "auxiliary" and chars and mode == "training":
                written |= {"h_chars", "chars_mask"}
            for name, task in tasks.items():
                if task.stage != stage:
                    continue
                reads, writes = ((task.reads, task.writes) if mode == "training"
                                 else (task.infer_reads, task.infer_writes))
                missing = [f for f in reads if f not in written]
                if missing:
                    raise MttsError(f"task '{name}' reads {', '.join(missing)} in {mode}, which no step "
                                    "before it writes: enable the task that provides it")
                written |= set(writes)
