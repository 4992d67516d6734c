"""Batches drawn from several datasets by a ratio (the corpus for the acoustic tasks, a
lexicon for G2P, ...). A batch carries only its dataset's fields; the model skips the
tasks whose fields are missing, so those tasks add no loss for that step.

Which dataset a step draws is a function of (seed, step) and each dataset keeps its own
(epoch, batch) cursor, so a resumed run replays exactly the same batches.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from mtts.data.dataset import frame_batches


@dataclass
class Source:
    dataset: object                      # indexable, with .lengths
    batch_size: int                      # padded length units (frames, characters) per batch
    collate: Callable[[list[dict]], dict]


class BatchMixer:
    def __init__(self, sources: dict[str, Source], ratios: dict[str, float], seed: int):
        self.sources, self.seed = sources, seed
        self.names = [n for n in sources if ratios.get(n, 0) > 0]
        self.weights = [float(ratios[n]) for n in self.names]
        self.cursors = {n: [0, 0] for n in sources}   # name -> [epoch, batch index]
        self._cache: dict[str, tuple[int, list]] = {}

    def _batches(self, name: str, epoch: int) -> list[list[int]]:
        if self._cache.get(name, (None,))[0] != epoch:
            src = self.sources[name]
            self._cache[name] = (epoch, frame_batches(src.dataset.lengths, src.batch_size, self.seed, epoch))
        return self._cache[name][1]

    def choose(self, step: int) -> str:
        if len(self.names) == 1:
            return self.names[0]
        return random.Random(self.seed * 1_000_003 + step).choices(self.names, self.weights)[0]

    def next(self, step: int) -> tuple[str, dict]:
        name = self.choose(step)
        epoch, idx = self.cursors[name]
        batches = self._batches(name, epoch)
        if idx >= len(batches):
            epoch, idx = epoch + 1, 0
            batches = self._batches(name, epoch)
        src = self.sources[name]
        batch = src.collate([src.dataset[i] for i in batches[idx]])
        self.cursors[name] = [epoch, idx + 1]
        return name, batch

    def state_dict(self) -> dict:
        return {n: list(c) for n, c in self.cursors.items()}

    def load_state_dict(self, state: dict) -> None:
        for n, c in state.items():
            if n in self.cursors:
                self.cursors[n] = list(c)
