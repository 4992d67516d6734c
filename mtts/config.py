"""Training configuration: plain dataclasses loaded from YAML.

Unknown keys and wrong types are errors that name the key, so a typo never trains the
wrong model silently. The full config is saved next to every checkpoint. This module
imports nothing of mtts but mtts.errors: the task, method and precision registries check
their own sections (mtts.validate runs every check).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from mtts.errors import MttsError

DATASETS = ("corpus", "lexicon")
MAX_YAML_BYTES = 1 << 20   # a config or plan is a few kB; anything near this is not one
# Every number in a config is finite, >= 0 and at most LARGEST, unless its class's RANGES
# says otherwise: name -> (low, high, low excluded). A value outside is a typo or a unit slip
# (batch_frames 10^12, a negative learning rate), caught here before it costs a run.
LARGEST = 10 ** 9
INPUTS = ("phones", "chars")   # data.input: what the shared encoder reads
LOADS = ("auto", "memory", "stream")   # data.load: features in memory or read per batch


@dataclass
class ModelConfig:
    d_model: int = 192          # width of encoder, decoder and task heads
    n_heads: int = 2
    encoder_layers: int = 4
    decoder_layers: int = 4
    ff_kernel: int = 3          # conv feed-forward as in FastSpeech
    ff_mult: int = 2
    dropout: float = 0.0        # small corpora on a CPU budget underfit before they overfit
    # the decoder's positions start at a random frame in [0, this] in training (0: off), so
    # that it reads silence and speech from its input, not from the absolute frame position
    decoder_position_jitter: int = 0
    RANGES: ClassVar[dict] = {"d_model": (1, 8192, False), "n_heads": (1, 256, False), "ff_kernel": (1, 31, False),
                              "ff_mult": (1, 64, False), "encoder_layers": (0, 256, False),
                              "decoder_layers": (0, 256, False), "dropout": (0, 1, False)}


@dataclass
class MTLConfig:
    method: str = "static"      # key of mtts.mtl.METHODS
    options: dict[str, Any] = field(default_factory=dict)  # passed to the method, e.g. {alpha: 1.5}
    # Adam's rate for learnt task weights (GradNorm's w, uncertainty's log-variances), constant:
    # off the model's warm-up and decay. GradNorm steps w apart from the network and renormalises
    # it; Kendall et al. learn s by the network's gradient descent. Both need the weights to
    # move: Adam moves one about its rate per step, so at 0.025 a w of about 1 changes by its
    # own size in ~40 steps and s reaches log(λ L) (1-3 away) in ~100, well inside a 250-step
    # ablation run; the model's 2e-3, warming up and decaying, moves s by under 0.3 there.
    weight_lr: float = 0.025


@dataclass
class DataConfig:
    # what the shared encoder reads: "phones" (espeak's phonemes) or "chars" (the normalised
    # text's characters, DUMP/chars.txt); alignment and prosody then work per character
    input: str = "phones"
    # dataset -> ratio; batches of a dataset other than the corpus come on top of the corpus
    # steps, mix[name] / mix["corpus"] of them per step (train.max_steps counts corpus steps).
    # `lexicon` (cmudict words, `mtts tokenize --lexicon-words N`) feeds the g2p task only
    mix: dict[str, float] = field(default_factory=lambda: {"corpus": 1.0})
    lexicon_batch_chars: int = 4000   # padded characters per lexicon batch
    # "memory": features read once; "stream": read per batch (a corpus bigger than RAM);
    # "auto": streams when the feature files exceed half the memory available at start
    load: str = "auto"
    RANGES: ClassVar[dict] = {"lexicon_batch_chars": (1, 10 ** 7, False)}


@dataclass
class TrainConfig:
    seed: int = 1234
    max_steps: int = 20000
    max_minutes: float = 0.0    # wall-clock budget; 0 = no limit
    batch_frames: int = 8000    # batches are filled up to this many mel frames (global: torchrun divides them)
    lr: float = 1e-3
    warmup_steps: int = 500
    grad_clip: float = 1.0
    log_every: int = 50
    ckpt_every: int = 1000
    keep_checkpoints: int = 5
    num_threads: int = 0        # torch intra-op threads; 0 = torch's default
    precision: str = "fp32"     # "bf16": bfloat16 autocast in training steps (mtts/precision.py)
    # free-running intelligibility at every dev evaluation: pocketsphinx WER/CER of the first N
    # dev sentences synthesised from text alone (Griffin-Lim); 0 = off (mtts/evaluate/listen.py)
    asr_utts: int = 0
    # adaptation (mtts/adapt.py): the model package, checkpoint or exp dir the weights start
    # from ("": seeded initialisation), and module prefixes whose parameters are not trained
    init_from: str = ""
    freeze: list[str] = field(default_factory=list)
    RANGES: ClassVar[dict] = {"seed": (0, 2 ** 32 - 1, False), "batch_frames": (1, 10 ** 7, False),
                              "lr": (0, 1, True), "grad_clip": (0, LARGEST, True), "log_every": (1, LARGEST, False),
                              "ckpt_every": (1, LARGEST, False), "num_threads": (0, 1024, False)}


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    # task name -> options; `weight` is λ_i of the static sum, the rest go to the task
    tasks: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "alignment": {"weight": 1.0},
        "duration": {"weight": 1.0},
        "pitch": {"weight": 0.1},
        "energy": {"weight": 0.1},
        "mel": {"weight": 1.0},
    })
    mtl: MTLConfig = field(default_factory=MTLConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_range(cls: type, key: str, value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise MttsError(f"config key '{where}' must be a finite number, got {value!r}")
    low, high, open_low = getattr(cls, "RANGES", {}).get(key, (0, LARGEST, False))
    if value < low or value > high or (open_low and value == low):
        raise MttsError(f"config key '{where}' must be {'>' if open_low else '>='} {low:g} and <= {high:g}, "
                        f"got {value!r}")


def _check_type(value: Any, tp: Any, where: str) -> Any:
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    origin = typing.get_origin(tp)
    if origin is dict:
        if not isinstance(value, dict):
            raise MttsError(f"config key '{where}' must be a mapping, got {value!r}")
        return value
    if origin is list:
        item = typing.get_args(tp)[0]
        if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
            raise MttsError(f"config key '{where}' must be a list of {item.__name__}, got {value!r}")
        return value
    if isinstance(tp, type) and (not isinstance(value, tp) or (tp is int and isinstance(value, bool))):
        raise MttsError(f"config key '{where}' must be {tp.__name__}, got {value!r}")
    return value


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise MttsError(f"config section '{prefix or 'top level'}' must be a mapping")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in known:
            raise MttsError(f"unknown config key '{where}' (known: {', '.join(sorted(known))})")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value or {}, f"{where}.")
        else:
            kwargs[key] = _check_type(value, tp, where)
            _check_range(cls, key, kwargs[key], where)
    return cls(**kwargs)


def from_dict(data: dict[str, Any], cls: type = Config) -> Any:
    """A config dataclass from a mapping: unknown keys and wrong types are errors naming the
    key. Only the structure: what the tasks, methods and precisions accept is checked by
    their registries (mtts.validate runs them all for the training Config)."""
    return _build(cls, data, "")


def check_data(cfg: Config) -> None:
    """The data section: a known input, known datasets, ratios >= 0, a corpus, a lexicon only with g2p."""
    if cfg.data.load not in LOADS:
        raise MttsError(f"config key 'data.load' must be one of {', '.join(LOADS)}, got {cfg.data.load!r}")
    if cfg.data.input not in INPUTS:
        raise MttsError(f"config key 'data.input' must be one of {', '.join(INPUTS)}, got {cfg.data.input!r}")
    for name, r in cfg.data.mix.items():
        if name not in DATASETS:
            raise MttsError(f"unknown dataset '{name}' in data.mix (known: {', '.join(DATASETS)})")
        if not isinstance(r, (int, float)) or isinstance(r, bool) or not 0 <= r < math.inf:   # NaN too
            raise MttsError(f"config key 'data.mix.{name}' must be a finite number >= 0, got {r!r}")
    if not cfg.data.mix.get("corpus", 0) > 0:
        raise MttsError("data.mix.corpus must be > 0: the acoustic tasks learn from the corpus")
    if cfg.data.mix.get("lexicon", 0) > 0 and "g2p" not in cfg.tasks:
        raise MttsError("data.mix.lexicon feeds the g2p task only: enable tasks.g2p or drop the lexicon")
    if cfg.train.asr_utts < 0:
        raise MttsError(f"config key 'train.asr_utts' must be >= 0 (0: off), got {cfg.train.asr_utts}")


def with_overrides(data: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of a raw config mapping with dotted keys ("train.seed") set, None values
    skipped: command-line options go through the same checks as the YAML."""
    out = dict(data) if isinstance(data, dict) else data
    for key, value in (overrides or {}).items():
        if value is None or not isinstance(out, dict):
            continue
        *sections, last = key.split(".")
        node = out
        for s in sections:
            child = node.get(s)
            if child is None:
                child = {}
            elif not isinstance(child, dict):
                break   # not a mapping: validation says so
            else:
                child = dict(child)
            node[s] = child
            node = child
        else:
            node[last] = value
    return out


MAX_YAML_VALUES = 100_000   # values once aliases are expanded; the shipped configs and plans hold a few hundred


def _expanded_size(obj: Any, memo: dict[int, int]) -> int:
    """How many values `obj` holds with every alias expanded, in time linear in the file: an
    alias is one shared object, counted once per use but walked once (memo by id)."""
    if id(obj) in memo:
        return memo[id(obj)]
    children = list(obj.keys()) + list(obj.values()) if isinstance(obj, dict) else obj if isinstance(obj, list) else []
    memo[id(obj)] = n = 1 + sum(_expanded_size(c, memo) for c in children)
    return n


def read_yaml(path: str | Path, what: str = "config") -> Any:
    """A YAML file's content ({} when empty); a missing file, bad YAML, a file over
    MAX_YAML_BYTES or aliases that expand past MAX_YAML_VALUES is one-line MttsError. Plain
    YAML only: tags that build Python objects are refused by the safe loader."""
    path = Path(path)
    if not path.is_file():
        raise MttsError(f"{what} {path} does not exist")
    if path.stat().st_size > MAX_YAML_BYTES:
        raise MttsError(f"{what} {path} is larger than {MAX_YAML_BYTES >> 10} kB: is it a config?")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if _expanded_size(data, {}) > MAX_YAML_VALUES:   # nested aliases, "billion laughs"
            raise MttsError(f"{what} {path} expands to more than {MAX_YAML_VALUES:,} values through its "
                            "aliases (*name): is it a config?")
        return data
    except UnicodeDecodeError:
        raise MttsError(f"{what} {path} is not UTF-8 text") from None
    except yaml.YAMLError as e:
        raise MttsError(f"{what} {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise MttsError(f"{what} {path} is nested too deeply to be a config") from None


def load_yaml_config(path: str | Path | None, cls: type, overrides: dict[str, Any] | None = None,
                     check: Callable[[Any], Any] | None = None) -> Any:
    """A config dataclass from YAML (defaults when path is None) with `overrides` applied to
    the raw mapping, then `check(cfg)` when given; errors name the file and the key."""
    data = with_overrides(read_yaml(path) if path is not None else {}, overrides)
    try:
        cfg = from_dict(data, cls)
        if check is not None:
            check(cfg)
        return cfg
    except MttsError as e:
        if path is None:
            raise
        raise MttsError(f"{path}: {e}") from None


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
