"""Token tables: `<symbol> <id>` per line, 0 = `<pad>` (also the CTC blank), 1 = `<unk>`.

Phoneme tokens are the characters of espeak's IPA output (stress and length marks
included); the space between words is the symbol `<space>`. Phoneme tables written by
`mtts tokenize` also hold 2 = `<bos>` and 3 = `<eos>`, which wrap every utterance: the
alignment gives them the recording's leading and trailing silence, which otherwise
stretches the first and last phoneme (tables without them, from older runs, still work).
"""

from __future__ import annotations

from pathlib import Path

from mtts.errors import MttsError
from mtts.io import write_lines

PAD, UNK, SPACE = "<pad>", "<unk>", "<space>"
BOS, EOS = "<bos>", "<eos>"
# espeak-ng en-us IPA output and punctuation, always in the table so that a small
# corpus does not map held-out phonemes to <unk>
BASE_CHARS = set("abcdefghijklmnopqrstuvwxyz',.;:!?\"()-")  # lower-cased normalised text
BASE_SYMBOLS = set("abcdefhijklmnopqrstuvwxyzæçðøŋœɐɑɒɔəɚɛɜɝɞɟɡɪɫɬɯɹɾʃʊʌʍʒʔʲˈˌːᵻθχɨʉɵɲɭɳɻ"
                   ",.;:!?\"'()-")


class TokenTable:
    def __init__(self, symbols: list[str]):
        if symbols[:2] != [PAD, UNK]:
            raise MttsError("token table must start with <pad> and <unk>")
        self.symbols = symbols
        self.index = {s: i for i, s in enumerate(symbols)}
        self.boundaries = symbols[2:4] == [BOS, EOS]
        self.n_special = 4 if self.boundaries else 2   # ids below this are never spoken symbols

    @classmethod
    def build(cls, texts: list[str], base: set[str] = frozenset(), boundaries: bool = False) -> "TokenTable":
        special = [PAD, UNK] + ([BOS, EOS] if boundaries else [])
        chars = sorted({SPACE if c == " " else c for t in texts for c in t} | set(base) | {SPACE})
        return cls(special + [c for c in chars if c not in special])

    def __len__(self) -> int:
        return len(self.symbols)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(SPACE if c == " " else c, 1) for c in text]

    def wrap(self, ids: list[int]) -> list[int]:
        """One utterance's symbol ids as the model reads them: between <bos> and <eos> when
        the table has them."""
        return [2, *ids, 3] if self.boundaries else list(ids)

    def encode_utterance(self, text: str) -> list[int]:
        return self.wrap(self.encode(text))

    def decode(self, ids: list[int]) -> str:
        return "".join(" " if self.symbols[i] == SPACE else self.symbols[i] for i in ids if i >= self.n_special)

    def save(self, path: Path) -> None:
        write_lines(path, [f"{s} {i}" for i, s in enumerate(self.symbols)])

    @classmethod
    def load(cls, path: Path) -> "TokenTable":
        if not path.is_file():
            raise MttsError(f"{path} does not exist: run `mtts tokenize` first")
        symbols = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            sym, _, idx = line.rpartition(" ")
            if not sym or not idx.isdigit() or int(idx) != len(symbols):
                raise MttsError(f"{path}:{n}: expected '<symbol> {len(symbols)}'")
            symbols.append(sym)
        return cls(symbols)
