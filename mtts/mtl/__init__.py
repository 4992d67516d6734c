"""Registry of task-weighting methods (`mtl.method` in the config, `--mtl-method`)."""

import math

from mtts.config import Config
from mtts.errors import MttsError
from mtts.mtl.base import WeightingMethod
from mtts.mtl.dwa import DynamicWeightAverage
from mtts.mtl.famo import FAMO
from mtts.mtl.gradnorm import GradNorm
from mtts.mtl.jacobian import CAGradMethod, MGDAMethod, NashMTLMethod, PCGradMethod, UPGradMethod
from mtts.mtl.rlw import RandomLossWeighting
from mtts.mtl.static import StaticWeighting
from mtts.mtl.uncertainty import UncertaintyWeighting

METHODS: dict[str, type[WeightingMethod]] = {
    "static": StaticWeighting,
    "uncertainty": UncertaintyWeighting,
    "dwa": DynamicWeightAverage,
    "gradnorm": GradNorm,
    "rlw": RandomLossWeighting,
    "famo": FAMO,
    "pcgrad": PCGradMethod,
    "cagrad": CAGradMethod,
    "mgda": MGDAMethod,
    "upgrad": UPGradMethod,
    "nashmtl": NashMTLMethod,
}


def validate_method(cfg: Config) -> None:
    """The mtl section: a known method (its options are checked when it is built), a learning
    rate > 0 for learnt weights."""
    if cfg.mtl.method not in METHODS:
        raise MttsError(f"unknown mtl.method '{cfg.mtl.method}' (known: {', '.join(METHODS)})")
    if not math.isfinite(cfg.mtl.weight_lr) or cfg.mtl.weight_lr <= 0:
        raise MttsError(f"config key 'mtl.weight_lr' must be a number > 0, got {cfg.mtl.weight_lr!r}")


__all__ = ["METHODS", "WeightingMethod", "validate_method"]
