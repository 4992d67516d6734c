"""Spoken forms of numbers: cardinals, ordinals, years, digit strings, decimals, fractions,
roman numerals. Spelling comes from num2words; this module only shapes it to the spoken
style (no "and", no hyphens, "o" for a zero read as a digit) and caches it."""

from __future__ import annotations

import re
from functools import lru_cache

from num2words import num2words

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# integers with or without thousands separators, and decimals (".5" included)
INT = r"[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+"
NUM = rf"(?:{INT})(?:\.[0-9]+)?|\.[0-9]+"
SCALES = ("thousand", "million", "billion", "trillion")
MAX_DIGITS = 33  # num2words names numbers below 10**36; longer ones are read digit by digit

_AND = re.compile(r"\band ")
_ROMAN = re.compile(r"M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def _spoken(words: str) -> str:
    return _AND.sub("", words.replace(",", "").replace("-", " "))


@lru_cache(maxsize=8192)
def cardinal(n: int) -> str:
    """123 -> "one hundred twenty three"; negatives are "minus ..."."""
    if n < 0:
        return "minus " + cardinal(-n)
    if len(str(n)) > MAX_DIGITS:
        return digits(str(n))
    return _spoken(num2words(n))


@lru_cache(maxsize=4096)
def ordinal(n: int) -> str:
    if len(str(n)) > MAX_DIGITS:
        return digits(str(n))
    return _spoken(num2words(n, to="ordinal"))


@lru_cache(maxsize=4096)
def year(n: int) -> str:
    """Years as they are said: 1999 "nineteen ninety nine", 1905 "nineteen o five",
    1900 "nineteen hundred", 2008 "two thousand eight", 2012 "twenty twelve"."""
    if n < 1000 or n >= 10000 or n % 1000 == 0 or 2000 < n < 2010:
        return cardinal(n)
    return _spoken(num2words(n, to="year")).replace("oh ", "o ")


def digits(s: str) -> str:
    """A code read digit by digit: "007" -> "o o seven" (zero is "o", as in phone numbers)."""
    return " ".join("o" if c == "0" else DIGITS[int(c)] for c in s if c.isdigit())


def decimal_digits(s: str) -> str:
    """Digits after a decimal point: "05" -> "zero five"."""
    return " ".join(DIGITS[int(c)] for c in s)


def number(s: str) -> str:
    """A written number as a cardinal or decimal: "1,234", "3.14", ".5", "007" (a code:
    leading zeros are read as digits)."""
    whole, _, frac = s.replace(",", "").partition(".")
    if frac or s.startswith("."):
        head = cardinal(int(whole)) + " " if whole else ""
        return f"{head}point {decimal_digits(frac)}"
    if len(whole) > 1 and whole[0] == "0":
        return digits(whole)
    return cardinal(int(whole))


_ROUND = frozenset(f"one {w}" for w in ("hundred",) + SCALES)


def is_one(s: str) -> bool:
    """Whether a written amount takes the singular ("1 kilogram", not "1.0" or "01")."""
    return s.replace(",", "") == "1"


def plural(words: str) -> str:
    """The plural of a spelled number: "ninety" -> "nineties", "six" -> "sixes",
    "one thousand" -> "thousands" ("1,000s of people")."""
    if words in _ROUND:
        words = words[4:]
    if words.endswith("y"):
        return words[:-1] + "ies"
    if words.endswith(("x", "s")):
        return words + "es"
    return words + "s"


# denominators read as ordinals ("five eighths", "seven hundredths"); larger ones are "X over Y"
_NAMED_DENOMINATORS = set(range(2, 101)) | {1000}


def fraction(num: int, den: int, mixed: bool = False) -> str:
    """3/4 -> "three quarters"; 1/2 -> "one half" ("a half" in a mixed number);
    large numbers: 123/456 -> "one hundred twenty three over four hundred fifty six"."""
    if den not in _NAMED_DENOMINATORS or num == 0 or num >= 100:
        return f"{cardinal(num)} over {cardinal(den)}"
    name = "half" if den == 2 else "quarter" if den == 4 else ordinal(den).removeprefix("one ")
    if num == 1:
        return ("a " if mixed else "one ") + name
    return f"{cardinal(num)} {'halves' if den == 2 else name + 's'}"


def roman(s: str) -> int | None:
    """The value of a roman numeral (I to MMMCMXCIX), None if it is not one."""
    s = s.upper()
    if not s or not _ROMAN.fullmatch(s):
        return None
    total = 0
    for a, b in zip(s, s[1:] + " "):
        v = _ROMAN_VALUES[a]
        total += -v if b != " " and _ROMAN_VALUES[b] > v else v
    return total
