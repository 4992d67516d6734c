"""Registry of task-weighting methods (`mtl.method` in the config)."""

from mtts.mtl.base import WeightingMethod
from mtts.mtl.static import StaticWeighting

METHODS: dict[str, type[WeightingMethod]] = {
    "static": StaticWeighting,
}

__all__ = ["METHODS", "WeightingMethod"]
