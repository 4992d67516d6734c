"""The batch mixer: extra datasets on top of the corpus steps by their ratio to the corpus,
a function of the step, cursors that resume exactly."""

from __future__ import annotations

from collections import Counter

import pytest

from mtts.data.mixing import BatchMixer, Source


class Toy:
    def __init__(self, tag: str, n: int):
        self.items = [{"tag": tag, "i": i} for i in range(n)]
        self.lengths = [10 + i % 7 for i in range(n)]

    def __getitem__(self, i):
        return self.items[i]


def collate(items):
    return {"tag": items[0]["tag"], "idx": [it["i"] for it in items]}


def mixer(ratios, seed=3):
    return BatchMixer({"corpus": Source(Toy("c", 50), 40, collate), "lexicon": Source(Toy("l", 200), 60, collate)},
                      ratios, seed)


def test_extra_batches_come_on_top_of_every_corpus_step_by_ratio():
    m = mixer({"corpus": 0.8, "lexicon": 0.2})     # one lexicon batch per four corpus steps
    steps = [m.step(s) for s in range(100)]
    assert all(len(b) >= 1 and b[-1][0] == "corpus" for b in steps)   # every step trains one corpus batch, last
    assert Counter(name for b in steps for name, _ in b) == {"corpus": 100, "lexicon": 25}
    assert [s for s, b in enumerate(steps) if len(b) == 2] == list(range(3, 100, 4))   # floor((s+1)/4) - floor(s/4)
    alone = mixer({"corpus": 1.0})
    for s in range(100):
        alone.step(s)
    assert m.cursors["corpus"] == alone.cursors["corpus"]     # the same corpus batches as without the lexicon
    assert [mixer({"corpus": 1, "lexicon": 1.5}).extras(s)["lexicon"] for s in range(4)] == [1, 2, 1, 2]
    assert sum(mixer({"corpus": 0.7, "lexicon": 0.1}).extras(s)["lexicon"] for s in range(700)) == 100   # exact
    assert {name for s in range(50) for name, _ in mixer({"corpus": 1.0, "lexicon": 0}).step(s)} == {"corpus"}


def test_every_item_is_seen_once_per_epoch():
    m = mixer({"corpus": 1.0})
    seen = []
    for _ in range(len(m._batches("corpus", 0))):
        seen.extend(m.draw("corpus")["idx"])
    assert sorted(seen) == list(range(50)) and m.cursors["corpus"][0] == 0
    m.draw("corpus")
    assert m.cursors["corpus"] == [1, 1]   # the next epoch's first batch


def test_resumed_mixer_replays_the_same_batches():
    a = mixer({"corpus": 2, "lexicon": 1})
    ref = [a.step(s) for s in range(300)]
    b = mixer({"corpus": 2, "lexicon": 1})
    for s in range(121):
        b.step(s)
    c = mixer({"corpus": 2, "lexicon": 1})
    c.load_state_dict(b.state_dict())
    assert [c.step(s) for s in range(121, 300)] == ref[121:]
    other = mixer({"corpus": 2, "lexicon": 1}, seed=4)
    assert [other.step(s) for s in range(300)] != ref


def test_a_mix_without_corpus_is_refused():
    with pytest.raises(ValueError, match="corpus"):
        mixer({"lexicon": 1.0})
