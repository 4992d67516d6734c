from mtts.data.corpora import split_ids
from mtts.data.dataset import frame_batches


def test_frame_batches_cover_every_item_once_within_the_budget():
    lengths = [50, 300, 120, 80, 400, 90, 60, 200, 150, 30]
    batches = frame_batches(lengths, 600, seed=1, epoch=0)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for b in batches:
        assert max(lengths[i] for i in b) * len(b) <= 600 or len(b) == 1


def test_frame_batches_are_deterministic_per_epoch_and_differ_between_epochs():
    lengths = list(range(10, 400, 7))
    assert frame_batches(lengths, 1000, 3, 0) == frame_batches(lengths, 1000, 3, 0)
    assert frame_batches(lengths, 1000, 3, 0) != frame_batches(lengths, 1000, 3, 1)


def test_split_is_deterministic_and_disjoint():
    ids = [f"U{i:03d}" for i in range(40)]
    s = split_ids(ids, 3, 4)
    assert s == split_ids(list(reversed(ids)), 3, 4)
    assert len(s["dev"]) == 3 and len(s["test"]) == 4 and len(s["train"]) == 33
    assert not set(s["dev"]) & set(s["test"]) and not set(s["train"]) & set(s["dev"])
