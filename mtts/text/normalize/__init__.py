"""Built-in English text normaliser: written forms -> the words a person would say.

`normalize(text)` reads numbers, dates, times, money, measures, fractions, ranges,
telephone numbers, URLs and e-mail addresses, roman numerals, initialisms, abbreviations
and symbols; `explain(text)` also returns which rule read which span. Each class is one
module here; `RULES` is the order in which they claim spans (core.py), the more specific
first: a date or a phone number before the numbers in it. The spoken style is that of
Google's text-normalisation data: no "and" or hyphens in numbers ("one hundred twenty
three"), "five dollars fifty cents", "nineteen ninety nine". Ordinary words keep their case
and the sentence its punctuation; readings are in lower case.

The optional NeMo normaliser (`pip install mtts[tn]`) is `get_normalizer("nemo")`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mtts.errors import MttsError
from mtts.text.normalize import (
    abbreviations,
    cardinal,
    dates,
    electronic,
    letters,
    measures,
    money,
    roman,
    symbols,
    telephone,
    times,
)
from mtts.text.normalize.core import Rule, Span, run

RULES: tuple[Rule, ...] = (
    electronic.EMAIL, electronic.URL,
    telephone.TELEPHONE, telephone.DIALLED, money.SHILLINGS,
    dates.NUMERIC, dates.MDY, dates.DMY, dates.MONTH_YEAR, dates.MONTH_DAY, dates.DECADE, dates.SHORT_YEAR,
    dates.DAY_RANGE, dates.SEASON,
    times.CLOCK, times.MILITARY, times.DOTTED, times.HOUR,
    money.BEFORE, money.AFTER, money.PENCE,
    measures.FEET_INCHES, measures.INCHES, measures.BARE_DEGREES, measures.MEASURE, measures.PER, measures.RATIO,
    measures.PER_WORD,
    cardinal.DOTTED, cardinal.OUT_OF, cardinal.FRACTION, cardinal.ORDINAL, cardinal.PLURAL, cardinal.RATIO,
    cardinal.TIMES,
    cardinal.SCALED, cardinal.CARDINAL, cardinal.AFTER_LETTER,
    cardinal.DIGITS,
    roman.ROMAN, abbreviations.ABBREVIATION, letters.DOTTED, letters.CAPS,
    symbols.SYMBOL,
)


def normalize(text: str) -> str:
    """Return speakable text. Keeps sentence punctuation (it shapes prosody)."""
    return run(text, RULES)[0]


def explain(text: str) -> tuple[str, list[Span]]:
    """The normalised text and the spans read on the way: offsets into the cleaned text,
    the written span, its class and its reading."""
    return run(text, RULES)


def read_input(text: str | None, text_file: Path | None) -> list[str]:
    """The lines `mtts normalize` reads: the text given, a UTF-8 file, or standard input
    ('-' or nothing)."""
    if text is not None and text_file is not None:
        raise MttsError("give the text or --text-file, not both")
    if text_file is not None:
        if not text_file.is_file():
            raise MttsError(f"{text_file} does not exist")
        try:
            return text_file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as e:
            raise MttsError(f"{text_file} is not UTF-8 text (byte {e.start})") from None
    if text is not None and text != "-":
        return [text]
    if sys.stdin is None or sys.stdin.isatty():
        raise MttsError("no text given: pass it as an argument, with --text-file, or on standard input")
    try:
        return sys.stdin.read().splitlines()
    except UnicodeDecodeError:
        raise MttsError("standard input is not UTF-8 text") from None


NORMALIZERS = ("builtin", "nemo")
_nemo = None


def nemo_normalize(text: str) -> str:
    """NVIDIA's WFST normaliser (nemo-text-processing, `pip install mtts[tn]`). Its grammars
    compile for about a minute on first use and are cached in ~/.cache/mtts/nemo_tn."""
    global _nemo
    if _nemo is None:
        try:
            from nemo_text_processing.text_normalization.normalize import Normalizer
        except ImportError:
            raise MttsError("the nemo normaliser is not installed: pip install 'mtts[tn]'") from None
        cache = Path.home() / ".cache" / "mtts" / "nemo_tn"
        cache.mkdir(parents=True, exist_ok=True)
        _nemo = Normalizer(input_case="cased", lang="en", cache_dir=str(cache))
    return " ".join(_nemo.normalize(text, punct_post_process=True).split())


def get_normalizer(name: str):
    """The normaliser called `name`: 'builtin' (default) or 'nemo'."""
    if name not in NORMALIZERS:
        raise MttsError(f"unknown normalizer '{name}' (choose from {', '.join(NORMALIZERS)})")
    return normalize if name == "builtin" else nemo_normalize
