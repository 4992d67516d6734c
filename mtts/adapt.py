"""Adapting a trained model: `mtts train --init-from MODEL` (train.init_from) and train.freeze.

A new run starts from the weights of a model package (`select-best`'s best.safetensors), a
training checkpoint or an exp dir (its newest checkpoint), instead of its seeded
initialisation. Only the weights are taken: the optimiser, schedule and step count start
afresh, so the run's own train.lr, warm-up and max_steps are the fine-tuning's.

- The source must be the same network (model.d_model, layers, heads, ff sizes; dropout may
  differ) and read the same input: its token table (and character table, where both
  have one) and its feature parameters must equal the new dump's, else the embedding rows and
  mel bins would mean other things; a mismatch is a one-line error. The pitch search range
  (f0_min, f0_max) may differ: pitch is normalised by the new data's own statistics.
- A tensor is copied when the new model has one of the same name and shape; the rest (a
  task the source did not train, a speaker classifier over another number of speakers) keep
  their seeded initialisation and are listed in EXP/init.json.
- The speaker table is matched by speaker name: a speaker the source knows keeps its row,
  a new one starts at the mean of the source's rows (an average voice, not a random one); a
  single-speaker source gives every new speaker a zero row, so each starts as the source's one
  voice. New data with one speaker has no table: a single-speaker source then keeps every
  weight; a multi-speaker source's table is dropped and the decoder adapts to the new voice.
- The run normalises mels, pitch and energy with the source's statistics, not the new dump's:
  the decoder keeps its output space, and the source's neural vocoder, which reads normalised
  mels, still fits the adapted model (select-best --vocoder). EXP/init.json keeps them, so a
  resumed run uses them too.
- train.freeze names module prefixes (encoder, tasks.duration, speaker_embed, ...): their
  parameters get no gradient and never change.

EXP/init.json records the source, what was copied and what was not; train.init_from stays in
EXP/config.yaml and every checkpoint's config. `--resume` of such a run continues it from its
own checkpoint and never reads the source again.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mtts.checkpoint import Package, list_checkpoints, resolve
from mtts.config import Config
from mtts.console import console
from mtts.errors import MttsError
from mtts.features.audio import FeatureParams
from mtts.io import read_json
from mtts.model import MultiTaskModel
from mtts.mtl import METHODS
from mtts.mtl.gradnorm import GradNorm
from mtts.mtl.jacobian import JacobianMethod
from mtts.run import Run
from mtts.text.tokens import TokenTable

SPEAKER_TABLE = "speaker_embed.weight"
ENCODER_GRADIENTS = (JacobianMethod, GradNorm)   # methods that differentiate at the shared encoder
# feature parameters that may differ between source and new data (see the module docstring)
FREE_PARAMS = ("f0_min", "f0_max")
# model keys that make another network: weights of the same shape would still mean other things
SHAPE_KEYS = ("d_model", "n_heads", "encoder_layers", "decoder_layers", "ff_kernel", "ff_mult")


def load_source(path: str | Path) -> Package:
    """The model to start from: a package, a checkpoint or an exp dir's newest checkpoint."""
    return Package.load(resolve(path, "train it first, or name its best.safetensors"))


def check_compatible(pkg: Package, where: str, cfg: Config, tokens: TokenTable, chars: TokenTable | None,
                     params: FeatureParams) -> None:
    """One-line errors when the source has another network shape than the config, or reads other
    tokens or other features than the new dump."""
    src_model, new_model = pkg.config.model, cfg.model
    differ = [k for k in SHAPE_KEYS if getattr(src_model, k) != getattr(new_model, k)]
    if differ or pkg.input != cfg.data.input:
        what = [f"model.{k} ({getattr(src_model, k)} vs {getattr(new_model, k)})" for k in differ]
        what += [f"data.input ({pkg.input} vs {cfg.data.input})"] if pkg.input != cfg.data.input else []
        raise MttsError(f"--init-from {where}: its network differs from the config's in {', '.join(what)}; "
                        "adapt with the source's model section (its EXP/config.yaml)")
    if pkg.tokens.symbols != tokens.symbols:
        extra = sorted(set(tokens.symbols) - set(pkg.tokens.symbols))
        raise MttsError(f"--init-from {where}: its token table differs from DUMP/tokens.txt "
                        + (f"(new symbols {' '.join(extra[:8])})" if extra else "(other order or symbols)")
                        + "; copy the source's dump/tokens.txt over it (symbols it lacks are read as <unk>)")
    if pkg.chars is not None and chars is not None and pkg.chars.symbols != chars.symbols:
        raise MttsError(f"--init-from {where}: its character table differs from DUMP/chars.txt; "
                        "copy the source's dump/chars.txt over it")
    src, new = pkg.feature_params.to_dict(), params.to_dict()
    differ = [k for k in new if k not in FREE_PARAMS and src.get(k) != new[k]]
    if differ:
        raise MttsError(f"--init-from {where}: its features differ from DUMP/feature_params.json in "
                        + ", ".join(f"{k} ({src.get(k)} vs {new[k]})" for k in differ)
                        + "; prepare the new data with the source's feature parameters")


def speaker_rows(src: torch.Tensor | None, src_speakers: dict[str, int] | None, speakers: dict[str, int],
                 like: torch.Tensor) -> tuple[torch.Tensor, dict[str, str]]:
    """The new speaker table (like: its initial tensor) and, per speaker, where its row came from."""
    table, origin = like.clone(), {}
    if src is None:   # a single-speaker source: every voice starts as its one voice
        table.zero_()
        return table, {s: "zero (single-speaker source)" for s in speakers}
    mean = src.mean(dim=0)
    for name, i in speakers.items():
        if name in (src_speakers or {}):
            table[i] = src[src_speakers[name]]
            origin[name] = "copied"
        else:
            table[i] = mean
            origin[name] = "mean of the source's speakers"
    return table, origin


def init_from(model: MultiTaskModel, pkg: Package, speakers: dict[str, int] | None) -> dict:
    """Copy the source's weights into `model` (name and shape match; the speaker table by
    speaker name); returns what was done, for EXP/init.json."""
    state = model.state_dict()
    new_state, copied, skipped = {}, [], []
    for name, value in pkg.weights.items():
        if name == SPEAKER_TABLE:
            continue
        if name in state and state[name].shape == value.shape:
            new_state[name] = value.to(state[name].dtype)
            copied.append(name)
        else:
            skipped.append(name)
    if not copied:
        raise MttsError("--init-from: none of the source model's weights fit this config's model "
                        "(model.d_model, layers or tasks differ); start from the source's config")
    origin = {}
    if SPEAKER_TABLE in state:
        new_state[SPEAKER_TABLE], origin = speaker_rows(pkg.weights.get(SPEAKER_TABLE), pkg.speakers,
                                                        speakers or {}, state[SPEAKER_TABLE])
    elif SPEAKER_TABLE in pkg.weights:
        skipped.append(SPEAKER_TABLE)
    model.load_state_dict(new_state, strict=False)
    fresh = sorted(k for k in state if k not in new_state)
    return {"copied": len(copied), "not_copied": sorted(skipped), "initialised": fresh, "speakers": origin,
            "source_step": pkg.step, "source_speakers": sorted(pkg.speakers or {})}


def module_prefixes(model: torch.nn.Module) -> list[str]:
    """Every module path that holds parameters (encoder, encoder.embed, tasks.duration, ...)."""
    out = set()
    for name, _ in model.named_parameters():
        parts = name.split(".")[:-1]
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return sorted(out)


def freeze(model: torch.nn.Module, prefixes: list[str]) -> int:
    """Turn off the gradients of the parameters under each prefix (validated); the number frozen."""
    known = module_prefixes(model)
    for p in prefixes:
        if p not in known:
            tops = sorted({k.split(".")[0] for k in known} | {k for k in known if k.startswith("tasks.")
                                                            and k.count(".") == 1})
            raise MttsError(f"config key 'train.freeze': this model has no module {p!r} "
                            f"(modules: {', '.join(tops)})")
    n = 0
    for name, param in model.named_parameters():
        if any(name.startswith(p + ".") for p in prefixes):
            param.requires_grad_(False)
            n += param.numel()
    return n


def source(cfg: Config, run: Run, tokens: TokenTable, chars: TokenTable | None,
           params: FeatureParams) -> tuple[str, Package] | None:
    """train.init_from's model, checked against the new dump; None without one, and when the run
    has checkpoints already (a resumed adaptation continues from its own)."""
    if not cfg.train.init_from or list_checkpoints(run.ckpt_dir):
        return None
    pkg = load_source(cfg.train.init_from)
    check_compatible(pkg, cfg.train.init_from, cfg, tokens, chars, params)
    return cfg.train.init_from, pkg


def statistics(exp_dir: Path, src: tuple[str, Package] | None, stats: dict) -> dict:
    """The normalisation statistics a run trains with: the source's for an adaptation (kept in
    EXP/init.json for its resumption), else the dump's."""
    if src is not None:
        return src[1].stats
    init = exp_dir / "init.json"
    if init.is_file():
        saved = read_json(init).get("stats")
        if isinstance(saved, dict):
            return saved
    return stats


def start(cfg: Config, run: Run, model: MultiTaskModel, src: tuple[str, Package] | None,
          speakers: dict[str, int] | None) -> dict | None:
    """Before the optimiser is built: train.freeze, then the source's weights (`source`).
    Returns what EXP/init.json records, or None when nothing was initialised."""
    frozen = freeze(model, cfg.train.freeze)
    encoder_frozen = not all(model.shared_parameters().values())   # (it lists trainable parameters only)
    if frozen and encoder_frozen and issubclass(METHODS[cfg.mtl.method], ENCODER_GRADIENTS):
        raise MttsError(f"config key 'train.freeze': mtl.method '{cfg.mtl.method}' acts on the shared encoder's "
                        "gradients, which a frozen encoder has none of; use a loss-weighting method (static)")
    if src is None:
        return None
    where, pkg = src
    report = init_from(model, pkg, speakers)
    if run.main:
        note = f"; {frozen / 1e6:.2f} M parameters frozen" if frozen else ""
        console.print(f"initialised from {where} (step {pkg.step}): {report['copied']} tensors copied, "
                      f"{len(report['initialised'])} new{note}")
    return {"init_from": where, "frozen": cfg.train.freeze, "frozen_parameters": frozen, **report, "stats": pkg.stats}


def check_resumed(cfg: Config, ck: dict, where: Path) -> None:
    """A resumed run keeps the source it was initialised from: another --init-from is an error,
    none takes the checkpoint's (so EXP/config.yaml keeps recording it)."""
    saved = ((ck.get("config") or {}).get("train") or {}).get("init_from") or ""
    if cfg.train.init_from and Path(cfg.train.init_from).resolve() != Path(saved or ".").resolve():
        raise MttsError(f"{where} was initialised from {saved or 'nothing (a seeded start)'}, not "
                        f"{cfg.train.init_from}: resume without --init-from, or use a new --exp-dir")
    cfg.train.init_from = saved
