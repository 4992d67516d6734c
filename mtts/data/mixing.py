"""Batches of several datasets for one training step: the corpus (the acoustic tasks) and,
on top of it, the other datasets by their ratio to the corpus (a lexicon for G2P, ...).

A batch carries only its dataset's fields; the model skips the tasks whose fields are
missing, so those tasks add no loss for that batch. `train.max_steps` counts corpus
batches: a mix adds batches, it never takes corpus batches away, so variants with and
without it see the same acoustic budget.

With r = mix[name] / mix["corpus"], corpus step s is preceded by
floor((s + 1) r) - floor(s r) batches of that dataset: a function of the step alone, and
each dataset keeps its own (epoch, batch) cursor, so a resumed run replays exactly the
same batches.

Under several training processes (`rank` of `world`) every process builds the same global
batches, from (seed, epoch) alone, and draws only its share of each (`rank_share`), so the
global batch, and the run, do not depend on the number of processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from mtts.data.dataset import frame_batches, rank_share

CORPUS = "corpus"


@dataclass
class Source:
    dataset: object                      # indexable, with .lengths
    batch_size: int                      # padded length units (frames, characters) per batch
    collate: Callable[[list[dict]], dict]


def ratio(value: float) -> Fraction:
    """A mix value as an exact fraction: floors of multiples of it never drift with the step."""
    return Fraction(value).limit_denominator(1_000_000)


class BatchMixer:
    def __init__(self, sources: dict[str, Source], mix: dict[str, float], seed: int, rank: int = 0,
                 world: int = 1):
        if CORPUS not in sources or not mix.get(CORPUS, 0) > 0:
            raise ValueError("the mixer needs a corpus with a ratio > 0")
        self.sources, self.seed, self.rank, self.world = sources, seed, rank, world
        corpus = ratio(mix[CORPUS])
        # extra batches per corpus step, in the order of `sources`
        self.ratios = {n: ratio(mix[n]) / corpus for n in sources if n != CORPUS and mix.get(n, 0) > 0}
        self.cursors = {n: [0, 0] for n in sources}   # name -> [epoch, batch index]
        self._cache: dict[str, tuple[int, list]] = {}

    def _batches(self, name: str, epoch: int) -> list[list[int]]:
        if self._cache.get(name, (None,))[0] != epoch:
            src = self.sources[name]
            self._cache[name] = (epoch, frame_batches(src.dataset.lengths, src.batch_size, self.seed, epoch))
        return self._cache[name][1]

    def extras(self, step: int) -> dict[str, int]:
        """How many batches of each non-corpus dataset come before corpus step `step`."""
        return {n: math.floor((step + 1) * r) - math.floor(step * r) for n, r in self.ratios.items()}

    def draw(self, name: str) -> dict:
        """The next batch of one dataset (this process's share of it)."""
        return self.draw_share(name)[0]

    def draw_share(self, name: str) -> tuple[dict, bool]:
        """This process's share of the next batch of one dataset, and whether it is a real one
        (False: a stand-in, rank_share says why); its cursor moves on (into the next epoch at
        the end)."""
        epoch, idx = self.cursors[name]
        batches = self._batches(name, epoch)
        if idx >= len(batches):
            epoch, idx = epoch + 1, 0
            batches = self._batches(name, epoch)
        src = self.sources[name]
        share, active = rank_share(batches[idx], self.rank, self.world)
        batch = src.collate([src.dataset[i] for i in share])
        self.cursors[name] = [epoch, idx + 1]
        return batch, active

    def shares(self, step: int) -> list[tuple[str, dict, bool]]:
        """(dataset, batch, active) of corpus step `step`: the extra ones, then the corpus batch last."""
        out = [(n, *self.draw_share(n)) for n, k in self.extras(step).items() for _ in range(k)]
        return out + [(CORPUS, *self.draw_share(CORPUS))]

    def step(self, step: int) -> list[tuple[str, dict]]:
        """The batches of corpus step `step` (one process's view)."""
        return [(n, b) for n, b, _ in self.shares(step)]

    def state_dict(self) -> dict:
        return {n: list(c) for n, c in self.cursors.items()}

    def load_state_dict(self, state: dict) -> None:
        for n, c in state.items():
            if n in self.cursors:
                self.cursors[n] = list(c)
