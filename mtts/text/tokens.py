"""Token tables: `<symbol> <id>` per line, 0 = `<pad>` (also the CTC blank), 1 = `<unk>`.

Phoneme tokens are the characters of espeak's IPA output (stress and length marks
included); the space between words is the symbol `<space>`.
"""

from __future__ import annotations

from pathlib import Path

from mtts.errors import MttsError
from mtts.io import write_lines

PAD, UNK, SPACE = "<pad>", "<unk>", "<space>"
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

    @classmethod
    def build(cls, texts: list[str], base: set[str] = frozenset()) -> "TokenTable":
        chars = sorted({SPACE if c == " " else c for t in texts for c in t} | set(base) | {SPACE})
        return cls([PAD, UNK] + [c for c in chars if c not in (PAD, UNK)])

    def __len__(self) -> int:
        return len(self.symbols)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(SPACE if c == " " else c, 1) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(" " if self.symbols[i] == SPACE else self.symbols[i] for i in ids if i > 1)

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
