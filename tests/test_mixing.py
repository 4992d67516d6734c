"""The batch mixer: ratios, determinism in (seed, step), cursors that resume exactly."""

from __future__ import annotations

from collections import Counter

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


def test_sources_are_drawn_by_ratio():
    m = mixer({"corpus": 3, "lexicon": 1})
    counts = Counter(m.next(s)[0] for s in range(2000))
    assert 0.2 < counts["lexicon"] / 2000 < 0.3
    only = mixer({"corpus": 1.0, "lexicon": 0})
    assert {only.next(s)[0] for s in range(100)} == {"corpus"}


def test_every_item_is_seen_once_per_epoch():
    m = mixer({"corpus": 1.0})
    seen = []
    while m.cursors["corpus"][0] == 0:
        name, b = m.next(len(seen))
        seen.extend(b["idx"])
        if m.cursors["corpus"][1] == len(m._batches("corpus", 0)):
            break
    assert sorted(seen) == list(range(50))


def test_resumed_mixer_replays_the_same_batches():
    a = mixer({"corpus": 2, "lexicon": 1})
    ref = [a.next(s) for s in range(300)]
    b = mixer({"corpus": 2, "lexicon": 1})
    for s in range(120):
        b.next(s)
    c = mixer({"corpus": 2, "lexicon": 1})
    c.load_state_dict(b.state_dict())
    assert [c.next(s) for s in range(120, 300)] == ref[120:]
    other = mixer({"corpus": 2, "lexicon": 1}, seed=4)
    assert [other.next(s) for s in range(300)] != ref
