"""The training Config checked in full: structure and types (mtts.config), then each
section by the registry that owns it. Every problem is one line that names the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtts import config
from mtts.config import Config
from mtts.mtl import validate_method
from mtts.precision import check as check_precision
from mtts.tasks import validate_tasks


def validate_config(cfg: Config) -> Config:
    validate_tasks(cfg)
    config.check_data(cfg)
    check_precision(cfg.train.precision, "config key 'train.precision'")
    validate_method(cfg)
    return cfg


def config_from_dict(data: dict[str, Any]) -> Config:
    return validate_config(config.from_dict(data, Config))


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> Config:
    """The training Config from YAML (defaults when path is None) with command-line
    `overrides` ({"train.seed": 3}, None values skipped) set before it is checked."""
    return config.load_yaml_config(path, Config, overrides, validate_config)
