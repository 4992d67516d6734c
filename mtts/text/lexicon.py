"""A user lexicon: `word<TAB>pronunciation` lines that override espeak for those words.

A pronunciation is IPA as espeak writes it (a plain string such as `zˈɔːɹblæks`, or its
phonemes separated by spaces, `z ˈɔː ɹ b l æ k s`), or ARPAbet (`Z AO1 R B L AE0 K S`):
tokens that are all upper case with an optional stress digit, converted to espeak's en-us
symbols with the stress mark before the vowel. Either way it becomes one phoneme word, so a
word of the text stays one word of phonemes. Words are matched case-insensitively on the
normalised text, with punctuation around them kept as espeak keeps it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mtts.errors import MttsError

# ARPAbet (CMUdict) -> espeak-ng en-us IPA, as phonemizer writes it
ARPABET = {
    "AA": "ɑː", "AE": "æ", "AH": "ʌ", "AO": "ɔː", "AW": "aʊ", "AY": "aɪ", "EH": "ɛ", "ER": "ɜː",
    "EY": "eɪ", "IH": "ɪ", "IY": "iː", "OW": "oʊ", "OY": "ɔɪ", "UH": "ʊ", "UW": "uː",
    "B": "b", "CH": "tʃ", "D": "d", "DH": "ð", "F": "f", "G": "ɡ", "HH": "h", "JH": "dʒ", "K": "k",
    "L": "l", "M": "m", "N": "n", "NG": "ŋ", "P": "p", "R": "ɹ", "S": "s", "SH": "ʃ", "T": "t",
    "TH": "θ", "V": "v", "W": "w", "Y": "j", "Z": "z", "ZH": "ʒ",
}
UNSTRESSED = {"AH": "ə", "ER": "ɚ"}   # espeak's reduced vowels
STRESS = {"1": "ˈ", "2": "ˌ"}
ARPABET_TOKEN = re.compile(r"[A-Z]+[0-2]?")


def arpabet_to_ipa(tokens: list[str]) -> str:
    """`K AE1 T` -> `kˈæt`; a KeyError names the first unknown symbol."""
    out = []
    for tok in tokens:
        base, digit = (tok[:-1], tok[-1]) if tok[-1].isdigit() else (tok, "")
        if base not in ARPABET:
            raise KeyError(tok)
        ipa = UNSTRESSED[base] if digit == "0" and base in UNSTRESSED else ARPABET[base]
        out.append(STRESS.get(digit, "") + ipa)
    return "".join(out)


def parse_pronunciation(pron: str) -> str:
    """One lexicon pronunciation (IPA or ARPAbet) -> IPA as one phoneme word."""
    tokens = pron.split()
    if tokens and all(ARPABET_TOKEN.fullmatch(t) for t in tokens):
        return arpabet_to_ipa(tokens)
    return "".join(tokens)


def normalise_word(word: str) -> str:
    return word.strip().lower()


def read_lexicon(path: Path) -> dict[str, str]:
    """The lexicon file -> {lower-cased word: IPA}; later lines override earlier ones. Lines
    that are blank or start with `#` are skipped."""
    return {w: p for w, (p, _) in read_lexicon_lines(path).items()}


def read_lexicon_lines(path: Path) -> dict[str, tuple[str, int]]:
    """As read_lexicon, with each entry's line number: {word: (IPA, line)}."""
    if not path.is_file():
        raise MttsError(f"lexicon {path} does not exist")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise MttsError(f"lexicon {path} is not UTF-8 text") from None
    entries = {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word, sep, pron = line.partition("\t")
        word = normalise_word(word)
        if not sep:
            raise MttsError(f"{path}:{n}: expected 'word<TAB>pronunciation' (no tab)")
        if not word or len(word.split()) != 1:
            raise MttsError(f"{path}:{n}: expected one word before the tab, got {word!r}")
        if not pron.strip():
            raise MttsError(f"{path}:{n}: empty pronunciation for {word!r}")
        try:
            ipa = parse_pronunciation(pron)
        except KeyError as e:
            raise MttsError(f"{path}:{n}: unknown ARPAbet symbol {e.args[0]!r} for {word!r}") from None
        entries[word] = (ipa, n)
    return entries


def check_symbols(entries: dict[str, tuple[str, int]], symbols, where: Path | str) -> None:
    """Every phoneme of the lexicon must be in the model's token table (`symbols`)."""
    known = set(symbols)
    for word, (ipa, n) in entries.items():
        for c in ipa:
            if c not in known:
                raise MttsError(f"{where}:{n}: phoneme {c!r} of {word!r} is not in the model's token table")


_EDGE = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)


def split_word(token: str) -> tuple[str, str, str]:
    """`"zorblax,"` -> (`"`, `zorblax`, `,`): leading punctuation, the word, trailing punctuation."""
    m = _EDGE.match(token)
    return m.group(1), m.group(2), m.group(3)
