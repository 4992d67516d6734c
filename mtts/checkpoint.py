"""Checkpoints and model packages: files that can be loaded without running any code.

A training checkpoint (EXP/checkpoints/step_*.pt) holds model, weighting-method, optimiser,
scheduler and RNG states and the package metadata, as tensors and plain Python values only;
it is read with `torch.load(weights_only=True)`, which refuses anything else, so `--resume`
continues exactly and a crafted file cannot execute. A model package (`select-best`'s
EXP/best.safetensors) is what synthesis needs and nothing more: the weights (and the neural
vocoder's) as safetensors, the metadata (config, token tables, feature parameters,
statistics, text front end, vocoder config, a multi-speaker model's speaker -> index map) as
JSON in the file's header. Both load as a `Package`, so `mtts synthesize` works from either
file alone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mtts.config import Config
from mtts.errors import MttsError
from mtts.features.audio import FeatureParams
from mtts.io import atomic_path, torch_load, torch_save
from mtts.model import MultiTaskModel
from mtts.text.tokens import TokenTable
from mtts.validate import config_from_dict

STEP_RE = re.compile(r"step_(\d+)\.pt$")
FORMAT = "mtts-package"   # safetensors header key `format`: what tells a package from other safetensors
VERSION = 1


def save(path: Path, state: dict) -> None:
    torch_save(state, path)


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    found = [p for p in ckpt_dir.glob("step_*.pt") if STEP_RE.search(p.name)]
    return sorted(found, key=lambda p: int(STEP_RE.search(p.name).group(1)))


def resolve(path: Path | str, hint: str) -> Path:
    """A checkpoint file as given, or the newest checkpoint of an exp dir; `hint` says how to
    make one when the dir has none."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path / "checkpoints")
        if not found:
            raise MttsError(f"{path} holds no checkpoints: {hint}")
        path = found[-1]
    return path


def prune(ckpt_dir: Path, keep: int) -> None:
    if keep > 0:
        for p in list_checkpoints(ckpt_dir)[:-keep]:
            p.unlink(missing_ok=True)


REQUIRED = ("model", "config", "tokens", "feature_params", "stats")
STATS = ("mel_mean", "mel_std", "pitch_mean", "pitch_std", "energy_mean", "energy_std")


def load(path: Path) -> dict:
    """A training checkpoint as a dict (resume reads its optimiser and RNG states)."""
    ckpt = torch_load(path)
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED):
        raise MttsError(f"{path} is not an mtts checkpoint (missing model/config/tokens)")
    return ckpt


@dataclass
class VocoderPackage:
    """The neural vocoder inside a model package, or read from a vocoder checkpoint."""
    config: dict
    feature_params: dict
    stats: dict
    step: int
    weights: dict[str, torch.Tensor]

    def meta(self) -> dict:
        return {"config": self.config, "feature_params": self.feature_params, "stats": self.stats,
                "step": self.step}


@dataclass
class Package:
    """Everything synthesis, evaluation and export need to rebuild a trained model."""
    config: Config
    tokens: TokenTable
    feature_params: FeatureParams
    stats: dict
    weights: dict[str, torch.Tensor]
    text: dict = field(default_factory=lambda: {"normalizer": "builtin"})   # front end (tokenize)
    chars: TokenTable | None = None      # present when the model reads characters (g2p, data.input: chars)
    step: int | None = None
    vocoder: VocoderPackage | None = None
    speakers: dict[str, int] | None = None   # a multi-speaker model's spk2id; None: one speaker

    @classmethod
    def from_checkpoint(cls, ck: dict, where: Path | str = "checkpoint") -> "Package":
        """From a training checkpoint's dict (or a package written before safetensors)."""
        missing = [k for k in STATS if not isinstance((ck.get("stats") or {}).get(k), (int, float, list))]
        if missing:
            raise MttsError(f"{where} is not an mtts checkpoint (statistics without {', '.join(missing)})")
        try:
            voc = ck.get("vocoder")
            pkg = cls(config=config_from_dict(ck["config"]), tokens=TokenTable(ck["tokens"]),
                      feature_params=FeatureParams.from_dict(ck["feature_params"]), stats=ck["stats"],
                      weights=ck["model"], text=ck.get("text") or {"normalizer": "builtin"},
                      chars=TokenTable(ck["chars"]) if ck.get("chars") else None, step=ck.get("step"),
                      vocoder=VocoderPackage(voc["config"], voc["feature_params"], voc["stats"], voc["step"],
                                             voc["model"]) if voc else None,
                      speakers=check_speakers(ck.get("speakers"), where))
        except (KeyError, TypeError) as e:
            raise MttsError(f"{where} is not an mtts checkpoint (bad or missing entry {e})") from None
        if pkg.input == "chars" and pkg.chars is None:
            raise MttsError(f"{where} is a character-input model without its character table")
        return pkg

    @property
    def input(self) -> str:
        """What the model reads (its config's data.input): "phones" or "chars"."""
        return self.config.data.input

    def meta(self) -> dict:
        """The package's metadata as plain JSON values."""
        return {"version": VERSION, "config": self.config.to_dict(), "tokens": self.tokens.symbols,
                "feature_params": self.feature_params.to_dict(), "stats": self.stats, "text": self.text,
                "chars": self.chars.symbols if self.chars else None, "step": self.step,
                "vocoder": self.vocoder.meta() if self.vocoder else None, "speakers": self.speakers}

    def build_model(self, where: Path | str = "checkpoint") -> MultiTaskModel:
        """The model exactly as it was trained, in eval mode."""
        model = MultiTaskModel(self.config, len(self.tokens), self.feature_params.n_mels,
                               (self.stats["pitch_mean"], self.stats["pitch_std"]),
                               len(self.chars) if self.chars else 0, len(self.speakers or {}))
        try:
            model.load_state_dict(self.weights)
        except RuntimeError as e:
            raise MttsError(f"{where}: weights do not match its config/vocabulary "
                            f"({str(e).splitlines()[0][:120]})") from None
        return model.eval()

    def save(self, path: Path) -> None:
        """One safetensors file: tensors `model.*` and `vocoder.*`, metadata JSON in the header."""
        from safetensors.torch import save_file
        tensors = {f"model.{k}": v.detach().contiguous() for k, v in self.weights.items()}
        if self.vocoder is not None:
            tensors.update({f"vocoder.{k}": v.detach().contiguous() for k, v in self.vocoder.weights.items()})
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={"format": FORMAT, "meta": json.dumps(self.meta())})

    @classmethod
    def load(cls, path: Path | str) -> "Package":
        """A model package or a training checkpoint; neither can run code when read."""
        path = Path(path)
        if not path.is_file():
            raise MttsError(f"model file {path} does not exist")
        if not is_safetensors(path):
            if path.suffix == ".safetensors":   # torch.load would hand it to safetensors anyway
                raise MttsError(f"{path} is not a safetensors file, so not an mtts model package; nothing was run")
            return cls.from_checkpoint(load(path), path)
        from safetensors import SafetensorError, safe_open
        try:
            with safe_open(str(path), framework="pt") as f:
                header = f.metadata() or {}
                if header.get("format") != FORMAT:
                    raise MttsError(f"{path} is a safetensors file but not an mtts model package")
                tensors = {k: f.get_tensor(k) for k in f.keys()}
            meta = json.loads(header["meta"])
        except (SafetensorError, OSError, ValueError, KeyError) as e:
            raise MttsError(f"model package {path} is unreadable ({type(e).__name__}); "
                            "it may be truncated: write it again with `mtts select-best`") from None
        if meta.get("version") != VERSION:
            raise MttsError(f"{path}: package version {meta.get('version')} is not supported "
                            f"(this mtts reads version {VERSION})")
        model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        voc = {k[8:]: v for k, v in tensors.items() if k.startswith("vocoder.")}
        ck = {**meta, "model": model,
              "vocoder": {**meta["vocoder"], "model": voc} if meta.get("vocoder") else None}
        return cls.from_checkpoint(ck, path)


def check_speakers(speakers, where: Path | str) -> dict[str, int] | None:
    """A saved speaker map: names (safe ids) -> indices 0..n-1; None or {} for one speaker."""
    from mtts.io import check_id
    if not speakers:
        return None
    if not isinstance(speakers, dict) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                 for v in speakers.values()):
        raise MttsError(f"{where}: its speaker map is not names -> indices")
    for name in speakers:
        check_id(str(name), f"{where}: speaker")
    if sorted(speakers.values()) != list(range(len(speakers))):
        raise MttsError(f"{where}: its speaker indices are not 0..{len(speakers) - 1}")
    return dict(speakers)


def speaker_index(speakers: dict[str, int] | None, name: str | None) -> int | None:
    """A speaker name -> its index in `speakers` (a model's map); None for None (a multi-speaker
    model then speaks with index 0). An unknown name, or any name for a single-speaker model
    (speakers None), is an error naming the speakers there are."""
    if name is None:
        return None
    if not speakers:
        raise MttsError(f"--speaker {name}: this model has a single speaker; leave out --speaker")
    if name not in speakers:
        raise MttsError(f"unknown speaker {name!r}: this model knows {', '.join(sorted(speakers))}")
    return speakers[name]


def is_safetensors(path: Path) -> bool:
    """A safetensors file starts with the 8-byte length of a JSON header that opens with '{'."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000

